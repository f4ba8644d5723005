"""The Code text in force, and signing it for an establishment."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.auth.models import User
from app.conduct.forms import SignatureForm
from app.conduct.models import CodeVersion, SignatoryCounter, Signature
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, DomainError
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.i18n import _
from app.jurisdiction import CodeText, current_scheme

log = logging.getLogger(__name__)
IN_FORCE = ("active", "suspended")


def _content_of(code: CodeText) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(code), default=str))


def _sha256(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sync_code_versions(*, db_session: Session) -> list[str]:
    """Add the versions of the Code text in the scheme's data set that the database lacks.

    A version already stored is never changed: signatures point to it.
    """
    stored = {v.version: v for v in db_session.scalars(select(CodeVersion))}
    added = []
    for code in current_scheme().code_versions:
        content = _content_of(code)
        if code.version in stored:
            if stored[code.version].text_sha256 != _sha256(content):
                log.warning(
                    "Code text %s differs from the stored one; the stored one stays", code.version
                )
            continue
        db_session.add(
            CodeVersion(
                version=code.version,
                published_on=code.published_on,
                content=content,
                text_sha256=_sha256(content),
            )
        )
        added.append(code.version)
    db_session.flush()
    return added


def current_code_version(*, db_session: Session) -> CodeVersion:
    version = db_session.scalars(
        select(CodeVersion).order_by(CodeVersion.published_on.desc(), CodeVersion.id.desc())  # type: ignore[union-attr]
    ).first()
    if version is None:
        raise RuntimeError("No version of the Code text is stored: run `portal db upgrade`")
    return version


def signature_in_force(*, db_session: Session, establishment_id: int) -> Signature | None:
    return db_session.scalars(
        select(Signature).where(
            Signature.establishment_id == establishment_id,
            Signature.status.in_(IN_FORCE),  # type: ignore[attr-defined]
        )
    ).first()


def next_signatory_number(db_session: Session, year: int) -> str:
    """Hand out the next number of the year; the row update serialises concurrent signings."""
    for _attempt in range(3):
        last = db_session.scalar(
            update(SignatoryCounter)
            .where(SignatoryCounter.year == year)
            .values(last=SignatoryCounter.last + 1)
            .returning(SignatoryCounter.last)
        )
        if last is not None:
            return current_scheme().signatory_number(year, last)
        try:
            with db_session.begin_nested():
                db_session.execute(insert(SignatoryCounter).values(year=year, last=1))
            return current_scheme().signatory_number(year, 1)
        except IntegrityError:
            continue  # another signing created the year's counter first: update it instead
    raise RuntimeError("could not allocate a signatory number")


def reserve_signatory_numbers(db_session: Session, year: int, count: int) -> list[str]:
    """Hand out `count` consecutive numbers of the year at once (bulk imports)."""
    if count <= 0:
        return []
    next_signatory_number(db_session, year)  # makes sure the year's counter exists; one number
    last = db_session.scalar(
        update(SignatoryCounter)
        .where(SignatoryCounter.year == year)
        .values(last=SignatoryCounter.last + count - 1)
        .returning(SignatoryCounter.last)
    )
    assert last is not None
    scheme = current_scheme()
    return [scheme.signatory_number(year, n) for n in range(last - count + 1, last + 1)]


def raise_signatory_counter(db_session: Session, year: int, at_least: int) -> None:
    """Make sure numbers handed out from now on come after `at_least` (a number given in a file)."""
    updated = db_session.execute(
        update(SignatoryCounter)
        .where(SignatoryCounter.year == year, SignatoryCounter.last < at_least)
        .values(last=at_least)
    ).rowcount
    if not updated and db_session.get(SignatoryCounter, year) is None:
        with db_session.begin_nested():
            db_session.execute(insert(SignatoryCounter).values(year=year, last=at_least))


def sign(
    *,
    db_session: Session,
    settings: Settings,
    user: User,
    establishment_id: int,
    data: SignatureForm,
    language: str,
) -> Signature:
    """Sign the Code text in force for an establishment the user manages; its operators are
    mailed the acknowledgement (a PDF in each one's language)."""
    signature = record_signature(
        db_session=db_session,
        user=user,
        establishment_id=establishment_id,
        data=data,
        language=language,
    )
    establishment = db_session.get(Establishment, signature.establishment_id)
    version = db_session.get(CodeVersion, signature.code_version_id)
    _mail_acknowledgement(db_session, settings, establishment, signature, version)  # type: ignore[arg-type]
    return signature


def record_signature(
    *, db_session: Session, user: User, establishment_id: int, data: SignatureForm, language: str
) -> Signature:
    """The signature of the Code text in force, checked and written, without the mail."""
    establishment = establishments.get_managed(
        db_session=db_session, user=user, establishment_id=establishment_id
    )
    already = _("This establishment has already signed the Code of Conduct")
    latest = db_session.scalars(
        select(Signature)
        .where(Signature.establishment_id == establishment.id)
        .order_by(Signature.signed_at.desc(), Signature.id.desc())  # type: ignore[union-attr]
    ).first()
    if latest is not None and latest.status == "revoked":
        raise DomainError(
            _(
                "The signature of this establishment was revoked by the tourism authority; it "
                "cannot sign again here. Contact the regional tourism directorate."
            )
        )
    if signature_in_force(db_session=db_session, establishment_id=establishment.id):  # type: ignore[arg-type]
        raise Conflict(already, code="already_signed")
    version = current_code_version(db_session=db_session)
    now = utcnow()
    signature = Signature(
        establishment_id=establishment.id,  # type: ignore[arg-type]
        code_version_id=version.id,  # type: ignore[arg-type]
        signatory_number=next_signatory_number(db_session, now.year),
        representative_name=data.representative_name,
        document_type=data.document_type,
        document_number=data.document_number,
        language=language,
        signed_at=now,
        signed_by_id=user.id,
    )
    try:
        with db_session.begin_nested():
            db_session.add(signature)
            db_session.flush()
    except IntegrityError:
        # Two signings at once (a double click, two operators): the database let one through.
        raise Conflict(already, code="already_signed") from None
    return signature


def _mail_acknowledgement(
    db_session: Session,
    settings: Settings,
    establishment: Establishment,
    signature: Signature,
    version: CodeVersion,
) -> None:
    from app.conduct.pdf import acknowledgement_pdf

    establishments.mail_operators(
        db_session=db_session,
        establishment_id=establishment.id,  # type: ignore[arg-type]
        template="signature_acknowledgement",
        context={
            "establishment": establishment,
            "signature": signature,
            "link": f"{settings.base_url}/establishments/{establishment.id}",
        },
        attachment=lambda locale: (
            f"{signature.signatory_number}.pdf",
            "application/pdf",
            acknowledgement_pdf(
                establishment=establishment, signature=signature, version=version, locale=locale
            ),
        ),
    )


def get_signature(*, db_session: Session, signature_id: int) -> Signature | None:
    return db_session.get(Signature, signature_id)


# --- suspension, revocation, reinstatement, withdrawal --------------------------------------------

# Which status each action leads to, from which statuses, and who may take it.
STATUS_ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "suspend": ("suspended", ("active",)),
    "reinstate": ("active", ("suspended",)),
    "revoke": ("revoked", ("active", "suspended")),
    "withdraw": ("withdrawn", ("active",)),
}


def change_signature_status(
    *,
    db_session: Session,
    settings: Settings,
    user: User,
    establishment_id: int,
    action: str,
    reason: str,
) -> Signature:
    """Suspend, reinstate or revoke a signatory (staff of its region), or withdraw it (its operator).

    The establishment's standing changes at once: it is computed from the signature's status.
    """
    from app.audit import service as audit
    from app.auth.roles import Permission, has_permission

    if action not in STATUS_ACTIONS:
        raise DomainError(_("Choose what to do"), "action")
    if action == "withdraw":
        establishment = establishments.get_managed(
            db_session=db_session, user=user, establishment_id=establishment_id
        )
    else:
        if not has_permission(user.role, Permission.MANAGE_SIGNATURES):
            raise DomainError(_("Only reviewers can suspend, reinstate or revoke a signatory"))
        establishment = establishments.get_readable(
            db_session=db_session, user=user, establishment_id=establishment_id
        )
    reason = reason.strip()
    if not reason:
        raise DomainError(_("Give the reason"), "reason")
    if len(reason) > 1000:
        raise DomainError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=1000,
                count=len(reason),
            ),
            "reason",
        )
    signature = signature_in_force(db_session=db_session, establishment_id=establishment.id)  # type: ignore[arg-type]
    new_status, allowed_from = STATUS_ACTIONS[action]
    if signature is None or signature.status not in allowed_from:
        raise DomainError(_("This signatory's status does not allow that now"))
    before = signature.status
    signature.status = new_status
    signature.status_changed_at = utcnow()
    signature.status_reason = reason
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=user,
        action=f"signature.{action}",
        object_type="signature",
        object_id=signature.signatory_number,
        region=establishment.region,
        summary=establishment.trade_name,
        before={"status": before},
        after={"status": new_status, "reason": reason},
    )
    establishments.mail_operators(
        db_session=db_session,
        establishment_id=establishment.id,  # type: ignore[arg-type]
        template="signature_status",
        context={
            "establishment": establishment,
            "signature": signature,
            "action": action,
            "reason": reason,
            "link": f"{settings.base_url}/establishments/{establishment.id}",
        },
    )
    return signature
