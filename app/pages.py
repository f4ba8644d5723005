"""Pages that belong to no domain: home, data protection notice, health checks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text

from app.db import DbSession
from app.web import render

router = APIRouter()


@router.get("/")
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/privacy")
def privacy(request: Request) -> HTMLResponse:
    return render(request, "privacy.html")


@router.get("/livez")
async def alive() -> Response:
    """The process answers (no database): a constant page, also the baseline of bench/."""
    return Response("ok", media_type="text/plain")


@router.get("/healthz")
def health(db: DbSession) -> Response:
    """For the load balancer: answers once the database does."""
    db.execute(text("SELECT 1"))
    return Response("ok", media_type="text/plain")
