"""The account's API tokens page: create one (shown once), see when each was last used, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.api import tokens
from app.auth.dependencies import SignedInUser
from app.db import DbSession
from app.errors import DomainError
from app.i18n import _
from app.web import (
    FormState,
    PostedForm,
    RecordId,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
)

router = APIRouter()


def _page(
    request: Request,
    db: DbSession,
    user: SignedInUser,
    form: FormState,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "account/tokens.html",
        {
            "tokens": tokens.active_tokens(db_session=db, user=user),
            "form": form,
            "new_token": new_token,
        },
        status_code=status_code,
    )


@router.get("/account/tokens")
def tokens_page(request: Request, db: DbSession, user: SignedInUser) -> HTMLResponse:
    return _page(request, db, user, form_state())


@router.post("/account/tokens")
def create_token(
    request: Request, posted: PostedForm, db: DbSession, user: SignedInUser
) -> Response:
    name = str(posted.get("name") or "").strip()
    form = form_state({"name": name})
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
        return _page(request, db, user, form, status_code=400)
    try:
        _record, token = tokens.create_token(db_session=db, user=user, name=name)
    except DomainError as exc:
        form.add_error(exc.field, exc.message)
        return _page(request, db, user, form, status_code=400)
    # Shown on this answer only (never put in a cookie or a link): only its hash is kept.
    return _page(request, db, user, form_state(), new_token=token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: RecordId, posted: PostedForm, db: DbSession, user: SignedInUser
) -> Response:
    if not check_csrf(request, posted):
        return redirect(request, "/account/tokens", flash=csrf_error_message(), kind="error")
    record = tokens.revoke_token(db_session=db, user=user, token_id=token_id)
    return redirect(
        request,
        "/account/tokens",
        flash=_("The token %(name)s has been revoked: it no longer works.", name=record.name),
    )
