"""Seeding signatories, reports and certificates straight into the database, fast and exactly."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.certificates.models import Certificate
from app.clock import today
from app.conduct.models import CodeVersion, Signature
from app.establishments.models import Establishment
from app.reports import service as reports
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission

_numbers = itertools.count(1)


def period(db, year: int, *, deadline: int, grace: int = 30) -> ReportingPeriod:  # type: ignore[no-untyped-def]
    """A period whose deadline is `deadline` days from today (negative: passed), cut-off long ago."""
    now = today()
    created = reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=year,
            opens_on=now + timedelta(days=deadline - 60),
            deadline=now + timedelta(days=deadline),
            grace_days=grace,
            cutoff_on=now + timedelta(days=deadline - 90),
        ),
    )
    db.flush()
    return created


def signatory(  # type: ignore[no-untyped-def]
    db,
    *,
    region: str = "PE-CUS",
    category: str = "lodging",
    trade_name: str | None = None,
    status: str = "active",
    signed_days_ago: int = 400,
    representative: str = "Rosa Quispe Mamani",
    document_number: str = "41234567",
    **establishment: str,
) -> Establishment:
    number = next(_numbers)
    row = Establishment(
        ruc=establishment.pop("ruc", "20604123451"),
        branch_code=establishment.pop("branch_code", f"{number % 10000:04d}"),
        legal_name=establishment.pop("legal_name", f"Empresa {number} S.A.C."),
        trade_name=trade_name or f"Establecimiento {number}",
        category=category,
        region=region,
        province=establishment.pop("province", "Cusco"),
        district=establishment.pop("district", "Cusco"),
        address=establishment.pop("address", "Av. El Sol 100"),
        phone=establishment.pop("phone", None),
        website=establishment.pop("website", None),
    )
    db.add(row)
    db.flush()
    db.add(
        Signature(
            establishment_id=row.id,
            code_version_id=db.scalar(select(CodeVersion.id)),
            signatory_number=f"CC-2024-{number:06d}",
            representative_name=representative,
            document_type="DNI",
            document_number=document_number,
            status=status,
            signed_at=datetime.now(UTC) - timedelta(days=signed_days_ago),
        )
    )
    db.flush()
    return row


def report(  # type: ignore[no-untyped-def]
    db,
    establishment: Establishment,
    of: ReportingPeriod,
    state: str,
    detected: int = 0,
    reported: int = 0,
) -> AnnualReport:
    """A report in `state`; filed once (unless a draft) with these case figures."""
    row = AnnualReport(
        establishment_id=establishment.id, period_id=of.id, state=state, content={"sections": {}}
    )
    db.add(row)
    db.flush()
    if state != "draft":
        filed = {
            "year": of.year,
            "sections": {
                "reporting": {"figures": {"cases_detected": detected, "cases_reported": reported}}
            },
            "evidence": [],
        }
        db.add(
            ReportSubmission(
                report_id=row.id,
                number=1,
                content=filed,
                content_sha256=reports.canonical_sha256(filed),
            )
        )
        db.flush()
    return row


def certificate(
    db, establishment: Establishment, of: ReportingPeriod, valid_until: date
) -> Certificate:  # type: ignore[no-untyped-def]
    row = AnnualReport(
        establishment_id=establishment.id,
        period_id=of.id,
        state="approved",
        content={"sections": {}},
    )
    db.add(row)
    db.flush()
    cert = Certificate(
        number=f"CERT-{of.year}-{establishment.id:06d}",
        code=f"{establishment.id:032d}",
        establishment_id=establishment.id,
        period_id=of.id,
        report_id=row.id,
        issued_on=valid_until - timedelta(days=365),
        valid_until=valid_until,
        pdf_es_key=f"k{establishment.id}",
        pdf_es_sha256="0" * 64,
    )
    db.add(cert)
    db.flush()
    return cert
