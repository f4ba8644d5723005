"""Operators' pages: the dashboard of their establishments, adding one, an establishment's page."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import SignedInUser, require
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.conduct import service as conduct
from app.conduct.models import Signature
from app.db import DbSession
from app.errors import DomainError
from app.establishments import service
from app.establishments.forms import EstablishmentForm
from app.establishments.models import Establishment
from app.establishments.standing import latest_signatures, standings
from app.i18n import _
from app.jurisdiction import current_scheme
from app.web import FormState, PostedForm, RecordId, form_state, redirect, render, validate_form

router = APIRouter()
Operator = Annotated[User, Depends(require(Permission.MANAGE_OWN_ESTABLISHMENTS))]
PER_PAGE = 50


@router.get("/dashboard")
def dashboard(
    request: Request,
    db: DbSession,
    user: SignedInUser,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    """Operators see the establishments they manage; staff those in their scope."""
    establishments, total = service.list_readable(
        db_session=db, user=user, page=page, per_page=PER_PAGE
    )
    ids = [e.id for e in establishments]
    signatures = latest_signatures(db, ids)  # type: ignore[arg-type]
    standing = standings(db, ids)  # type: ignore[arg-type]
    rows = [
        {"establishment": e, "signature": signatures.get(e.id), "standing": standing[e.id]}  # type: ignore[index]
        for e in establishments
    ]
    return render(
        request,
        "dashboard/dashboard.html",
        {"rows": rows, "total": total, "page": page, "pages": max(1, math.ceil(total / PER_PAGE))},
    )


def _establishment_form_context(form: object) -> dict[str, object]:
    scheme = current_scheme()
    return {"form": form, "regions": scheme.regions, "categories": scheme.categories}


@router.get("/establishments/new")
def new_establishment_page(request: Request, user: Operator) -> HTMLResponse:
    return render(
        request,
        "establishments/new.html",
        _establishment_form_context(form_state({"branch_code": "0000"})),
    )


@router.post("/establishments/new")
def new_establishment(
    request: Request, posted: PostedForm, db: DbSession, user: Operator
) -> Response:
    data, form = validate_form(request, EstablishmentForm, posted)
    if data is not None:
        try:
            establishment = service.create_establishment(db_session=db, user=user, data=data)
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                f"/establishments/{establishment.id}",
                flash=_(
                    "%(name)s has been added. You can now sign the Code for it.",
                    name=establishment.trade_name,
                ),
            )
    return render(
        request, "establishments/new.html", _establishment_form_context(form), status_code=400
    )


@router.get("/establishments/{establishment_id}")
def establishment_page(
    request: Request, establishment_id: RecordId, db: DbSession, user: SignedInUser
) -> HTMLResponse:
    establishment = service.get_readable(
        db_session=db, user=user, establishment_id=establishment_id
    )
    return detail_page(request, db, user, establishment)


def detail_page(
    request: Request,
    db: DbSession,
    user: User,
    establishment: Establishment,
    form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """An establishment's page; the signature-status forms post elsewhere and come back here with
    their errors."""
    establishment_id: int = establishment.id  # type: ignore[assignment]
    signature = latest_signatures(db, [establishment_id]).get(establishment_id)
    in_force = conduct.signature_in_force(db_session=db, establishment_id=establishment_id)
    can_manage = service.manages(db_session=db, user=user, establishment=establishment)
    return render(
        request,
        "establishments/detail.html",
        {
            "establishment": establishment,
            "signature": signature,
            "in_force": in_force,
            "standing": standings(db, [establishment_id])[establishment_id],
            "can_manage": can_manage,
            "reports": _reports_of(db, establishment),
            "certificates": _certificates_of(db, establishment_id),
            "can_reissue": has_permission(user.role, Permission.REVIEW_REPORTS),
            "status_actions": _status_actions(user, can_manage, in_force),
            "form": form or FormState(),
        },
        status_code=status_code,
    )


def _certificates_of(db: DbSession, establishment_id: int) -> list[dict[str, object]]:
    """The establishment's certificates, newest first, each with its live status."""
    from app.certificates import service as certificates

    signature = latest_signatures(db, [establishment_id]).get(establishment_id)
    return [
        {"certificate": c, "year": year, "live": certificates.status_of(c, signature)}
        for c, year in certificates.of_establishment(
            db_session=db, establishment_id=establishment_id
        )
    ]


def _status_actions(user: User, can_manage: bool, in_force: Signature | None) -> list[str]:
    """The signature-status forms to show this person now (the service checks again on posting)."""
    if in_force is None:
        return []
    possible = [
        a for a, (_to, sources) in conduct.STATUS_ACTIONS.items() if in_force.status in sources
    ]
    if has_permission(user.role, Permission.MANAGE_SIGNATURES):
        return [a for a in possible if a != "withdraw"]
    if can_manage:
        return [a for a in possible if a == "withdraw"]
    return []


def _reports_of(db: DbSession, establishment: Establishment) -> list[dict[str, object]]:
    """The periods the establishment must report on, with the state of each report."""
    from app.reports import service as reports

    periods = reports.periods_due(db_session=db, establishment=establishment)
    found = reports.reports_by_period(
        db_session=db,
        establishment_ids=[establishment.id],  # type: ignore[list-item]
        period_ids=[p.id for p in periods],  # type: ignore[misc]
    )
    return [
        {
            "period": p,
            "state": found[(establishment.id, p.id)].state  # type: ignore[index]
            if (establishment.id, p.id) in found
            else "not_started",
        }
        for p in periods
    ]
