"""The one place that says where an establishment stands with the Code.

Computed from the data (signatures now; reports and decisions as they arrive), never typed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlmodel import Session

from app.conduct.models import Signature
from app.i18n import lazy_gettext


class Standing(StrEnum):
    NOT_SIGNED = "not_signed"
    GOOD = "good_standing"
    PENDING_REVIEW = "pending_review"
    OVERDUE = "overdue"
    NON_COMPLIANT = "non_compliant"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return str(_LABELS[self])

    @property
    def tag(self) -> str:
        """The CSS modifier of the status tag (the word is always shown too)."""
        return _TAGS[self]


_LABELS = {
    Standing.NOT_SIGNED: lazy_gettext("Not signed"),
    Standing.GOOD: lazy_gettext("Good standing"),
    Standing.PENDING_REVIEW: lazy_gettext("Pending review"),
    Standing.OVERDUE: lazy_gettext("Overdue"),
    Standing.NON_COMPLIANT: lazy_gettext("Non-compliant"),
    Standing.SUSPENDED: lazy_gettext("Suspended"),
    Standing.REVOKED: lazy_gettext("Revoked"),
    Standing.WITHDRAWN: lazy_gettext("Withdrawn"),
}
_TAGS = {
    Standing.NOT_SIGNED: "neutral",
    Standing.GOOD: "good",
    Standing.PENDING_REVIEW: "pending",
    Standing.OVERDUE: "overdue",
    Standing.NON_COMPLIANT: "noncompliant",
    Standing.SUSPENDED: "suspended",
    Standing.REVOKED: "revoked",
    Standing.WITHDRAWN: "neutral",
}


def standing_from(signature: Signature | None) -> Standing:
    """Where an establishment stands given its latest signature.

    No reporting period has fallen due yet in this version of the portal, so a signature in
    force means good standing.
    """
    if signature is None:
        return Standing.NOT_SIGNED
    return {
        "active": Standing.GOOD,
        "suspended": Standing.SUSPENDED,
        "revoked": Standing.REVOKED,
        "withdrawn": Standing.WITHDRAWN,
    }[signature.status]


def latest_signatures(
    db_session: Session, establishment_ids: Iterable[int]
) -> dict[int, Signature]:
    """The most recent signature of each establishment (one query)."""
    ids = list(establishment_ids)
    latest: dict[int, Signature] = {}
    if not ids:
        return latest
    rows = db_session.scalars(
        select(Signature)
        .where(Signature.establishment_id.in_(ids))  # type: ignore[attr-defined]
        .order_by(Signature.establishment_id, Signature.signed_at, Signature.id)
    )
    for signature in rows:
        latest[signature.establishment_id] = signature
    return latest


def standings(db_session: Session, establishment_ids: Iterable[int]) -> dict[int, Standing]:
    ids = list(establishment_ids)
    latest = latest_signatures(db_session, ids)
    return {i: standing_from(latest.get(i)) for i in ids}
