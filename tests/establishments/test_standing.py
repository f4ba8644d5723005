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
