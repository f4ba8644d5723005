"""Claiming an establishment that has no operator (a signatory brought in from the ministry's
records): by a link sent to the e-mail on file, or by a reviewer of its region.

Once claimed it is like any other: the claimer is its operator and files for it. Until then
nobody can, because nobody manages it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.audit import service as audit
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.claims.models import EstablishmentClaim
from app.config import Settings
from app.db import utcnow
from app.errors import DomainError, NotFound
from app.establishments import service as establishments
from app.establishments.models import Establishment, EstablishmentOperator
from app.i18n import _
from app.mail import queue_mail

EXPLANATION_MAX = 1000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def masked_email(address: str | None) -> str:
    """Enough of the address on file for its owner to recognise it, not enough to learn it."""
    if not address or "@" not in address:
        return ""
    local, _at, domain = address.partition("@")
    name, _dot, tld = domain.rpartition(".")
    return f"{local[:1]}•••@{name[:1]}•••.{tld}" if name else f"{local[:1]}•••@{domain}"


def has_operator(*, db_session: Session, establishment_id: int) -> bool:
    return bool(
        db_session.scalar(
            select(exists().where(EstablishmentOperator.establishment_id == establishment_id))
        )
    )


def _check_claimer(user: User) -> None:
    if not has_permission(user.role, Permission.MANAGE_OWN_ESTABLISHMENTS):
        raise DomainError(_("Only operator accounts can claim an establishment"))
    if user.email_confirmed_at is None or not user.is_active:
        raise DomainError(_("Confirm your e-mail address before claiming an establishment"))


def _pending(db_session: Session, user: User, establishment_id: int) -> EstablishmentClaim | None:
    return db_session.scalars(
        select(EstablishmentClaim).where(
            EstablishmentClaim.establishment_id == establishment_id,
            EstablishmentClaim.user_id == user.id,
            EstablishmentClaim.state == "pending",
        )
    ).first()


def find_claimable(*, db_session: Session, user: User, ruc: str, branch_code: str) -> Establishment:
    """The establishment with this RUC and branch code, if this person may claim it now."""
    _check_claimer(user)
    establishment = establishments.find_by_ruc_branch(
        db_session=db_session, ruc=ruc, branch_code=branch_code
    )
    if establishment is None:
        raise DomainError(
            _(
                "No establishment with this RUC and branch code is in the register. Check both "
                "numbers; if it has never signed the Code, add it as a new establishment."
            ),
            "ruc",
        )
    if establishments.manages(db_session=db_session, user=user, establishment=establishment):
        raise DomainError(_("You already manage this establishment."), "ruc")
    if has_operator(db_session=db_session, establishment_id=establishment.id):  # type: ignore[arg-type]
        raise DomainError(
            _(
                "This establishment is already managed by another account, so it cannot be "
                "claimed here. If it is yours, contact the regional tourism directorate."
            ),
            "ruc",
        )
    pending = _pending(db_session, user, establishment.id)  # type: ignore[arg-type]
    if pending is not None:
        if pending.method == "email" and pending.expires_at and pending.expires_at < utcnow():
            _close(pending, "cancelled")  # the link expired: a new request may be made
            db_session.flush()
        else:
            raise DomainError(
                _(
                    "You have already asked to claim this establishment. Open the link we sent "
                    "to the e-mail on file, or wait for the regional directorate's answer."
                ),
                "ruc",
            )
    return establishment


def _close(claim: EstablishmentClaim, state: str, by: User | None = None, reason: str = "") -> None:
    claim.state = state
    claim.decided_at = utcnow()
    claim.decided_by_id = by.id if by else None
    claim.decision_reason = reason or None


def _add(db_session: Session, claim: EstablishmentClaim) -> None:
    try:
        with db_session.begin_nested():
            db_session.add(claim)
            db_session.flush()
    except IntegrityError:
        # The same request twice at once (a double click): the database let one through.
        raise DomainError(_("You have already asked to claim this establishment."), "ruc") from None


def request_by_email(
    *, db_session: Session, settings: Settings, user: User, establishment: Establishment
) -> EstablishmentClaim:
    """Send a link to the e-mail on file; whoever opens it signed in as `user` takes the establishment."""
    if not establishment.contact_email:
        raise DomainError(
            _("There is no e-mail on file for this establishment: ask the regional directorate.")
        )
    token = secrets.token_urlsafe(32)
    claim = EstablishmentClaim(
        establishment_id=establishment.id,  # type: ignore[arg-type]
        user_id=user.id,  # type: ignore[arg-type]
        method="email",
        token_hash=_digest(token),
        sent_to=establishment.contact_email,
        expires_at=utcnow() + timedelta(hours=settings.confirm_token_hours),
    )
    _add(db_session, claim)
    queue_mail(
        db_session=db_session,
        to=establishment.contact_email,
        template="claim_link",
        locale=user.locale,
        context={
            "establishment": establishment,
            "claimer": user.email,
            "link": f"{settings.base_url}/establishments/claim/confirm/{token}",
            "hours": settings.confirm_token_hours,
        },
    )
    return claim


def request_review(
    *, db_session: Session, user: User, establishment: Establishment, explanation: str
) -> EstablishmentClaim:
    """Ask a reviewer of the establishment's region to confirm that it is the claimer's."""
    explanation = explanation.strip()
    if not explanation:
        raise DomainError(
            _("Say who you are and how you are linked to the establishment"), "explanation"
        )
    if len(explanation) > EXPLANATION_MAX:
        raise DomainError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=EXPLANATION_MAX,
                count=len(explanation),
            ),
            "explanation",
        )
    claim = EstablishmentClaim(
        establishment_id=establishment.id,  # type: ignore[arg-type]
        user_id=user.id,  # type: ignore[arg-type]
        method="review",
        explanation=explanation,
    )
    _add(db_session, claim)
    return claim


def _make_operator(
    db_session: Session, claim: EstablishmentClaim, establishment: Establishment, by: User | None
) -> None:
    if has_operator(db_session=db_session, establishment_id=establishment.id):  # type: ignore[arg-type]
        raise DomainError(
            _(
                "This establishment is already managed by another account, so it cannot be "
                "claimed here. If it is yours, contact the regional tourism directorate."
            )
        )
    db_session.add(EstablishmentOperator(establishment_id=establishment.id, user_id=claim.user_id))  # type: ignore[arg-type]
    _close(claim, "approved", by)
    # Anyone else waiting to claim it is answered by this: it has its operator now.
    db_session.execute(
        update(EstablishmentClaim)
        .where(
            EstablishmentClaim.establishment_id == establishment.id,
            EstablishmentClaim.state == "pending",
            EstablishmentClaim.id != claim.id,
        )
        .values(state="cancelled", decided_at=utcnow())
    )
    db_session.flush()


@dataclass
class LinkCheck:
    claim: EstablishmentClaim
    establishment: Establishment


def check_link(*, db_session: Session, user: User, token: str) -> LinkCheck:
    """The claim a mailed link stands for, if `user` may complete it now."""
    claim = db_session.scalars(
        select(EstablishmentClaim).where(EstablishmentClaim.token_hash == _digest(token))
    ).first()
    if claim is None or claim.user_id != user.id:
        raise DomainError(
            _(
                "This link is not valid for this account. Sign in with the account that asked "
                "to claim the establishment, and check that you copied the whole link."
            )
        )
    if claim.state != "pending":
        raise DomainError(_("This link has already been used. Each link works only once."))
    if claim.expires_at is None or claim.expires_at < utcnow():
        raise DomainError(_("This link has expired. Ask for a new one."))
    establishment = db_session.get(Establishment, claim.establishment_id)
    assert establishment is not None
    return LinkCheck(claim, establishment)


def confirm_link(*, db_session: Session, user: User, token: str) -> Establishment:
    """Complete a claim by e-mail: the account becomes the establishment's operator."""
    checked = check_link(db_session=db_session, user=user, token=token)
    _make_operator(db_session, checked.claim, checked.establishment, None)
    audit.record(
        db_session=db_session,
        actor=user,
        action="establishment.claimed",
        object_type="establishment",
        object_id=checked.establishment.id,
        region=checked.establishment.region,
        summary=checked.establishment.trade_name,
        after={"operator": user.email, "method": "email", "sent_to": checked.claim.sent_to},
    )
    return checked.establishment


# --- reviewers ------


@dataclass
class PendingClaim:
    claim: EstablishmentClaim
    establishment: Establishment
    claimer: str


def pending_claims(*, db_session: Session, user: User) -> list[PendingClaim]:
    """Requests waiting for a reviewer, for the establishments of the reviewer's regions."""
    scoped = establishments.readable_statement(user).subquery()
    rows = db_session.execute(
        select(EstablishmentClaim, Establishment, User.email)
        .join(Establishment, Establishment.id == EstablishmentClaim.establishment_id)  # type: ignore[arg-type]
        .join(User, User.id == EstablishmentClaim.user_id)  # type: ignore[arg-type]
        .where(
            EstablishmentClaim.method == "review",
            EstablishmentClaim.state == "pending",
            Establishment.id.in_(select(scoped.c.id)),  # type: ignore[union-attr]
        )
        .order_by(EstablishmentClaim.created_at, EstablishmentClaim.id)
    ).all()
    return [PendingClaim(c, e, email) for c, e, email in rows]


def pending_claim(*, db_session: Session, reviewer: User, claim_id: int) -> PendingClaim:
    """A request this reviewer may decide, or NotFound (another region's, decided, or unknown)."""
    if not has_permission(reviewer.role, Permission.DECIDE_CLAIMS):
        raise DomainError(_("Only reviewers can decide on claims"))
    found = next(
        (p for p in pending_claims(db_session=db_session, user=reviewer) if p.claim.id == claim_id),
        None,
    )
    if found is None:
        raise NotFound()
    return found


def decide(
    *,
    db_session: Session,
    settings: Settings,
    reviewer: User,
    claim_id: int,
    approve: bool,
    reason: str = "",
) -> PendingClaim:
    """Approve (the claimer becomes the operator) or refuse a request; the claimer is told by mail."""
    found = pending_claim(db_session=db_session, reviewer=reviewer, claim_id=claim_id)
    reason = reason.strip()
    if not approve and not reason:
        raise DomainError(_("Give the reason"), "reason")
    if len(reason) > EXPLANATION_MAX:
        raise DomainError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=EXPLANATION_MAX,
                count=len(reason),
            ),
            "reason",
        )
    claim, establishment = found.claim, found.establishment
    if approve:
        _make_operator(db_session, claim, establishment, reviewer)
    else:
        _close(claim, "refused", reviewer, reason)
        db_session.flush()
    audit.record(
        db_session=db_session,
        actor=reviewer,
        action="claim.approved" if approve else "claim.refused",
        object_type="establishment",
        object_id=establishment.id,
        region=establishment.region,
        summary=establishment.trade_name,
        before={"state": "pending"},
        after={"state": claim.state, "claimer": found.claimer, "reason": reason or None},
    )
    claimer = db_session.get(User, claim.user_id)
    if claimer is not None:
        queue_mail(
            db_session=db_session,
            to=claimer.email,
            template="claim_decision",
            locale=claimer.locale,
            context={
                "establishment": establishment,
                "approved": approve,
                "reason": reason,
                "link": f"{settings.base_url}/establishments/{establishment.id}"
                if approve
                else f"{settings.base_url}/establishments/claim",
            },
        )
    return found
