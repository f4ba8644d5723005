"""The register as open data: one public record per signatory, read in chunks so that a download
of the whole register takes the same memory whatever its size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, exists, func, select
from sqlmodel import Session

from app.certificates.models import Certificate
from app.certificates.service import CertificateStatus, status_of
from app.clock import LIMA, lima_date, today
from app.conduct.models import Signature
from app.db import utcnow
from app.establishments.models import Establishment
from app.establishments.standing import latest_signatures, standings
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.reviews.models import ReviewDecision
from app.web import spreadsheet_cell

#: Establishments read from the database at a time: memory is bounded by this, not by the register.
CHUNK_SIZE = 500
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class PublicRecord:
    """What anyone may know of a signatory: business data and standing, never a person's data."""

    id: int
    ruc: str
    branch_code: str
    trade_name: str
    legal_name: str
    category: str
    region: str
    province: str
    district: str
    signatory_number: str
    signed_on: date
    standing: str
    last_approved_year: int | None
    certificate_valid_until: date | None

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("signed_on", "certificate_valid_until"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


FIELDS = tuple(PublicRecord.__dataclass_fields__)


def record_chunks(
    *, db_session: Session, chunk_size: int = CHUNK_SIZE, on: date | None = None
) -> Iterator[list[PublicRecord]]:
    """Every signatory (whatever the status of its signature), by id, `chunk_size` at a time.

    Keyset pagination (id > the last one seen) rather than OFFSET: each chunk costs the same, and
    a signatory added during the download cannot shift the pages and be read twice.
    """
    on = on or today()
    signed = exists().where(Signature.establishment_id == Establishment.id)
    after = 0
    while True:
        establishments = list(
            db_session.scalars(
                select(Establishment)
                .where(Establishment.id > after, signed)  # type: ignore[operator]
                .order_by(Establishment.id)
                .limit(chunk_size)
            )
        )
        if not establishments:
            return
        yield _records(db_session, establishments, on)
        after = establishments[-1].id  # type: ignore[assignment]
        db_session.expunge_all()  # nothing read so far is kept in the session's identity map


def _records(
    db_session: Session, establishments: list[Establishment], on: date
) -> list[PublicRecord]:
    ids = [e.id for e in establishments]
    signatures = latest_signatures(db_session, ids)  # type: ignore[arg-type]
    standing = standings(db_session, ids)  # type: ignore[arg-type]
    approved = dict(
        db_session.execute(
            select(AnnualReport.establishment_id, func.max(ReportingPeriod.year))
            .join(ReportingPeriod, ReportingPeriod.id == AnnualReport.period_id)  # type: ignore[arg-type]
            .where(AnnualReport.establishment_id.in_(ids), AnnualReport.state == "approved")  # type: ignore[attr-defined]
            .group_by(AnnualReport.establishment_id)
        ).all()
    )
    valid_until: dict[int, tuple[int, date]] = {}
    for certificate, year in db_session.execute(
        select(Certificate, ReportingPeriod.year)
        .join(ReportingPeriod, ReportingPeriod.id == Certificate.period_id)  # type: ignore[arg-type]
        .where(Certificate.establishment_id.in_(ids))  # type: ignore[attr-defined]
    ):
        signature = signatures.get(certificate.establishment_id)
        if status_of(certificate, signature, on).status != CertificateStatus.VALID:
            continue
        best = valid_until.get(certificate.establishment_id)
        if best is None or year > best[0]:
            valid_until[certificate.establishment_id] = (year, certificate.valid_until)
    records = []
    for establishment in establishments:
        key: int = establishment.id  # type: ignore[assignment]
        signature = signatures[key]
        records.append(
            PublicRecord(
                id=key,
                ruc=establishment.ruc,
                branch_code=establishment.branch_code,
                trade_name=establishment.trade_name,
                legal_name=establishment.legal_name,
                category=establishment.category,
                region=establishment.region,
                province=establishment.province,
                district=establishment.district,
                signatory_number=signature.signatory_number,
                signed_on=lima_date(signature.signed_at),
                standing=standing[key].value,
                last_approved_year=approved.get(key),
                certificate_valid_until=valid_until[key][1] if key in valid_until else None,
            )
        )
    return records


def last_updated(*, db_session: Session, on: date | None = None) -> datetime:
    """When the register's public data last changed.

    The latest of: a signature, or a change of its status; a report filed; a decision on one; a
    certificate issued; and a deadline or the end of a grace period that has passed, since
    standings change on those days with no row changing. An establishment enters the register
    when it signs, and its names and place are not edited after registration, so no other change
    can alter a record.
    """
    on = on or today()
    moments = [
        db_session.scalar(select(func.max(column)))
        for column in (
            Signature.signed_at,
            Signature.status_changed_at,
            ReportSubmission.submitted_at,
            ReviewDecision.decided_at,
            Certificate.issued_at,
        )
    ]
    for deadline, grace_days in db_session.execute(
        select(ReportingPeriod.deadline, ReportingPeriod.grace_days)
    ):
        for day in (deadline, deadline + timedelta(days=grace_days)):
            if day < on:  # standings change at the first moment of the day after
                moments.append(datetime.combine(day + timedelta(days=1), time(), tzinfo=LIMA))
    found = [m for m in moments if m is not None]
    return max(found) if found else utcnow()


def _snapshot_session(engine: Engine) -> Session:
    """A session that sees one snapshot of the database from its first query to its last.

    On PostgreSQL, REPEATABLE READ: a download that takes a while stays consistent (standings,
    reports and certificates of the same moment). SQLite runs each read alone; its writers are
    serialised anyway.
    """
    session = Session(engine)
    if engine.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return session


# --- the downloads, as generators of bytes ---------------------------------------------------


def csv_stream(engine: Engine, *, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The register as CSV (UTF-8 with a byte order mark, for spreadsheets), one chunk at a time."""
    with _snapshot_session(engine) as db_session:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(FIELDS)
        yield ("\ufeff" + out.getvalue()).encode("utf-8")
        for records in record_chunks(db_session=db_session, chunk_size=chunk_size):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            for record in records:
                writer.writerow([spreadsheet_cell(getattr(record, name)) for name in FIELDS])
            yield out.getvalue().encode("utf-8")


def json_stream(
    engine: Engine, *, schema_url: str, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """{"last_updated": ..., "schema": ..., "items": [...]}, written piece by piece."""
    with _snapshot_session(engine) as db_session:
        head = {
            "last_updated": last_updated(db_session=db_session).isoformat(),
            "generated_at": utcnow().isoformat(),
            "schema": schema_url,
            "licence": LICENCE_URL,
        }
        yield (json.dumps(head, ensure_ascii=False)[:-1] + ', "items": [').encode("utf-8")
        first = True
        for records in record_chunks(db_session=db_session, chunk_size=chunk_size):
            body = ",\n".join(json.dumps(r.as_json(), ensure_ascii=False) for r in records)
            yield (("\n" if first else ",\n") + body).encode("utf-8")
            first = False
        yield b"\n]}\n"


def file_name(extension: str, on: date | None = None) -> str:
    """registro-firmantes-2026-03-05.csv: dated, ASCII, safe in a header."""
    return f"registro-firmantes-{(on or today()).isoformat()}.{extension}"


#: The licence the data is published under (Peru's open data guidelines recommend CC BY 4.0).
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
