"""Issuing certificates of compliance and telling anyone whether one is valid."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import select
from sqlmodel import Session

from app import i18n
from app.audit import service as audit
from app.auth.models import User
from app.certificates.models import Certificate
from app.certificates.pdf import certificate_pdf
from app.certificates.signing import sign_pdf
from app.clock import lima_date, today
from app.conduct.models import Signature
from app.config import Settings
from app.errors import DomainError, NotFound
from app.establishments import service as establishments
from app.establishments.models import Establishment
from app.establishments.standing import latest_signatures
from app.i18n import _, lazy_gettext
from app.jurisdiction import current_scheme
from app.reports.models import AnnualReport, ReportingPeriod
from app.reviews.models import ReviewDecision
from app.storage import LocalStorage

LANGUAGES = ("es", "en")

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


def for_period(*, db_session: Session, establishment_id: int, year: int) -> Certificate:
    """The establishment's certificate for a year, or NotFound."""
    certificate = db_session.scalars(
        select(Certificate)
        .join(ReportingPeriod, ReportingPeriod.id == Certificate.period_id)  # type: ignore[arg-type]
        .where(Certificate.establishment_id == establishment_id, ReportingPeriod.year == year)
    ).first()
    if certificate is None:
        raise NotFound()
    return certificate


def of_establishment(
    *, db_session: Session, establishment_id: int
) -> list[tuple[Certificate, int]]:
    """Every certificate of an establishment with its period's year, newest first."""
    return list(
        db_session.execute(
            select(Certificate, ReportingPeriod.year)
            .join(ReportingPeriod, ReportingPeriod.id == Certificate.period_id)  # type: ignore[arg-type]
            .where(Certificate.establishment_id == establishment_id)
            .order_by(ReportingPeriod.year.desc())  # type: ignore[attr-defined]
        ).all()  # type: ignore[arg-type]
    )


# --- issuing -------------------------------------------------------------------------------------


def certificate_storage(settings: Settings) -> LocalStorage:
    """Where rendered certificates are kept, so each is rendered once and then served as stored."""
    return LocalStorage(settings.certificates_dir)


def _approved_on(db_session: Session, report_id: int) -> date | None:
    decided = db_session.scalars(
        select(ReviewDecision.decided_at)
        .where(ReviewDecision.report_id == report_id, ReviewDecision.decision == "approved")
        .order_by(ReviewDecision.decided_at.desc())  # type: ignore[attr-defined]
    ).first()
    return lima_date(decided) if decided else None


def _render_and_store(
    db_session: Session, settings: Settings, certificate: Certificate, locale: str
) -> bytes:
    """Render the certificate in a language, sign it when a key is configured, and keep it."""
    establishment = db_session.get(Establishment, certificate.establishment_id)
    period = db_session.get(ReportingPeriod, certificate.period_id)
    assert establishment is not None and period is not None
    signature = latest_signatures(db_session, [certificate.establishment_id]).get(
        certificate.establishment_id
    )
    pdf = certificate_pdf(
        certificate=certificate,
        establishment=establishment,
        signature=signature,
        period=period,
        approved_on=_approved_on(db_session, certificate.report_id),
        base_url=settings.base_url,
        locale=locale,
    )
    with i18n.use_locale(locale):
        reason = _("Certificate of compliance %(number)s", number=certificate.number)
    signed = sign_pdf(pdf, settings, reason=reason, location=current_location(establishment))
    pdf = signed or pdf
    storage = certificate_storage(settings)
    key = storage.new_key()
    storage.save(key, io.BytesIO(pdf))
    setattr(certificate, f"pdf_{locale}_key", key)
    setattr(certificate, f"pdf_{locale}_sha256", hashlib.sha256(pdf).hexdigest())
    certificate.signed = signed is not None
    return pdf


def current_location(establishment: Establishment) -> str:
    scheme = current_scheme()
    region = scheme.region(establishment.region)
    return f"{region.name if region else establishment.region}, {scheme.name['es']}"


def pdf_of(
    *, db_session: Session, settings: Settings, certificate: Certificate, locale: str
) -> bytes:
    """The certificate PDF in a language: as stored; rendered only the first time it is asked for."""
    locale = locale if locale in LANGUAGES else "es"
    key = getattr(certificate, f"pdf_{locale}_key")
    if key:
        return b"".join(certificate_storage(settings).read(key))
    pdf = _render_and_store(db_session, settings, certificate, locale)
    db_session.add(certificate)
    db_session.flush()
    return pdf


def filename_of(certificate: Certificate, locale: str) -> str:
    prefix = "certificado" if locale == "es" else "certificate"
    return f"{prefix}-{certificate.number}.pdf"


def issue(
    *, db_session: Session, settings: Settings, report: AnnualReport, actor: User | None
) -> Certificate:
    """Issue the certificate of an approved report (once: a second call returns the first)."""
    if report.state != "approved":
        raise DomainError(_("A certificate is issued only for an approved report"))
    existing = db_session.scalars(
        select(Certificate).where(Certificate.report_id == report.id)
    ).first()
    if existing is not None:
        return existing
    period = db_session.get(ReportingPeriod, report.period_id)
    establishment = db_session.get(Establishment, report.establishment_id)
    assert period is not None and establishment is not None
    certificate = Certificate(
        number=number_for(period.year, report.establishment_id),
        code=new_code(),
        establishment_id=report.establishment_id,
        period_id=report.period_id,
        report_id=report.id,  # type: ignore[arg-type]
        issued_on=today(),
        valid_until=valid_until_for(db_session=db_session, period=period),
        issued_by_id=actor.id if actor else None,
        pdf_es_key="",
        pdf_es_sha256="",
    )
    pdf = _render_and_store(db_session, settings, certificate, "es")
    db_session.add(certificate)
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="certificate.issue",
        object_type="certificate",
        object_id=certificate.number,
        region=establishment.region,
        summary=f"{establishment.trade_name} {period.year}",
        after={"valid_until": certificate.valid_until, "signed": certificate.signed},
    )
    _mail_certificate(db_session, settings, certificate, establishment, period, pdf)
    return certificate


def reissue(
    *, db_session: Session, settings: Settings, certificate: Certificate, actor: User
) -> Certificate:
    """Render the certificate again with the establishment's current data (same number and code)."""
    establishment = db_session.get(Establishment, certificate.establishment_id)
    period = db_session.get(ReportingPeriod, certificate.period_id)
    assert establishment is not None and period is not None
    before = {"revision": certificate.revision, "valid_until": certificate.valid_until}
    certificate.revision += 1
    certificate.issued_on = today()
    certificate.issued_by_id = actor.id
    certificate.valid_until = valid_until_for(db_session=db_session, period=period)
    certificate.pdf_en_key = certificate.pdf_en_sha256 = None
    pdf = _render_and_store(db_session, settings, certificate, "es")
    db_session.add(certificate)
    db_session.flush()
    audit.record(
        db_session=db_session,
        actor=actor,
        action="certificate.reissue",
        object_type="certificate",
        object_id=certificate.number,
        region=establishment.region,
        summary=f"{establishment.trade_name} {period.year}",
        before=before,
        after={"revision": certificate.revision, "valid_until": certificate.valid_until},
    )
    _mail_certificate(db_session, settings, certificate, establishment, period, pdf)
    return certificate


def _mail_certificate(
    db_session: Session,
    settings: Settings,
    certificate: Certificate,
    establishment: Establishment,
    period: ReportingPeriod,
    spanish_pdf: bytes,
) -> None:
    def attachment(locale: str) -> tuple[str, str, bytes]:
        pdf = (
            spanish_pdf
            if locale != "en"
            else pdf_of(
                db_session=db_session, settings=settings, certificate=certificate, locale="en"
            )
        )
        return filename_of(certificate, locale), "application/pdf", pdf

    establishments.mail_operators(
        db_session=db_session,
        establishment_id=establishment.id,  # type: ignore[arg-type]
        template="certificate_issued",
        context={
            "establishment": establishment,
            "period": period,
            "certificate": certificate,
            "link": f"{settings.base_url}/establishments/{establishment.id}",
            "verify_link": f"{settings.base_url}/verify/{certificate.code}",
        },
        attachment=attachment,
    )


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What the public verification page shows: the certificate, its live status, public data only."""

    certificate: Certificate
    year: int
    establishment: Establishment
    signatory_number: str | None
    live: LiveStatus


def verify(*, db_session: Session, code: str) -> Verification | None:
    """The live status of the certificate with this code, or None when there is none."""
    certificate = get_by_code(db_session=db_session, code=code)
    if certificate is None:
        return None
    establishment = db_session.get(Establishment, certificate.establishment_id)
    period = db_session.get(ReportingPeriod, certificate.period_id)
    assert establishment is not None and period is not None
    signature = latest_signatures(db_session, [establishment.id]).get(establishment.id)  # type: ignore[arg-type]
    return Verification(
        certificate=certificate,
        year=period.year,
        establishment=establishment,
        signatory_number=signature.signatory_number if signature else None,
        live=status_of(certificate, signature),
    )
