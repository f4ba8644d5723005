"""Administrators' pages for accounts: the list, adding a staff member, changing one, disabling."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationInfo, field_validator
from starlette.datastructures import FormData

from app.auth import service
from app.auth.dependencies import require
from app.auth.forms import _email
from app.auth.models import ROLE_CODES, User
from app.auth.passwords import password_problem
from app.auth.roles import Permission, role_of
from app.db import DbSession
from app.errors import DomainError, NotFound
from app.i18n import _
from app.jurisdiction import current_scheme
from app.web import (
    FormModel,
    FormState,
    PostedForm,
    RecordId,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
    validate_form,
)

router = APIRouter()
Admin = Annotated[User, Depends(require(Permission.MANAGE_STAFF))]
PER_PAGE = 50


# --- forms -------------------------------------------------------------------------------------


def _posted_with_regions_joined(posted: FormData) -> FormData:
    """The region checkboxes arrive as one value each; the form reads them as one field, comma-separated."""
    others = [(k, v) for k, v in posted.multi_items() if k != "regions"]
    regions = [v for v in posted.getlist("regions") if isinstance(v, str)]
    return FormData([*others, ("regions", ",".join(regions))])


class StaffRoleForm(FormModel):
    """A staff member's role, and the regions a regional reviewer works for."""

    role: str = ""
    regions: tuple[str, ...] = ()

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in service.STAFF_ROLES:
            raise ValueError(_("Choose the role of the staff member"))
        return value

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, value: object, info: ValidationInfo) -> tuple[str, ...]:
        codes = tuple(c.strip() for c in str(value or "").split(",") if c.strip())
        scheme = current_scheme()
        if any(scheme.region(code) is None for code in codes):
            raise ValueError(_("Choose the regions from the list"))
        role = info.data.get("role")
        if role == "reviewer" and not codes:
            raise ValueError(_("A regional reviewer needs at least one region"))
        # Only a regional reviewer's regions mean anything; boxes left ticked for another role are dropped.
        return codes if role == "reviewer" else ()


class _NewAccountFields(FormModel):
    secret_fields: ClassVar[frozenset[str]] = frozenset({"password"})

    email: str = ""
    password: str = ""

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Enter the e-mail address of the staff member"))
        return _email(value)

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str, info: ValidationInfo) -> str:
        problem = password_problem(value, info.data.get("email") or "")
        if problem:
            raise ValueError(problem)
        return value


class NewStaffForm(StaffRoleForm, _NewAccountFields):
    """A new staff account. (_NewAccountFields last, so e-mail and password come first, as on the page.)"""


# --- pages -------------------------------------------------------------------------------------


def _role_options(codes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(code, str(role_of(code).name)) for code in codes]


@router.get("/admin/users")
def users_page(
    request: Request,
    db: DbSession,
    user: Admin,
    role: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    role = role if role in ROLE_CODES else ""
    accounts, total = service.list_accounts(db_session=db, role=role, page=page, per_page=PER_PAGE)
    regions = service.regions_by_user(db_session=db, user_ids=[a.id for a in accounts])  # type: ignore[misc]
    return render(
        request,
        "admin/users.html",
        {
            "filters": form_state({"role": role}),
            "roles": _role_options(ROLE_CODES),
            "rows": [
                {
                    "account": a,
                    "role_name": str(role_of(a.role).name),
                    "regions": regions.get(a.id, []),  # type: ignore[arg-type]
                    "is_staff": a.role in service.STAFF_ROLES,
                    "is_self": a.id == user.id,
                }
                for a in accounts
            ],
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / PER_PAGE)),
        },
    )


def _form_context(form: FormState, account: User | None = None) -> dict[str, object]:
    return {
        "form": form,
        "account": account,
        "roles": _role_options(service.STAFF_ROLES),
        "role_descriptions": [
            (str(role_of(code).name), str(role_of(code).description))
            for code in service.STAFF_ROLES
        ],
        "regions": current_scheme().regions,
        "chosen_regions": [c for c in form.value("regions").split(",") if c],
    }


@router.get("/admin/users/new")
def new_user_page(request: Request, user: Admin) -> HTMLResponse:
    return render(request, "admin/user_form.html", _form_context(form_state({"role": "reviewer"})))


@router.post("/admin/users/new")
def new_user(request: Request, posted: PostedForm, db: DbSession, user: Admin) -> Response:
    data, form = validate_form(request, NewStaffForm, _posted_with_regions_joined(posted))
    if data is not None:
        try:
            account = service.create_staff(
                db_session=db,
                actor=user,
                email=data.email,
                password=data.password,
                role=data.role,
                regions=data.regions,
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                "/admin/users",
                flash=_(
                    "The account of %(email)s has been created. Give them the temporary password "
                    "in a safe way, not by e-mail.",
                    email=account.email,
                ),
            )
    return render(request, "admin/user_form.html", _form_context(form), status_code=400)


def _staff_account(db: DbSession, user_id: int) -> User:
    """A staff account to change; operators' accounts have no role or regions to change here."""
    account = service.get_user(db_session=db, user_id=user_id)
    if account.role not in service.STAFF_ROLES:
        raise NotFound()
    return account


@router.get("/admin/users/{user_id}/edit")
def edit_user_page(request: Request, user_id: RecordId, db: DbSession, user: Admin) -> HTMLResponse:
    account = _staff_account(db, user_id)
    regions = service.user_regions(db_session=db, user=account)
    form = form_state({"role": account.role, "regions": ",".join(regions)})
    return render(request, "admin/user_form.html", _form_context(form, account))


@router.post("/admin/users/{user_id}/edit")
def edit_user(
    request: Request, user_id: RecordId, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    account = _staff_account(db, user_id)
    data, form = validate_form(request, StaffRoleForm, _posted_with_regions_joined(posted))
    if data is not None:
        try:
            service.update_staff(
                db_session=db, actor=user, user=account, role=data.role, regions=data.regions
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                "/admin/users",
                flash=_("The account of %(email)s has been saved.", email=account.email),
            )
    return render(request, "admin/user_form.html", _form_context(form, account), status_code=400)


def _set_active(
    request: Request, user_id: int, posted: PostedForm, db: DbSession, user: User, active: bool
) -> Response:
    account = service.get_user(db_session=db, user_id=user_id)
    if not check_csrf(request, posted):
        return redirect(request, "/admin/users", flash=csrf_error_message(), kind="error")
    try:
        service.set_active(db_session=db, actor=user, user=account, active=active)
    except DomainError as exc:
        return redirect(request, "/admin/users", flash=exc.message, kind="error")
    if active:
        message = _(
            "The account of %(email)s has been enabled: they can sign in again.",
            email=account.email,
        )
    else:
        message = _(
            "The account of %(email)s has been disabled: they have been signed out and cannot "
            "sign in.",
            email=account.email,
        )
    return redirect(request, "/admin/users", flash=message)


@router.post("/admin/users/{user_id}/disable")
def disable_user(
    request: Request, user_id: RecordId, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    return _set_active(request, user_id, posted, db, user, active=False)


@router.post("/admin/users/{user_id}/enable")
def enable_user(
    request: Request, user_id: RecordId, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    return _set_active(request, user_id, posted, db, user, active=True)
