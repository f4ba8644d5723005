"""The public register: search, an establishment's public page, its badge. GET only, no JavaScript:
every search is a plain URL that can be bookmarked and shared."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from app.db import DbSession
from app.errors import NotFound
from app.establishments.standing import Standing
from app.i18n import LOCALES, get_locale
from app.jurisdiction import current_scheme
from app.register import service
from app.register.badge import badge_pdf, public_url
from app.register.cache import cached_page
from app.web import (
    category_name,
    category_option,
    form_state,
    option_tags,
    region_name,
    region_option,
    render,
)

router = APIRouter()

#: An establishment's id in the register's URLs; anything else is a 404.
EntryId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_LONGEST_PAGE = 10**9


def _page_number(text: str) -> int:
    """The page asked for; anything that is not a page number means the first one."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return 1
    return max(1, int(text)) if len(text) <= 9 else _LONGEST_PAGE


def read_query(request: Request) -> service.RegisterQuery:
    """The search in the URL, each part kept only if it means something."""
    params = request.query_params
    scheme = current_scheme()
    region = params.get("region", "").strip()
    category = params.get("category", "").strip()
    standing = params.get("standing", "").strip()
    return service.RegisterQuery(
        q=" ".join(params.get("q", "").split())[:200],
        region=region if scheme.region(region) else "",
        province=" ".join(params.get("province", "").split())[:100],
        category=category if scheme.category(category) else "",
        standing=standing if standing in {s.value for s in service.LISTED_STANDINGS} else "",
        page=_page_number(params.get("page", "1")),
    )


@router.get("/register")
async def register_search(request: Request) -> HTMLResponse:
    return await cached_page(request, lambda db, csrf: _search_page(request, db, csrf))


def _search_page(request: Request, db: DbSession, csrf: str) -> HTMLResponse:
    query = read_query(request)
    result = service.search(db_session=db, query=query)
    return render(
        request,
        "register/search.html",
        {
            "csrf_token": csrf,
            "query": query,
            "form": form_state(
                {
                    "q": query.q,
                    "region": query.region,
                    "province": query.province,
                    "category": query.category,
                    "standing": query.standing,
                }
            ),
            "result": result,
            "searched": not query.is_empty,
            "described": _described(query),
            "options": {
                name: option_tags(choices, getattr(query, name))
                for name, choices in _choices(get_locale()).items()
            },
        },
    )


@lru_cache(maxsize=len(LOCALES))
def _choices(locale: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """The search form's lists in `locale` (the current one), built once per language."""
    scheme = current_scheme()
    return {
        "region": tuple(region_option(r) for r in scheme.regions),
        "category": tuple(category_option(c) for c in scheme.categories),
        "standing": tuple((s.value, s.label) for s in service.LISTED_STANDINGS),
    }


def _described(query: service.RegisterQuery) -> str:
    """The search in words, for the page's title."""
    parts = [
        f"“{query.q}”" if query.q else "",
        region_name(query.region) if query.region else "",
        query.province,
        category_name(query.category) if query.category else "",
        Standing(query.standing).label if query.standing else "",
    ]
    return ", ".join(p for p in parts if p)


@router.get("/register/{entry_id}")
async def register_entry(request: Request, entry_id: EntryId) -> HTMLResponse:
    return await cached_page(request, lambda db, csrf: _entry_page(request, db, entry_id, csrf))


def _entry_page(request: Request, db: DbSession, entry_id: int, csrf: str) -> HTMLResponse:
    details = service.public_page(db_session=db, entry_id=entry_id)
    return render(
        request,
        "register/entry.html",
        {
            "csrf_token": csrf,
            "details": details,
            "entry": details.entry,
            "public_url": public_url(request.app.state.settings.base_url, entry_id),
            "Standing": Standing,
        },
    )


@router.get("/register/{entry_id}/badge.pdf")
def register_badge(request: Request, db: DbSession, entry_id: EntryId) -> Response:
    """Only for a signature in force: a suspended or withdrawn signatory has no badge to show."""
    details = service.public_page(db_session=db, entry_id=entry_id)
    if not details.active:
        raise NotFound()
    pdf = badge_pdf(entry=details.entry, base_url=request.app.state.settings.base_url)
    filename = f"badge-{details.entry.signatory_number}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{filename}"'},
    )
