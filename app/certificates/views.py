"""Downloading and re-issuing certificates, and the public verification page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from app.auth.dependencies import CurrentUser, SignedInUser
from app.auth.roles import Permission, has_permission
from app.certificates import service
from app.db import DbSession
from app.errors import NotFound
from app.establishments import service as establishments
from app.i18n import _, get_locale
from app.web import (
    PostedForm,
    RecordId,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
)

router = APIRouter()
Year = Annotated[int, Path(ge=2000, le=2999)]


@router.get("/establishments/{establishment_id}/certificates/{year}.pdf")
def download(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    db: DbSession,
    user: SignedInUser,
    lang: Annotated[str, Query(max_length=2)] = "",
) -> Response:
    """The certificate as stored (rendered once); in Spanish, or in English on request."""
    establishments.get_readable(db_session=db, user=user, establishment_id=establishment_id)
    certificate = service.for_period(db_session=db, establishment_id=establishment_id, year=year)
    locale = lang if lang in service.LANGUAGES else "es"
    pdf = service.pdf_of(
        db_session=db, settings=request.app.state.settings, certificate=certificate, locale=locale
    )
    filename = service.filename_of(certificate, locale)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "private, no-store",
        },
    )


@router.post("/establishments/{establishment_id}/certificates/{year}/reissue")
def reissue(
    request: Request,
    establishment_id: RecordId,
    year: Year,
    posted: PostedForm,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    """Reviewers of the region render the certificate again, with the establishment's current data."""
    establishment = establishments.get_readable(
        db_session=db, user=user, establishment_id=establishment_id
    )
    back = f"/establishments/{establishment_id}"
    if not check_csrf(request, posted):
        return redirect(request, back, flash=csrf_error_message(), kind="error")
    if not has_permission(user.role, Permission.REVIEW_REPORTS):
        raise NotFound()
    certificate = service.for_period(db_session=db, establishment_id=establishment_id, year=year)
    service.reissue(
        db_session=db, settings=request.app.state.settings, certificate=certificate, actor=user
    )
    return redirect(
        request,
        back,
        flash=_(
            "Certificate %(number)s re-issued with the current data of %(name)s; its operators have been sent it.",
            number=certificate.number,
            name=establishment.trade_name,
        ),
    )


@router.get("/verify")
def verify_form(
    request: Request, user: CurrentUser, code: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """Type a certificate's verification code; a well-formed code goes to its page."""
    if not code:
        return render(
            request, "certificates/verify.html", {"form": form_state({}), "unknown": False}
        )
    normalised = service.normalise_code(code)
    if normalised is None:
        form = form_state({"code": code})
        form.add_error(
            "code",
            _(
                "Enter the verification code printed under the QR code: 32 letters and digits (spaces and dashes do not matter)"
            ),
        )
        return render(
            request, "certificates/verify.html", {"form": form, "unknown": False}, status_code=400
        )
    return redirect(request, f"/verify/{normalised}")


@router.get("/verify/{code}")
def verify_page(
    request: Request, code: Annotated[str, Path(max_length=200)], db: DbSession, user: CurrentUser
) -> Response:
    """The live status of a certificate: valid, expired or revoked, with public data only."""
    normalised = service.normalise_code(code)
    if normalised is not None and normalised != code:
        return redirect(request, f"/verify/{normalised}")
    found = service.verify(db_session=db, code=normalised) if normalised else None
    if found is None:
        return render(
            request,
            "certificates/verify.html",
            {"form": form_state({"code": code}), "unknown": True},
            status_code=404,
        )
    return render(
        request,
        "certificates/verified.html",
        {"found": found, "locale": get_locale()},
    )
