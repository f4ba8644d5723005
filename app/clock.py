"""The portal's idea of "today": dates of deadlines and filings are Peru's dates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.db import utcnow

LIMA = ZoneInfo("America/Lima")


def lima_date(moment: datetime) -> date:
    return moment.astimezone(LIMA).date()


def today() -> date:
    return lima_date(utcnow())
