"""`portal certificates issue --period YEAR`: every missing certificate once, however many
processes (or hosts) run it at the same time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.certificates.batch import issue_missing, missing_report_ids
from app.certificates.models import Certificate
from app.conduct.models import CodeVersion, Signature
from app.establishments.models import Establishment
from app.reports.models import AnnualReport
from tests.conftest import valid_ruc

COUNT = 24


def approved_reports_without_certificates(db, period, count: int = COUNT) -> list[int]:
    """Signatories whose reports were approved before certificates existed (as after an upgrade)."""
    version = db.scalars(select(CodeVersion)).first()
    report_ids = []
    for n in range(count):
        establishment = Establishment(
            ruc=valid_ruc(f"20{n:08d}"),
            branch_code="0000",
            legal_name=f"Empresa Turística {n} S.A.C.",
            trade_name=f"Hostal Número {n}",
            category="lodging",
            region="PE-CUS",
            province="Cusco",
            district="Cusco",
            address=f"Calle {n}",
        )
        db.add(establishment)
        db.flush()
        db.add(
            Signature(
                establishment_id=establishment.id,
                code_version_id=version.id,
                signatory_number=f"CC-2024-{n + 1:06d}",
                representative_name="Representante",
                document_type="DNI",
                document_number=f"{n:08d}",
                signed_at=datetime(2024, 6, 1, 15, tzinfo=UTC),
            )
        )
        report = AnnualReport(
            establishment_id=establishment.id, period_id=period.id, state="approved", content={}
        )
        db.add(report)
        db.flush()
        report_ids.append(report.id)
    db.commit()
    return report_ids


def test_two_batches_at_once_issue_each_certificate_exactly_once(app, db, open_period):
    reports = approved_reports_without_certificates(db, open_period)
    assert sorted(missing_report_ids(db_session=db, year=open_period.year)) == sorted(reports)

    results = []

    def run() -> None:  # as another host would
        results.append(issue_missing(settings=app.state.settings, year=open_period.year, workers=2))

    hosts = [threading.Thread(target=run) for _ in range(2)]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join()

    db.expire_all()
    certificates = db.scalars(select(Certificate)).all()
    assert sorted(c.report_id for c in certificates) == sorted(reports)
    assert sum(r.issued for r in results) == COUNT
    assert all(r.candidates == COUNT for r in results)
    assert all(c.signed and c.pdf_es_key for c in certificates)
    issued = db.scalar(select(func.count()).where(AuditEntry.action == "certificate.issue"))
    assert issued == COUNT
    assert missing_report_ids(db_session=db, year=open_period.year) == []


def test_the_command_shows_progress_and_a_summary(cli, db, open_period):
    approved_reports_without_certificates(db, open_period, count=5)
    result = cli("certificates", "issue", "--period", open_period.year, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert f"Certificates {open_period.year}" in result.output
    assert "5 certificate(s) issued" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Certificate)) == 5

    again = cli("certificates", "issue", "--period", open_period.year)
    assert (
        again.exit_code == 0
        and "0 certificate(s) issued" in again.output
        and "0 were missing" in again.output
    )
    unknown = cli("certificates", "issue", "--period", 1999)
    assert unknown.exit_code == 2 and "no reporting period 1999" in unknown.output
