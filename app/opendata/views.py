"""Open data and statistics: public pages and downloads, no sign-in."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from app.clock import today
from app.db import DbSession, utcnow
from app.errors import NotFound
from app.i18n import _
from app.jurisdiction import current_scheme
from app.opendata import charts, schema, service, statistics
from app.opendata.statistics import MEASURE_KEYS, MEASURES, YearStatistics
from app.opendata.suppression import PRIMARY, SECONDARY
from app.web import category_name, form_state, region_name, render

router = APIRouter()

Year = Annotated[int | None, Query(ge=2000, le=2100)]
RegionCode = Annotated[str, Query(max_length=10)]
CategoryCode = Annotated[str, Query(max_length=40)]


def _schema_url(request: Request) -> str:
    return request.app.state.settings.base_url.rstrip("/") + "/open-data/schema.json"


def _download_headers(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-cache"}


@router.get("/open-data")
def open_data(request: Request, db: DbSession) -> HTMLResponse:
    """What can be downloaded, under which licence, and what every field means."""
    scheme = current_scheme()
    return render(
        request,
        "opendata/index.html",
        {
            "fields": schema.FIELD_DOCS,
            "categories": scheme.categories,
            "regions": scheme.regions,
            "standings": schema.STANDINGS,
            "last_updated": service.last_updated(db_session=db),
            "licence_url": service.LICENCE_URL,
            "csv_name": service.file_name("csv"),
            "json_name": service.file_name("json"),
        },
    )


@router.get("/open-data/register.csv")
def register_csv(request: Request) -> StreamingResponse:
    """The whole register, streamed: the memory it takes does not grow with the register."""
    return StreamingResponse(
        service.csv_stream(request.app.state.engine),
        media_type=service.CSV_MEDIA_TYPE,
        headers=_download_headers(service.file_name("csv")),
    )


@router.get("/open-data/register.json")
def register_json(request: Request) -> StreamingResponse:
    return StreamingResponse(
        service.json_stream(request.app.state.engine, schema_url=_schema_url(request)),
        media_type=service.JSON_MEDIA_TYPE,
        headers=_download_headers(service.file_name("json")),
    )


@router.get("/open-data/schema.json")
def register_schema(request: Request) -> Response:
    body = json.dumps(schema.json_schema(_schema_url(request)), ensure_ascii=False, indent=2)
    return Response(
        body, media_type="application/schema+json", headers={"cache-control": "no-cache"}
    )


# --- statistics ------------------------------------------------------------------------------


def _filters(region: str, category: str) -> tuple[str | None, str | None]:
    """Codes the scheme knows; anything else means no filter (as the register search does)."""
    scheme = current_scheme()
    return (
        region if scheme.region(region) else None,
        category if scheme.category(category) else None,
    )


def _statistics(db: DbSession, year: int | None) -> YearStatistics | None:
    """The protected tables of the year asked for (404 if no such period has opened), or of the
    latest period; None when no period has opened yet."""
    if year is None and not statistics.published_periods(db_session=db):
        return None
    period = statistics.period_for(db_session=db, year=year)
    return statistics.year_statistics(db_session=db, period=period)


def _query(stats: YearStatistics, region: str | None, category: str | None) -> str:
    params = {"year": stats.period.year, "region": region or "", "category": category or ""}
    return urlencode({k: v for k, v in params.items() if v})


@router.get("/statistics")
def statistics_page(
    request: Request,
    db: DbSession,
    year: Year = None,
    region: RegionCode = "",
    category: CategoryCode = "",
) -> HTMLResponse:
    """Figures by year, region and category, as tables and charts."""
    region_code, category_code = _filters(region, category)
    stats = _statistics(db, year)
    context: dict[str, object] = {"stats": stats}
    if stats is not None:
        view = statistics.view(stats, region_code, category_code)
        scheme = current_scheme()
        context.update(
            view=view,
            measures=MEASURES,
            charts=charts.charts(view),
            year_options=[
                (str(p.year), _("Report on %(year)s", year=p.year))
                for p in statistics.published_periods(db_session=db)
            ],
            region_options=[(r.code, r.name) for r in scheme.regions],
            category_options=[(c.code, category_name(c.code)) for c in scheme.categories],
            form=form_state(
                {"year": stats.period.year, "region": region_code, "category": category_code}
            ),
            query=_query(stats, region_code, category_code),
            primary=PRIMARY,
            secondary=SECONDARY,
        )
    return render(request, "opendata/statistics.html", context)


def _statistics_or_404(db: DbSession, year: int | None) -> YearStatistics:
    stats = _statistics(db, year)
    if stats is None:
        raise NotFound()
    return stats


def _statistics_name(
    stats: YearStatistics, region: str | None, category: str | None, ext: str
) -> str:
    parts = [
        "estadisticas",
        str(stats.period.year),
        region or "",
        category or "",
        today().isoformat(),
    ]
    return "-".join(p for p in parts if p) + f".{ext}"


@router.get("/statistics.csv")
def statistics_csv(
    db: DbSession, year: Year = None, region: RegionCode = "", category: CategoryCode = ""
) -> Response:
    """Every cell of the selection (totals included), suppressed exactly as on the page."""
    region_code, category_code = _filters(region, category)
    stats = _statistics_or_404(db, year)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["year", "region", "region_name", "category", "category_name", *MEASURE_KEYS])
    for row_region, row_category, values in statistics.download_rows(
        stats, region_code, category_code
    ):
        writer.writerow(
            [
                stats.period.year,
                row_region,
                region_name(row_region) if row_region != statistics.TOTAL else _("All regions"),
                row_category,
                category_name(row_category)
                if row_category != statistics.TOTAL
                else _("All categories"),
                *(values[key] for key in MEASURE_KEYS),
            ]
        )
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type=service.CSV_MEDIA_TYPE,
        headers=_download_headers(_statistics_name(stats, region_code, category_code, "csv")),
    )


@router.get("/statistics.json")
def statistics_json(
    db: DbSession, year: Year = None, region: RegionCode = "", category: CategoryCode = ""
) -> Response:
    region_code, category_code = _filters(region, category)
    stats = _statistics_or_404(db, year)
    body = {
        "year": stats.period.year,
        "as_of": stats.on.isoformat(),
        "generated_at": utcnow().isoformat(),
        "licence": service.LICENCE_URL,
        "suppressed": {
            PRIMARY: _("a count from 1 to 4"),
            SECONDARY: _(
                "a count of 5 or more, hidden so that a count under 5 cannot be worked out from the totals"
            ),
        },
        "total_code": statistics.TOTAL,
        "cells": [
            {"region": r, "category": c, **values}
            for r, c, values in statistics.download_rows(stats, region_code, category_code)
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        media_type=service.JSON_MEDIA_TYPE,
        headers=_download_headers(_statistics_name(stats, region_code, category_code, "json")),
    )
