"""Account pages: register, confirm, sign in and out, forgotten password, language."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.auth import service
from app.auth.dependencies import CurrentUser, SignedInUser
from app.auth.forms import ChangePasswordForm, EmailForm, LoginForm, RegisterForm, ResetForm
from app.db import DbSession
from app.errors import DomainError
from app.i18n import _, get_locale, normalize_locale, set_locale
from app.web import (
    PostedForm,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
    safe_next,
    set_language_cookie,
    set_session_id,
    validate_form,
)

router = APIRouter()


@router.post("/language")
def switch_language(
    request: Request, posted: PostedForm, db: DbSession, user: CurrentUser
) -> RedirectResponse:
    """Switch the language; remembered in a cookie and, when signed in, on the account."""
    locale = normalize_locale(str(posted.get("lang") or "")) or get_locale()
    next_url = safe_next(str(posted.get("next") or "/"))
    response = redirect(request, next_url)
    # Only the cookie is set without a valid token: a forged post can do no more than that.
    if user is not None and check_csrf(request, posted):
        service.set_user_locale(db_session=db, user=user, locale=locale)
    set_language_cookie(request, response, locale)
    return response


@router.get("/account/register")
def register_page(request: Request) -> HTMLResponse:
    return render(request, "account/register.html", {"form": form_state()})


@router.post("/account/register")
def register(request: Request, posted: PostedForm, db: DbSession) -> Response:
    data, form = validate_form(request, RegisterForm, posted)
    if data is None:
        return render(request, "account/register.html", {"form": form}, status_code=400)
    service.register_operator(
        db_session=db,
        settings=request.app.state.settings,
        email=data.email,
        password=data.password,
        locale=get_locale(),
    )
    return redirect(request, "/account/register/sent")


@router.get("/account/register/sent")
def register_sent(request: Request) -> HTMLResponse:
    return render(
        request,
        "account/check_mail.html",
        {
            "title": _("Check your e-mail"),
            "message": _(
                "We have sent a link to the address you gave. Open it to confirm the address and "
                "activate your account."
            ),
            "resend": True,
        },
    )


@router.get("/account/confirm/resend")
def resend_page(request: Request) -> HTMLResponse:
    return render(request, "account/email_form.html", _resend_context(form_state()))


def _resend_context(form: object) -> dict[str, object]:
    return {
        "form": form,
        "title": _("Send the confirmation link again"),
        "intro": _(
            "Enter the address you registered with. If it still needs confirming, we will send a new link."
        ),
        "submit": _("Send the link"),
        "action": "/account/confirm/resend",
    }


@router.post("/account/confirm/resend")
def resend(request: Request, posted: PostedForm, db: DbSession) -> Response:
    data, form = validate_form(request, EmailForm, posted)
    if data is None:
        return render(request, "account/email_form.html", _resend_context(form), status_code=400)
    service.resend_confirmation(
        db_session=db, settings=request.app.state.settings, email=data.email
    )
    return redirect(request, "/account/register/sent")


@router.get("/account/confirm/{token}")
def confirm_page(request: Request, token: str, db: DbSession) -> HTMLResponse:
    # Showing a button (not confirming on GET) keeps mail scanners that open links from using them up.
    problem = None
    try:
        service.check_confirm_token(db_session=db, token=token)
    except DomainError as exc:
        problem = exc.message
    return render(
        request,
        "account/confirm.html",
        {"form": form_state(), "token": token, "problem": problem},
        status_code=400 if problem else 200,
    )


@router.post("/account/confirm/{token}")
def confirm(request: Request, token: str, posted: PostedForm, db: DbSession) -> Response:
    form = form_state()
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
        return render(
            request,
            "account/confirm.html",
            {"form": form, "token": token, "problem": None},
            status_code=400,
        )
    try:
        service.confirm_email(db_session=db, token=token)
    except DomainError as exc:
        return render(
            request,
            "account/confirm.html",
            {"form": form, "token": token, "problem": exc.message},
            status_code=400,
        )
    return redirect(
        request, "/account/login", flash=_("Your e-mail address is confirmed. You can sign in now.")
    )


@router.get("/account/login")
def login_page(request: Request, user: CurrentUser, next: str = "") -> Response:
    if user is not None:
        return redirect(request, safe_next(next, "/dashboard"))
    return render(
        request, "account/login.html", {"form": form_state(), "next_url": safe_next(next, "")}
    )


@router.post("/account/login")
def login(request: Request, posted: PostedForm, db: DbSession) -> Response:
    next_url = safe_next(str(posted.get("next") or ""), "/dashboard")
    data, form = validate_form(request, LoginForm, posted)
    if data is not None:
        try:
            user = service.authenticate(
                db_session=db,
                settings=request.app.state.settings,
                email=data.email,
                password=data.password,
                address=request.client.host if request.client else "unknown",
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            # A new session id at sign-in: a planted id is worth nothing.
            sid = service.start_session(db_session=db, user=user)
            response = redirect(request, next_url)
            set_session_id(request, response, sid)
            if request.state.cookie_locale is None:
                set_language_cookie(request, response, user.locale)
            else:
                set_locale(request.state.cookie_locale)
            return response
    return render(
        request, "account/login.html", {"form": form, "next_url": next_url}, status_code=400
    )


@router.post("/account/logout")
def logout(request: Request, posted: PostedForm, db: DbSession) -> RedirectResponse:
    if check_csrf(request, posted):
        service.end_session(db_session=db, sid=request.state.sid)
        response = redirect(request, "/", flash=_("You have signed out."), kind="info")
        set_session_id(request, response, secrets.token_urlsafe(32))
        # The browser drops anything of the signed-in pages it kept (cookies are set just above).
        response.headers["clear-site-data"] = '"cache", "storage"'
        return response
    return redirect(
        request, "/dashboard", flash=_("Sign out again: the form had expired."), kind="error"
    )


@router.get("/account/password/forgot")
def forgot_page(request: Request) -> HTMLResponse:
    return render(request, "account/email_form.html", _forgot_context(form_state()))


def _forgot_context(form: object) -> dict[str, object]:
    return {
        "form": form,
        "title": _("Reset your password"),
        "intro": _(
            "Enter the address of your account. We will send you a link to choose a new password."
        ),
        "submit": _("Send the link"),
        "action": "/account/password/forgot",
    }


@router.post("/account/password/forgot")
def forgot(request: Request, posted: PostedForm, db: DbSession) -> Response:
    data, form = validate_form(request, EmailForm, posted)
    if data is None:
        return render(request, "account/email_form.html", _forgot_context(form), status_code=400)
    service.request_password_reset(
        db_session=db, settings=request.app.state.settings, email=data.email
    )
    return redirect(request, "/account/password/sent")


@router.get("/account/password/sent")
def forgot_sent(request: Request) -> HTMLResponse:
    minutes = request.app.state.settings.reset_token_minutes
    return render(
        request,
        "account/check_mail.html",
        {
            "title": _("Check your e-mail"),
            "message": _(
                "If an account uses that address, we have sent it a link to choose a new password. "
                "The link works once, for %(minutes)s minutes.",
                minutes=minutes,
            ),
            "resend": False,
        },
    )


@router.get("/account/password/reset/{token}")
def reset_page(request: Request, token: str, db: DbSession) -> HTMLResponse:
    problem = None
    try:
        service.check_reset_token(db_session=db, token=token)
    except DomainError as exc:
        problem = exc.message
    return render(
        request,
        "account/reset.html",
        {"form": form_state(), "token": token, "problem": problem},
        status_code=400 if problem else 200,
    )


@router.post("/account/password/reset/{token}")
def reset(request: Request, token: str, posted: PostedForm, db: DbSession) -> Response:
    data, form = validate_form(request, ResetForm, posted)
    problem = None
    if data is not None:
        try:
            service.reset_password(
                db_session=db,
                settings=request.app.state.settings,
                token=token,
                password=data.password,
            )
        except DomainError as exc:
            if exc.field == "form":
                problem = exc.message
            else:
                form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                "/account/login",
                flash=_("Your password has been changed. Sign in with the new one."),
            )
    return render(
        request,
        "account/reset.html",
        {"form": form, "token": token, "problem": problem},
        status_code=400,
    )


@router.get("/account/password")
def change_password_page(request: Request, user: SignedInUser) -> HTMLResponse:
    return render(request, "account/password.html", {"form": form_state()})


@router.post("/account/password")
def change_password(
    request: Request, posted: PostedForm, db: DbSession, user: SignedInUser
) -> Response:
    """A new password ends every other session of the account; this one goes on under a new id."""
    data, form = validate_form(request, ChangePasswordForm, posted)
    if data is not None:
        try:
            sid = service.change_password(
                db_session=db,
                settings=request.app.state.settings,
                user=user,
                current_password=data.current_password,
                new_password=data.password,
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            response = redirect(
                request,
                "/dashboard",
                flash=_(
                    "Your password has been changed. Every other browser signed in to your "
                    "account has been signed out."
                ),
            )
            set_session_id(request, response, sid)
            return response
    return render(request, "account/password.html", {"form": form}, status_code=400)
