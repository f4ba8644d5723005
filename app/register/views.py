"""The public register page."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.db import DbSession
from app.jurisdiction import current_scheme
from app.register import service
from app.web import form_state, render

router = APIRouter()
PER_PAGE = 20


@router.get("/register")
def register_search(
    request: Request,
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    region: Annotated[str, Query(max_length=10)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    scheme = current_scheme()
    region = region if scheme.region(region) else ""
    category = category if scheme.category(category) else ""
    entries, total = service.search(
        db_session=db, q=q, region=region, category=category, page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "register/search.html",
        {
            "form": form_state({"q": q, "region": region, "category": category}),
            "entries": entries,
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / PER_PAGE)),
            "regions": scheme.regions,
            "categories": scheme.categories,
        },
    )
