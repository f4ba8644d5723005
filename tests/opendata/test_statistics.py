"""Public statistics by year, region and category: the right counts, suppressed the same way on the
page, in its charts and in both downloads, with no hidden count recoverable from what is published."""

from __future__ import annotations

import csv
import io

import pytest

from app.clock import today
from app.jurisdiction import current_scheme
from app.opendata.statistics import MEASURE_KEYS, TOTAL
from app.opendata.suppression import PRIMARY, SECONDARY, disclosed, extend, primary
from tests.conftest import page, post_form
from tests.opendata.attacker import peel
from tests.opendata.conftest import period, report, signatory

REGIONS = [r.code for r in current_scheme().regions]
CATEGORIES = [c.code for c in current_scheme().categories]

# Deadline passed 10 days ago, grace (30 days) not over: no report yet is "overdue".
# (region, category) -> list of (report state or None, cases detected, cases reported)
SEEDS = {
    ("PE-CUS", "lodging"): [("approved", 2, 1)] * 5 + [("submitted", 0, 0)],
    ("PE-CUS", "restaurant"): [("approved", 1, 1), (None, 0, 0)],
    ("PE-CUS", "travel_agency"): [("approved", 0, 0)] * 6 + [("draft", 0, 0)] * 3,
    ("PE-MDD", "lodging"): [("submitted", 0, 0)] * 7,
    ("PE-MDD", "travel_agency"): [("approved", 3, 3)] * 5 + [("rejected", 0, 0)],
    ("PE-PUN", "lodging"): [("changes_requested", 0, 0)] * 3,
}


def _true_cells() -> dict[str, list[list[int]]]:
    cells = {key: [[0] * len(CATEGORIES) for _ in REGIONS] for key in MEASURE_KEYS}
    for (region, category), rows in SEEDS.items():
        i, j = REGIONS.index(region), CATEGORIES.index(category)
        for state, detected, reported in rows:
            cells["signatories"][i][j] += 1
            cells["filed"][i][j] += state not in (None, "draft")
            cells["approved"][i][j] += state == "approved"
            cells["overdue"][i][j] += state in (None, "draft", "changes_requested")
            cells["non_compliant"][i][j] += state == "rejected"
            if state == "approved":
                cells["cases_detected"][i][j] += detected
                cells["cases_reported"][i][j] += reported
    return cells


@pytest.fixture
def seeded(db):
    last = period(db, today().year - 1, deadline=-10)
    for (region, category), rows in SEEDS.items():
        for state, detected, reported in rows:
            establishment = signatory(db, region=region, category=category)
            if state is not None:
                report(db, establishment, last, state, detected, reported)
    # Not obliged: signed after the cut-off.
    signatory(db, region="PE-CUS", signed_days_ago=1)
    db.commit()
    return last


def _download_grids(rows: list[dict[str, object]]) -> dict[str, list[list[object]]]:
    """The published tables, rebuilt from a download's cells."""
    grids = {
        key: [[None] * (len(CATEGORIES) + 1) for _ in range(len(REGIONS) + 1)]
        for key in MEASURE_KEYS
    }
    for row in rows:
        i = len(REGIONS) if row["region"] == TOTAL else REGIONS.index(row["region"])  # type: ignore[arg-type]
        j = len(CATEGORIES) if row["category"] == TOTAL else CATEGORIES.index(row["category"])  # type: ignore[arg-type]
        for key in MEASURE_KEYS:
            value = row[key]
            grids[key][i][j] = int(value) if isinstance(value, str) and value.isdigit() else value
    return grids


def _csv_rows(response) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_naive_tables_would_leak(seeded):
    """The seeds are chosen so that hiding only the small counts gives some away through totals."""
    leaks = {key: peel(primary(extend(grid))) for key, grid in _true_cells().items()}
    assert leaks["signatories"], "Cusco's 2 restaurants = Cusco's total minus its other cells"
    assert leaks["cases_detected"]


def test_downloads_publish_true_or_suppressed_counts_and_nothing_can_be_recovered(client, seeded):
    true = {key: extend(grid) for key, grid in _true_cells().items()}
    from_csv = _download_grids(_csv_rows(client.get("/statistics.csv")))
    document = client.get("/statistics.json").json()
    assert document["year"] == seeded.year
    from_json = _download_grids(document["cells"])
    for key in MEASURE_KEYS:
        assert from_csv[key] == from_json[key], key
        grid = from_csv[key]
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                real = true[key][i][j]
                if value == PRIMARY:
                    assert 1 <= real <= 4
                elif value == SECONDARY:
                    assert real >= 5
                else:
                    assert value == real and not 1 <= real <= 4, (key, i, j, value, real)
        assert peel(grid) == {}, key
        assert disclosed(grid) == {}, key  # type: ignore[arg-type]
    # Large counts are published as they are.
    national = from_csv["signatories"][-1][-1]
    assert national == sum(len(rows) for rows in SEEDS.values())
    assert from_csv["cases_detected"][-1][-1] in (26, SECONDARY)


def _table(response, table_id: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    table = page(response).find("table", id=table_id)
    assert table is not None, table_id
    return {
        tr.find("th").get_text(strip=True): [td.get_text(strip=True) for td in tr.find_all("td")]
        for tr in table.select("tbody tr, tfoot tr")
    }


def test_the_page_shows_the_same_cells_as_the_downloads(client, seeded):
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    response = client.get("/statistics")
    assert response.status_code == 200
    grid = _download_grids(_csv_rows(client.get(f"/statistics.csv?year={seeded.year}")))
    regions = _table(response, "table-regions")
    assert len(regions) == len(REGIONS) + 1
    for i, code in enumerate(REGIONS):
        name = current_scheme().region(code).name  # type: ignore[union-attr]
        assert regions[name] == [str(grid[key][i][-1]) for key in MEASURE_KEYS], name
    assert regions["Total"] == [str(grid[key][-1][-1]) for key in MEASURE_KEYS]
    categories = _table(response, "table-categories")
    assert categories["Restaurant"] == [
        str(grid[key][-1][CATEGORIES.index("restaurant")]) for key in MEASURE_KEYS
    ]
    total = [dd.get_text(strip=True) for dd in page(response).select("#total dd")]
    assert total == [str(grid[key][-1][-1]) for key in MEASURE_KEYS]

    # Filtered by region: Cusco's row of the same tables, category by category.
    cusco = client.get("/statistics?region=PE-CUS")
    by_category = _table(cusco, "table-categories")
    i = REGIONS.index("PE-CUS")
    for j, code in enumerate(CATEGORIES):
        name = current_scheme().category(code).name["en"]  # type: ignore[union-attr]
        assert by_category[name] == [str(grid[key][i][j]) for key in MEASURE_KEYS]
    assert by_category["Total"] == [str(grid[key][i][-1]) for key in MEASURE_KEYS]
    assert _table(cusco, "table-regions") == {"Cusco": by_category["Total"]}
    cusco_csv = _csv_rows(client.get("/statistics.csv?region=PE-CUS"))
    assert {r["region"] for r in cusco_csv} == {"PE-CUS"}
    assert len(cusco_csv) == len(CATEGORIES) + 1


def test_charts_draw_no_bar_for_a_hidden_count(client, seeded):
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    response = client.get("/statistics?region=PE-CUS")
    svg = page(response).find("svg", id="chart-categories")
    assert svg is not None
    texts = [t.get_text() for t in svg.find_all("text")]
    grid = _download_grids(_csv_rows(client.get("/statistics.csv?region=PE-CUS")))
    i = REGIONS.index("PE-CUS")
    shown = [
        grid["signatories"][i][j] for j in range(len(CATEGORIES)) if grid["signatories"][i][j] != 0
    ]
    assert [t for t in texts if t in (PRIMARY, SECONDARY) or t.isdigit()] == [str(v) for v in shown]
    assert PRIMARY in texts
    assert len(svg.find_all("rect")) == sum(isinstance(v, int) for v in shown)


def test_filters_and_years(client, db, seeded):
    assert client.get("/statistics?year=1999").status_code == 400
    assert client.get("/statistics?year=abc").status_code == 400
    assert client.get(f"/statistics?year={seeded.year - 5}").status_code == 404
    assert client.get(f"/statistics.csv?year={seeded.year - 5}").status_code == 404
    # An unknown region or category is no filter at all.
    unknown = client.get("/statistics?region=PE-XXX&category=casino")
    assert unknown.status_code == 200
    assert len(_table(unknown, "table-regions")) == len(REGIONS) + 1
    disposition = client.get(f"/statistics.csv?year={seeded.year}&region=PE-CUS").headers[
        "content-disposition"
    ]
    assert (
        disposition
        == f'attachment; filename="estadisticas-{seeded.year}-PE-CUS-{today().isoformat()}.csv"'
    )


def test_no_period_yet(client):
    response = client.get("/statistics")
    assert response.status_code == 200
    assert page(response).find("table") is None
    assert client.get("/statistics.csv").status_code == 404
