"""Wiring the JSON API into the application: problem details, rate-limit headers, Swagger UI assets."""

from __future__ import annotations

from fastapi import FastAPI

from app.api import docs, problems
from app.api.ratelimit import RateLimitHeaders


def install(app: FastAPI) -> None:
    """Call after the HTML error pages are registered (the API's handlers wrap them)."""
    problems.install(app)
    docs.mount_assets(app)
    app.add_middleware(RateLimitHeaders)
