"""Issuing every missing certificate of a period: on every core, and on several hosts at once.

Each certificate is issued in its own short transaction. On PostgreSQL the report row is taken
with `FOR UPDATE SKIP LOCKED`, so a process never waits for, nor duplicates, another's work; on
SQLite writes take turns and the unique constraints refuse a second certificate. Processes visit
the candidates in a random order, so two hosts started together rarely render the same one.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.certificates import service
from app.certificates.models import Certificate
from app.config import Settings
from app.db import make_engine
from app.errors import NotFound
from app.mail import deliver_pending
from app.reports.models import AnnualReport, ReportingPeriod

CHUNK = 8


@dataclass
class BatchResult:
    candidates: int = 0
    issued: int = 0
    #: Issued meanwhile by another process or host.
    skipped: int = 0


def missing_report_ids(*, db_session: Session, year: int) -> list[int]:
    """Approved reports of the period that have no certificate yet."""
    period = db_session.scalars(select(ReportingPeriod).where(ReportingPeriod.year == year)).first()
    if period is None:
        raise NotFound()
    return list(
        db_session.scalars(
            select(AnnualReport.id)
            .outerjoin(Certificate, Certificate.report_id == AnnualReport.id)  # type: ignore[arg-type]
            .where(
                AnnualReport.period_id == period.id,
                AnnualReport.state == "approved",
                Certificate.id.is_(None),  # type: ignore[union-attr]
            )
            .order_by(AnnualReport.id)
        )
    )


def issue_one(engine: Engine, settings: Settings, report_id: int) -> bool:
    """Issue the certificate of one approved report in its own transaction; False if someone else did."""
    with Session(engine, expire_on_commit=False) as session:
        statement = select(AnnualReport).where(AnnualReport.id == report_id)
        if engine.dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True)
        report = session.scalars(statement).first()
        if report is None or report.state != "approved":
            return False  # another process holds it, or it changed
        taken = session.scalars(
            select(Certificate.id).where(Certificate.report_id == report_id)
        ).first()
        if taken is not None:
            return False
        try:
            service.issue(db_session=session, settings=settings, report=report, actor=None)
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


_worker: tuple[Engine, Settings] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    _worker = (make_engine(settings.database_url), settings)


def _issue_chunk(report_ids: list[int]) -> tuple[int, int]:
    assert _worker is not None
    engine, settings = _worker
    issued = sum(issue_one(engine, settings, report_id) for report_id in report_ids)
    deliver_pending(engine, settings)
    return issued, len(report_ids) - issued


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def issue_missing(
    *,
    settings: Settings,
    year: int,
    workers: int | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> BatchResult:
    """Issue every missing certificate of the period with a pool of processes (one per core)."""
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        ids = missing_report_ids(db_session=session, year=year)
    engine.dispose()
    random.shuffle(ids)
    result = BatchResult(candidates=len(ids))
    if not ids:
        return result
    workers = max(1, min(workers or os.cpu_count() or 1, len(ids) // CHUNK + 1))
    # "spawn": each worker starts clean, with its own database connections (never a forked one).
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings,),
    ) as pool:
        futures = {pool.submit(_issue_chunk, chunk): len(chunk) for chunk in _chunks(ids)}
        for future in as_completed(futures):
            issued, skipped = future.result()
            result.issued += issued
            result.skipped += skipped
            progress(futures[future])
    return result
