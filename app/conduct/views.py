"""The Code text, signing it, and the PDF acknowledgement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import CurrentUser, SignedInUser, require
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.conduct import service
from app.conduct.forms import SignatureForm
from app.conduct.models import CodeVersion
from app.conduct.pdf import acknowledgement_pdf
from app.db import DbSession
from app.errors import DomainError, NotFound
from app.establishments import service as establishments
from app.establishments.standing import latest_signatures
from app.i18n import _, get_locale
from app.jurisdiction import current_scheme
from app.web import PostedForm, RecordId, form_state, redirect, render, validate_form

router = APIRouter()
Signer = Annotated[User, Depends(require(Permission.SIGN_CODE))]


@router.get("/code")
def code_page(request: Request, db: DbSession, user: CurrentUser) -> HTMLResponse:
    version = service.current_code_version(db_session=db)
    can_sign = user is not None and has_permission(user.role, Permission.SIGN_CODE)
    return render(
        request,
        "conduct/code.html",
        {
            "version": version,
            "content": version.content,
            "sign_url": "/dashboard" if can_sign else None,
        },
    )


def _sign_context(db: DbSession, establishment: object, form: object) -> dict[str, object]:
    version = service.current_code_version(db_session=db)
    return {
        "establishment": establishment,
        "version": version,
        "content": version.content,
        "document_types": current_scheme().document_types,
        "form": form,
    }


@router.get("/establishments/{establishment_id}/sign")
def sign_page(
    request: Request, establishment_id: RecordId, db: DbSession, user: Signer
) -> Response:
    establishment = establishments.get_managed(
        db_session=db, user=user, establishment_id=establishment_id
    )
    if service.signature_in_force(db_session=db, establishment_id=establishment_id):
        return redirect(
            request,
            f"/establishments/{establishment_id}",
            flash=_("This establishment has already signed the Code of Conduct"),
            kind="info",
        )
    return render(
        request,
        "conduct/sign.html",
        _sign_context(db, establishment, form_state({"document_type": "DNI"})),
    )


@router.post("/establishments/{establishment_id}/sign")
def sign(
    request: Request, establishment_id: RecordId, posted: PostedForm, db: DbSession, user: Signer
) -> Response:
    establishment = establishments.get_managed(
        db_session=db, user=user, establishment_id=establishment_id
    )
    data, form = validate_form(request, SignatureForm, posted)
    if data is not None:
        try:
            signature = service.sign(
                db_session=db,
                settings=request.app.state.settings,
                user=user,
                establishment_id=establishment_id,
                data=data,
                language=get_locale(),
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            return redirect(
                request,
                f"/establishments/{establishment_id}",
                flash=_(
                    "The Code of Conduct is signed. Signatory number: %(number)s. "
                    "We have sent you the acknowledgement by e-mail.",
                    number=signature.signatory_number,
                ),
            )
    return render(
        request, "conduct/sign.html", _sign_context(db, establishment, form), status_code=400
    )


@router.get("/establishments/{establishment_id}/acknowledgement.pdf")
def acknowledgement(
    request: Request, establishment_id: RecordId, db: DbSession, user: SignedInUser
) -> Response:
    establishment = establishments.get_readable(
        db_session=db, user=user, establishment_id=establishment_id
    )
    signature = latest_signatures(db, [establishment_id]).get(establishment_id)
    if signature is None:
        raise NotFound()
    version = db.get(CodeVersion, signature.code_version_id)
    assert version is not None
    pdf = acknowledgement_pdf(
        establishment=establishment, signature=signature, version=version, locale=get_locale()
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{signature.signatory_number}.pdf"',
            "cache-control": "no-store",
        },
    )
