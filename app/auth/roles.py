"""Roles as plain classes: who they are, in words, and what they may do."""

from __future__ import annotations

from enum import StrEnum

from app.i18n import lazy_gettext


class Permission(StrEnum):
    MANAGE_OWN_ESTABLISHMENTS = "manage_own_establishments"
    SIGN_CODE = "sign_code"
    VIEW_REGION_ESTABLISHMENTS = "view_region_establishments"
    VIEW_ALL_ESTABLISHMENTS = "view_all_establishments"
    MANAGE_STAFF = "manage_staff"
    MANAGE_PERIODS = "manage_periods"
    REVIEW_REPORTS = "review_reports"
    MANAGE_SIGNATURES = "manage_signatures"
    READ_AUDIT = "read_audit"
    IMPORT_SIGNATORIES = "import_signatories"
    DECIDE_CLAIMS = "decide_claims"


class Role:
    code: str
    name: object
    description: object
    permissions: frozenset[Permission] = frozenset()


class Operator(Role):
    code = "operator"
    name = lazy_gettext("Operator")
    description = lazy_gettext(
        "Owner or manager of one establishment or of a chain: registers establishments, "
        "signs the Code and files their reports."
    )
    permissions = frozenset({Permission.MANAGE_OWN_ESTABLISHMENTS, Permission.SIGN_CODE})


class Reviewer(Role):
    code = "reviewer"
    name = lazy_gettext("Regional reviewer")
    description = lazy_gettext(
        "Staff of a regional tourism directorate: reviews the establishments of their region(s)."
    )
    permissions = frozenset(
        {
            Permission.VIEW_REGION_ESTABLISHMENTS,
            Permission.REVIEW_REPORTS,
            Permission.MANAGE_SIGNATURES,
            Permission.READ_AUDIT,
            Permission.DECIDE_CLAIMS,
        }
    )


class NationalReviewer(Role):
    code = "national_reviewer"
    name = lazy_gettext("National reviewer")
    description = lazy_gettext("Ministry staff: reviews the establishments of every region.")
    permissions = frozenset(
        {
            Permission.VIEW_ALL_ESTABLISHMENTS,
            Permission.REVIEW_REPORTS,
            Permission.MANAGE_SIGNATURES,
            Permission.READ_AUDIT,
            Permission.DECIDE_CLAIMS,
        }
    )


class Admin(Role):
    code = "admin"
    name = lazy_gettext("Administrator")
    description = lazy_gettext(
        "Portal administrator: manages staff accounts, reporting periods and versions of the Code text."
    )
    permissions = frozenset(
        {
            Permission.VIEW_ALL_ESTABLISHMENTS,
            Permission.MANAGE_STAFF,
            Permission.MANAGE_PERIODS,
            Permission.READ_AUDIT,
            Permission.IMPORT_SIGNATORIES,
        }
    )


ROLES: dict[str, type[Role]] = {r.code: r for r in (Operator, Reviewer, NationalReviewer, Admin)}


def role_of(code: str) -> type[Role]:
    return ROLES[code]


def has_permission(role_code: str, permission: Permission) -> bool:
    return permission in ROLES[role_code].permissions
