"""Issuing certificates of compliance and telling anyone whether one is valid."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import select
from sqlmodel import Session

from app.certificates.models import Certificate
from app.clock import today
from app.conduct.models import Signature
from app.i18n import lazy_gettext
from app.reports.models import ReportingPeriod

#: Verification codes: 32 characters of Crockford's base32 (no I, L, O, U, which read like 1, 0, V) = 160 bits.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 32
_CODE_SHAPE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


class CertificateStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return str(_LABELS[self])


_LABELS = {
    CertificateStatus.VALID: lazy_gettext("Valid"),
    CertificateStatus.EXPIRED: lazy_gettext("Expired"),
    CertificateStatus.REVOKED: lazy_gettext("Revoked"),
}


def new_code() -> str:
    """An unguessable verification code (160 random bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """The code as typed by a person (spaces, dashes, lower case, O for 0...), or None if it cannot be one."""
    cleaned = re.sub(r"[\s\-]", "", text or "").upper()
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1").replace("U", "V")
    return cleaned if _CODE_SHAPE.match(cleaned) else None


def number_for(year: int, establishment_id: int) -> str:
    """The certificate number: one certificate per establishment and period, so no counter is needed."""
    return f"CERT-{year}-{establishment_id:06d}"


@dataclass(frozen=True)
class LiveStatus:
    status: CertificateStatus
    #: When the signatory was suspended, revoked or withdrew (for a revoked certificate).
    revoked_on: date | None = None


def status_of(
    certificate: Certificate, signature: Signature | None, on: date | None = None
) -> LiveStatus:
    """Valid, expired or revoked, worked out now from the signature and the date.

    A certificate stands for a signatory in force: suspension, revocation or withdrawal revoke it
    (a reinstatement makes it valid again, while it has not expired).
    """
    on = on or today()
    if signature is None or signature.status != "active":
        changed = signature.status_changed_at if signature is not None else None
        return LiveStatus(CertificateStatus.REVOKED, changed.date() if changed else None)
    if on > certificate.valid_until:
        return LiveStatus(CertificateStatus.EXPIRED)
    return LiveStatus(CertificateStatus.VALID)


def valid_until_for(*, db_session: Session, period: ReportingPeriod) -> date:
    """Valid until the next deadline: that of the next year's period, or 31 March two years on."""
    following = db_session.scalars(
        select(ReportingPeriod).where(ReportingPeriod.year == period.year + 1)
    ).first()
    if following is not None:
        return following.deadline
    return period.deadline.replace(year=period.deadline.year + 1)


def current_certificate(*, db_session: Session, establishment_id: int) -> Certificate | None:
    """The establishment's certificate of the latest period (valid or not)."""
    return db_session.scalars(
        select(Certificate)
        .join(ReportingPeriod, ReportingPeriod.id == Certificate.period_id)  # type: ignore[arg-type]
        .where(Certificate.establishment_id == establishment_id)
        .order_by(ReportingPeriod.year.desc())  # type: ignore[attr-defined]
    ).first()


def get_by_code(*, db_session: Session, code: str) -> Certificate | None:
    return db_session.scalars(select(Certificate).where(Certificate.code == code)).first()
