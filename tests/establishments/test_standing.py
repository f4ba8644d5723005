"""Where an establishment stands, computed from its signature and its reports."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.conduct.models import Signature
from app.establishments.standing import Standing, standing_from
from app.reports.models import ReportingPeriod

ON = date(2026, 6, 1)


def _signature(status: str = "active", signed: date = date(2020, 5, 1)) -> Signature:
    return Signature(
        establishment_id=1,
        code_version_id=1,
        signatory_number="CC-2020-000001",
        representative_name="x",
        document_type="DNI",
        document_number="12345678",
        status=status,
        signed_at=datetime(signed.year, signed.month, signed.day, 15, tzinfo=UTC),
    )


def _period(year: int, deadline: date, grace: int = 30) -> ReportingPeriod:
    return ReportingPeriod(
        id=year,
        year=year,
        opens_on=date(year + 1, 1, 1),
        deadline=deadline,
        grace_days=grace,
        cutoff_on=date(year, 12, 31),
        report_form_id=1,
    )


P2025 = _period(2025, date(2026, 3, 31))  # deadline passed on ON; grace ended 30 April
P2026 = _period(2026, date(2027, 3, 31))


@pytest.mark.parametrize(
    ("signature", "states", "expected"),
    [
        (None, {}, Standing.NOT_SIGNED),
        (_signature("suspended"), {2025: "approved"}, Standing.SUSPENDED),
        (_signature("revoked"), {}, Standing.REVOKED),
        (_signature("withdrawn"), {}, Standing.WITHDRAWN),
        (_signature(), {2025: "approved"}, Standing.GOOD),
        (_signature(), {2025: "submitted"}, Standing.PENDING_REVIEW),
        (_signature(), {2025: "resubmitted"}, Standing.PENDING_REVIEW),
        (_signature(), {2025: "rejected"}, Standing.NON_COMPLIANT),
        (_signature(), {}, Standing.NON_COMPLIANT),  # nothing filed, grace over
        (_signature(), {2025: "changes_requested"}, Standing.NON_COMPLIANT),
        (_signature(signed=date(2026, 1, 15)), {}, Standing.GOOD),  # signed after the cut-off
    ],
)
def test_standing(signature, states, expected):
    assert standing_from(signature, [P2025, P2026], states, on=ON) is expected


def test_overdue_within_grace_then_non_compliant():
    assert standing_from(_signature(), [P2025], {}, on=date(2026, 4, 10)) is Standing.OVERDUE
    assert standing_from(_signature(), [P2025], {}, on=date(2026, 5, 1)) is Standing.NON_COMPLIANT


def test_not_due_yet_is_good_and_filing_early_shows_pending():
    assert standing_from(_signature(), [P2025], {}, on=date(2026, 2, 1)) is Standing.GOOD
    assert (
        standing_from(_signature(), [P2025], {2025: "submitted"}, on=date(2026, 2, 1))
        is Standing.PENDING_REVIEW
    )
    # The latest period filed counts over an older one.
    assert (
        standing_from(
            _signature(), [P2025, P2026], {2025: "approved", 2026: "submitted"}, on=date(2027, 2, 1)
        )
        is Standing.PENDING_REVIEW
    )


# --- the same rules in SQL (the register filters by standing inside the database) ------


def test_sql_standing_agrees_with_python_in_every_case(db):
    """Every signature status, signing date around the cut-off (in Lima's time), report state per
    period and day around deadlines and grace ends: the SQL and Python answers are the same."""
    import itertools
    from datetime import timedelta

    from sqlalchemy import select

    from app.conduct.models import CodeVersion
    from app.establishments.models import Establishment
    from app.establishments.standing import latest_signature_join, standing_sql
    from app.reports.models import AnnualReport, ReportForm

    form = db.scalars(select(ReportForm)).first()
    version = db.scalars(select(CodeVersion)).first()
    periods = []
    for year in (2024, 2025):
        period = ReportingPeriod(
            year=year,
            opens_on=date(year + 1, 1, 1),
            deadline=date(year + 1, 3, 31),
            grace_days=30,
            cutoff_on=date(year, 12, 31),
            report_form_id=form.id,
        )
        db.add(period)
        periods.append(period)
    db.flush()
    signed_moments = [
        datetime(2023, 6, 1, 12, tzinfo=UTC),
        datetime(2025, 1, 1, 4, 59, tzinfo=UTC),  # 31 Dec 2024, 23:59 in Lima: before the cut-off
        datetime(2025, 1, 1, 5, 0, tzinfo=UTC),  # 1 Jan 2025 in Lima: after it
        datetime(2026, 2, 1, 12, tzinfo=UTC),
    ]
    states = [
        None,
        "draft",
        "submitted",
        "resubmitted",
        "changes_requested",
        "approved",
        "rejected",
    ]
    cases = list(itertools.product(["active", "suspended"], signed_moments, states, states))
    cases += [
        ("revoked", signed_moments[0], None, None),
        ("withdrawn", signed_moments[0], None, None),
    ]
    expected_input = {}
    for n, (status, signed_at, first, second) in enumerate(cases):
        establishment = Establishment(
            ruc=f"20{n:09d}",
            branch_code="0000",
            legal_name="x",
            trade_name=f"E{n}",
            category="lodging",
            region="PE-CUS",
            province="Cusco",
            district="Cusco",
            address="x",
        )
        db.add(establishment)
        db.flush()
        # An older, withdrawn signature first: the latest one is what counts.
        for number, (when, state) in enumerate(
            [(signed_at - timedelta(days=900), "withdrawn"), (signed_at, status)]
        ):
            db.add(
                Signature(
                    establishment_id=establishment.id,
                    code_version_id=version.id,
                    signatory_number=f"CC-{n:06d}-{number}",
                    representative_name="x",
                    document_type="DNI",
                    document_number="12345678",
                    status=state,
                    signed_at=when,
                )
            )
        report_states = {}
        for period, state in zip(periods, (first, second), strict=True):
            if state is not None:
                db.add(
                    AnnualReport(
                        establishment_id=establishment.id,
                        period_id=period.id,
                        state=state,
                        content={},
                    )
                )
                report_states[period.id] = state
        db.flush()
        expected_input[establishment.id] = report_states
    db.commit()
    latest = {
        e: s
        for e, s in db.execute(
            select(Establishment.id, Signature).join(
                Signature, latest_signature_join(Establishment.id)
            )
        )
    }
    days = [
        date(2025, 3, 31),
        date(2025, 4, 1),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2026, 1, 15),
        date(2026, 3, 31),
        date(2026, 4, 1),
        date(2026, 5, 1),
    ]
    seen = set()
    for on in days:
        standing, reports = standing_sql(Establishment.id, periods, on)
        statement = select(Establishment.id, standing).join(
            Signature, latest_signature_join(Establishment.id)
        )
        for report, joined_on in reports:
            statement = statement.outerjoin(report, joined_on)
        in_sql = dict(db.execute(statement).all())
        assert len(in_sql) == len(cases)
        for establishment_id, report_states in expected_input.items():
            python = standing_from(latest[establishment_id], periods, report_states, on)
            assert in_sql[establishment_id] == python.value, (on, establishment_id, report_states)
            seen.add(python)
    assert seen == set(Standing) - {Standing.NOT_SIGNED}
