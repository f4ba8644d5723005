"""The staff dashboard: the figures a reviewer sees for a period, by region and by category, their
downloads (CSV, XLSX) and charts, and who may see which region."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, update

from app.clock import today
from app.conduct.models import Signature
from app.dashboard.service import PeriodStatus, period_figures, period_status
from app.reports import service
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.web import LANG_COOKIE
from tests import factories
from tests.conftest import (
    make_user,
    page,
    post_form,
    sign_in,
)

FIELDS = ("must_file", "filed", "approved", "pending", "overdue", "non_compliant", "not_due")

# Who files what for the period whose deadline passed 5 days ago (grace not over):
# trade name -> (region, category, report state or None, number of submissions).
ESTABLISHMENTS = {
    "Hostal Ñusta": ("PE-CUS", "lodging", "approved", 1),
    "Inka Trails": ("PE-CUS", "travel_agency", "submitted", 1),
    "Hostal Qoricancha": ("PE-CUS", "lodging", None, 0),
    "Restaurante Pachapapa": ("PE-CUS", "restaurant", "rejected", 1),
    "Tambopata Lodge": ("PE-MDD", "lodging", "changes_requested", 1),
    "Posada Amazonas": ("PE-MDD", "lodging", "resubmitted", 2),
    "Madre de Dios Tours": ("PE-MDD", "travel_agency", "draft", 0),
}
EXPECTED_REGIONS = {
    "Cusco": dict(
        must_file=4, filed=3, approved=1, pending=1, overdue=1, non_compliant=1, not_due=0
    ),
    "Madre de Dios": dict(
        must_file=3, filed=2, approved=0, pending=1, overdue=2, non_compliant=0, not_due=0
    ),
}
EXPECTED_CATEGORIES = {
    "Lodging establishment": dict(
        must_file=4, filed=3, approved=1, pending=1, overdue=2, non_compliant=0, not_due=0
    ),
    "Travel and tourism agency": dict(
        must_file=2, filed=1, approved=0, pending=1, overdue=1, non_compliant=0, not_due=0
    ),
    "Restaurant": dict(
        must_file=1, filed=1, approved=0, pending=0, overdue=0, non_compliant=1, not_due=0
    ),
}
EXPECTED_TOTAL = dict(
    must_file=7, filed=5, approved=1, pending=2, overdue=3, non_compliant=1, not_due=0
)
CUSCO_ONLY_CATEGORIES = {
    "Lodging establishment": dict(
        must_file=2, filed=1, approved=1, pending=0, overdue=1, non_compliant=0, not_due=0
    ),
    "Travel and tourism agency": dict(
        must_file=1, filed=1, approved=0, pending=1, overdue=0, non_compliant=0, not_due=0
    ),
    "Restaurant": EXPECTED_CATEGORIES["Restaurant"],
}


def _period(db, year: int, opens: int, deadline: int, cutoff: int) -> ReportingPeriod:
    """A period with dates `n` days from today (negative: in the past)."""
    now = today()
    return service.create_period(
        db_session=db,
        data=service.PeriodInput(
            year=year,
            opens_on=now + timedelta(days=opens),
            deadline=now + timedelta(days=deadline),
            grace_days=30,
            cutoff_on=now + timedelta(days=cutoff),
        ),
    )


def _report(db, establishment_id: int, period: ReportingPeriod, state: str, filings: int) -> None:
    """A report in `state`, as a reviewer's decision would leave it, with its submissions."""
    report = AnnualReport(
        establishment_id=establishment_id,
        period_id=period.id,
        state=state,
        content={"sections": {}},
    )
    db.add(report)
    db.flush()
    for number in range(1, filings + 1):
        filed = {"year": period.year, "sections": {}, "evidence": []}
        db.add(
            ReportSubmission(
                report_id=report.id,
                number=number,
                content=filed,
                content_sha256=service.canonical_sha256(filed),
            )
        )


@pytest.fixture
def portal(client, db):
    """Three periods (grace over, deadline just passed, open now) and establishments in Cusco and
    Madre de Dios, signed by their operator, plus two that need not file."""
    older = _period(db, today().year - 3, opens=-430, deadline=-400, cutoff=-440)
    recent = _period(db, today().year - 2, opens=-40, deadline=-5, cutoff=-45)
    current = _period(db, today().year - 1, opens=-10, deadline=20, cutoff=-1)
    db.commit()

    client.cookies.set(LANG_COOKIE, "en")  # pages in English, as after the language switch
    operator = make_user(db, "rosa@hostal.pe")
    ids = {}
    for branch, (name, (region, category, _state, _filings)) in enumerate(ESTABLISHMENTS.items()):
        town = "Cusco" if region == "PE-CUS" else "Tambopata"
        ids[name] = factories.establishment(
            db,
            operator,
            branch_code=f"{branch + 1:04d}",
            trade_name=name,
            category=category,
            region=region,
            province=town,
            district=town,
        )
        factories.signature(db, operator, ids[name])
    # Signed long ago, so that they had to file for every period.
    long_ago = datetime.combine(today() - timedelta(days=500), datetime.min.time(), tzinfo=UTC)
    db.execute(update(Signature).values(signed_at=long_ago))
    db.commit()
    # Not a signatory: nothing to file. Signed today: after every cut-off, nothing to file yet.
    factories.establishment(
        db, operator, branch_code="0100", trade_name="Sin Firma", region="PE-CUS"
    )
    late = factories.establishment(
        db, operator, branch_code="0101", trade_name="Recién Llegado", region="PE-MDD"
    )
    factories.signature(db, operator, late)

    for name, (_region, _category, state, filings) in ESTABLISHMENTS.items():
        if state is not None:
            _report(db, ids[name], recent, state, filings)
    db.commit()
    return {"older": older, "recent": recent, "current": current, "ids": ids}


def _as(client, db, email: str, role: str, regions: tuple[str, ...] = ()) -> None:
    make_user(db, email, role=role, regions=regions)
    sign_in(client, email)


def _table(response, table_id: str) -> dict[str, dict[str, int]]:
    """A dashboard table as a person reads it: row heading -> figures (the footer as "Total")."""
    table = page(response).find("table", id=table_id)
    assert table is not None, table_id
    headings = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    assert headings[1:] == [
        "Must file",
        "Filed",
        "Approved",
        "Pending review",
        "Overdue",
        "Non-compliant",
        "Not due yet",
    ]
    rows = {}
    for tr in table.select("tbody tr, tfoot tr"):
        name = tr.find("th").get_text(" ", strip=True)
        rows[name] = dict(
            zip(FIELDS, (int(td.get_text(strip=True)) for td in tr.find_all("td")), strict=True)
        )
    return rows


def _nonzero(rows: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {name: figures for name, figures in rows.items() if any(figures.values())}


# --- the rule for one period ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "on", "expected"),
    [
        ("approved", date(2026, 6, 1), PeriodStatus.APPROVED),
        ("rejected", date(2026, 2, 1), PeriodStatus.NON_COMPLIANT),
        ("submitted", date(2026, 6, 1), PeriodStatus.PENDING),
        ("resubmitted", date(2026, 2, 1), PeriodStatus.PENDING),
        (None, date(2026, 3, 31), PeriodStatus.NOT_DUE),
        ("draft", date(2026, 2, 1), PeriodStatus.NOT_DUE),
        ("changes_requested", date(2026, 3, 31), PeriodStatus.NOT_DUE),
        (None, date(2026, 4, 1), PeriodStatus.OVERDUE),
        ("changes_requested", date(2026, 4, 30), PeriodStatus.OVERDUE),
        ("draft", date(2026, 5, 1), PeriodStatus.NON_COMPLIANT),
        (None, date(2027, 1, 1), PeriodStatus.NON_COMPLIANT),
    ],
)
def test_a_report_stands_by_the_rules_of_standing_for_its_period(state, on, expected):
    period = ReportingPeriod(
        year=2025,
        opens_on=date(2026, 1, 1),
        deadline=date(2026, 3, 31),
        grace_days=30,
        cutoff_on=date(2025, 12, 31),
        report_form_id=1,
    )
    assert period_status(period, state, on) == expected


# --- what staff see ------------------------------------------------------------------------------


def test_a_national_reviewer_sees_every_region_for_the_latest_period_by_default(client, db, portal):
    _as(client, db, "nacional@mincetur.gob.pe", "national_reviewer")
    response = client.get("/staff/dashboard")
    assert response.status_code == 200
    year = portal["current"].year
    selected = page(response).select_one("#field-year option[selected]")
    assert selected is not None and selected["value"] == str(year)
    regions = _table(response, "table-regions")
    assert len(regions) == 26 + 1  # every region, and the total
    # The period open now: everyone still has time, nobody is overdue.
    assert regions["Total"] == dict(
        EXPECTED_TOTAL, filed=0, approved=0, pending=0, overdue=0, non_compliant=0, not_due=7
    )

    response = client.get(f"/staff/dashboard?year={portal['recent'].year}")
    assert response.status_code == 200
    assert _nonzero(_table(response, "table-regions")) == {
        **EXPECTED_REGIONS,
        "Total": EXPECTED_TOTAL,
    }
    assert _nonzero(_table(response, "table-categories")) == {
        **EXPECTED_CATEGORIES,
        "Total": EXPECTED_TOTAL,
    }

    # Past the grace period, nobody who never filed is merely overdue any more.
    response = client.get(f"/staff/dashboard?year={portal['older'].year}")
    assert _table(response, "table-regions")["Total"] == dict(
        must_file=7, filed=0, approved=0, pending=0, overdue=0, non_compliant=7, not_due=0
    )


def test_the_region_filter_narrows_every_figure(client, db, portal):
    _as(client, db, "nacional@mincetur.gob.pe", "national_reviewer")
    response = client.get(f"/staff/dashboard?year={portal['recent'].year}&region=PE-CUS")
    assert response.status_code == 200
    assert _table(response, "table-regions") == {
        "Cusco": EXPECTED_REGIONS["Cusco"],
        "Total": EXPECTED_REGIONS["Cusco"],
    }
    assert _nonzero(_table(response, "table-categories")) == {
        **CUSCO_ONLY_CATEGORIES,
        "Total": EXPECTED_REGIONS["Cusco"],
    }
    assert client.get("/staff/dashboard?region=PE-XXX").status_code == 404


def test_a_regional_reviewer_counts_only_their_region(client, db, portal):
    _as(client, db, "cusco@dircetur.gob.pe", "reviewer", regions=("PE-CUS",))
    year = portal["recent"].year
    response = client.get(f"/staff/dashboard?year={year}")
    assert response.status_code == 200
    assert _table(response, "table-regions") == {
        "Cusco": EXPECTED_REGIONS["Cusco"],
        "Total": EXPECTED_REGIONS["Cusco"],
    }
    assert _nonzero(_table(response, "table-categories")) == {
        **CUSCO_ONLY_CATEGORIES,
        "Total": EXPECTED_REGIONS["Cusco"],
    }
    options = [o["value"] for o in page(response).select("#field-region option")]
    assert options == ["", "PE-CUS"]
    assert "Madre de Dios" not in response.text

    for path in ("/staff/dashboard", "/staff/dashboard.csv", "/staff/dashboard.xlsx"):
        response = client.get(f"{path}?year={year}&region=PE-MDD")
        assert response.status_code == 404, path
        assert "Tambopata" not in response.text
    csv_rows = list(csv.reader(io.StringIO(client.get(f"/staff/dashboard.csv?year={year}").text)))
    assert {row[2] for row in csv_rows if row[0] == "Region"} == {"Cusco"}
    assert csv_rows[-1][3:] == [str(EXPECTED_REGIONS["Cusco"][f]) for f in FIELDS]


def test_the_csv_and_the_spreadsheet_hold_the_table_of_the_page(client, db, portal):
    _as(client, db, "nacional@mincetur.gob.pe", "national_reviewer")
    year = portal["recent"].year
    html = client.get(f"/staff/dashboard?year={year}&region=PE-MDD")
    links = [a["href"] for a in page(html).select("a[download]")]
    assert links == [
        f"/staff/dashboard.csv?year={year}&region=PE-MDD",
        f"/staff/dashboard.xlsx?year={year}&region=PE-MDD",
    ]
    seen = {
        "Region": _table(html, "table-regions"),
        "Category": _table(html, "table-categories"),
    }
    expected = [
        [breakdown, name, *(figures[f] for f in FIELDS)]
        for breakdown, rows in seen.items()
        for name, figures in rows.items()
        if name != "Total"
    ] + [["Total", "", *(seen["Region"]["Total"][f] for f in FIELDS)]]

    response = client.get(links[0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="dashboard-{year}-PE-MDD.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for accents
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "Breakdown",
        "Code",
        "Name",
        "Must file",
        "Filed",
        "Approved",
        "Pending review",
        "Overdue",
        "Non-compliant",
        "Not due yet",
    ]
    assert [[r[0], r[2], *(int(v) for v in r[3:])] for r in rows[1:]] == expected
    assert rows[1][:3] == ["Region", "PE-MDD", "Madre de Dios"]

    response = client.get(links[1])
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        f'attachment; filename="dashboard-{year}-PE-MDD.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [str(v) for v in cells[0]] == rows[0]
    assert [[r[0], r[2] or "", *r[3:]] for r in cells[1:]] == expected

    everywhere = client.get(f"/staff/dashboard.csv?year={year}")
    assert (
        'filename="dashboard-' + str(year) + '-all-regions.csv"'
        in everywhere.headers["content-disposition"]
    )


def test_the_charts_are_svg_with_a_title_and_a_description(client, db, portal):
    _as(client, db, "admin@mincetur.gob.pe", "admin")
    response = client.get(f"/staff/dashboard?year={portal['recent'].year}")
    charts = page(response).select("svg[role=img]")
    assert len(charts) == 2
    for chart in charts:
        title_id, desc_id = chart["aria-labelledby"].split()
        assert (
            chart.find("title", id=title_id)
            .get_text(strip=True)
            .startswith(f"Reports on {portal['recent'].year} by")
        )
        assert "must file" in chart.find("desc", id=desc_id).get_text()
        assert not chart.select("[style], script")
    by_region = page(response).find("svg", id="chart-regions")
    labels = [t.get_text() for t in by_region.find_all("text")]
    assert {"Cusco", "Madre de Dios", "Approved", "Non-compliant"} <= set(labels)
    assert "Amazonas" not in labels  # nobody must file there: in the table, not in the chart
    assert "4" in labels and "3" in labels  # the totals at the end of the bars
    nav = [a.get_text(strip=True) for a in page(response).select(".site-header__nav a")]
    assert "Dashboard" in nav


def test_figures_take_a_fixed_number_of_queries(db, portal):
    from app.auth.service import get_user_by_email

    make_user(db, "nacional@mincetur.gob.pe", role="national_reviewer")
    user = get_user_by_email(db_session=db, email="nacional@mincetur.gob.pe")
    statements = []
    engine = db.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        figures = period_figures(db_session=db, user=user, period=portal["recent"], region=None)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert figures.total.must_file == 7
    assert len(statements) <= 3, statements


# --- who may see it ------------------------------------------------------------------------------


def test_operators_get_forbidden_and_visitors_are_sent_to_sign_in(client, db, portal):
    for path in ("/staff/dashboard", "/staff/dashboard.csv", "/staff/dashboard.xlsx"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/account/login?next=")
    sign_in(client, "rosa@hostal.pe")
    for path in ("/staff/dashboard", "/staff/dashboard.csv", "/staff/dashboard.xlsx"):
        assert client.get(path).status_code == 403, path
    nav = [a.get_text(strip=True) for a in page(client.get("/")).select(".site-header__nav a")]
    assert "Dashboard" not in nav


def test_unknown_periods_are_not_found_and_nonsense_is_refused(client, db, portal):
    _as(client, db, "nacional@mincetur.gob.pe", "national_reviewer")
    assert client.get("/staff/dashboard?year=2019").status_code == 404
    assert client.get("/staff/dashboard.csv?year=2019").status_code == 404
    assert client.get("/staff/dashboard?year=abc").status_code == 400


def test_before_any_period_opens_the_page_says_so(client, db):
    _as(client, db, "nacional@mincetur.gob.pe", "national_reviewer")
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    response = client.get("/staff/dashboard")
    assert response.status_code == 200
    assert "No reporting period has opened yet" in response.text
    assert client.get("/staff/dashboard.csv").status_code == 404
