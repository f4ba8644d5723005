"""The Code text, signing it, and the PDF acknowledgement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator, field_validator

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
from app.establishments import views as establishment_views
from app.establishments.standing import latest_signatures
from app.i18n import _, get_locale
from app.jurisdiction import current_scheme
from app.web import (
    FormModel,
    PostedForm,
    RecordId,
    form_state,
    max_length,
    redirect,
    render,
    required,
    validate_form,
)

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


# --- suspension, reinstatement, revocation (staff of the region), withdrawal (its operator) -------
# Each form names its fields after its action: two of them can be on the page at once.


def _reason(value: str) -> str:
    return max_length(required(value, _("Give the reason")), 1000)


Reason = Annotated[str, AfterValidator(_reason)]


class SuspendForm(FormModel):
    suspend_reason: Reason = ""


class ReinstateForm(FormModel):
    reinstate_reason: Reason = ""


class RevokeForm(FormModel):
    revoke_reason: Reason = ""
    revoke_confirm: str = ""

    @field_validator("revoke_confirm")
    @classmethod
    def _confirmed(cls, value: str) -> str:
        if value != "yes":
            raise ValueError(_("Confirm that you understand that revoking the signature is final"))
        return value


class WithdrawForm(FormModel):
    withdraw_reason: Reason = ""
    withdraw_confirm: str = ""

    @field_validator("withdraw_confirm")
    @classmethod
    def _confirmed(cls, value: str) -> str:
        if value != "yes":
            raise ValueError(_("Confirm that the establishment withdraws from the Code of Conduct"))
        return value


STATUS_FORMS: dict[str, type[FormModel]] = {
    "suspend": SuspendForm,
    "reinstate": ReinstateForm,
    "revoke": RevokeForm,
    "withdraw": WithdrawForm,
}


def _status_changed(action: str, name: str) -> str:
    if action == "suspend":
        return _(
            "The signature of %(name)s is suspended. Its operators have been told by e-mail.",
            name=name,
        )
    if action == "reinstate":
        return _(
            "The signature of %(name)s is in force again. Its operators have been told by e-mail.",
            name=name,
        )
    if action == "revoke":
        return _(
            "The signature of %(name)s has been revoked. Its operators have been told by e-mail.",
            name=name,
        )
    return _("%(name)s has withdrawn from the Code of Conduct.", name=name)


def _change_status(
    request: Request,
    db: DbSession,
    user: User,
    establishment_id: int,
    action: str,
    posted: PostedForm,
) -> Response:
    """Change the signature's status; on error, the establishment's page again with the message."""
    if action == "withdraw":
        establishment = establishments.get_managed(
            db_session=db, user=user, establishment_id=establishment_id
        )
    else:
        # Scope first: whoever may not see the establishment gets the 404 of one that does not exist.
        establishment = establishments.get_readable(
            db_session=db, user=user, establishment_id=establishment_id
        )
        require(Permission.MANAGE_SIGNATURES)(user)
    data, form = validate_form(request, STATUS_FORMS[action], posted)
    if data is not None:
        try:
            service.change_signature_status(
                db_session=db,
                settings=request.app.state.settings,
                user=user,
                establishment_id=establishment_id,
                action=action,
                reason=getattr(data, f"{action}_reason"),
            )
        except DomainError as exc:
            form.add_error(f"{action}_reason" if exc.field == "reason" else "form", exc.message)
        else:
            return redirect(
                request,
                f"/establishments/{establishment_id}",
                flash=_status_changed(action, establishment.trade_name),
            )
    return establishment_views.detail_page(
        request, db, user, establishment, form=form, status_code=400
    )


@router.post("/establishments/{establishment_id}/signature/suspend")
def suspend_signature(
    request: Request,
    establishment_id: RecordId,
    posted: PostedForm,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    return _change_status(request, db, user, establishment_id, "suspend", posted)


@router.post("/establishments/{establishment_id}/signature/reinstate")
def reinstate_signature(
    request: Request,
    establishment_id: RecordId,
    posted: PostedForm,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    return _change_status(request, db, user, establishment_id, "reinstate", posted)


@router.post("/establishments/{establishment_id}/signature/revoke")
def revoke_signature(
    request: Request,
    establishment_id: RecordId,
    posted: PostedForm,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    return _change_status(request, db, user, establishment_id, "revoke", posted)


@router.post("/establishments/{establishment_id}/signature/withdraw")
def withdraw_signature(
    request: Request,
    establishment_id: RecordId,
    posted: PostedForm,
    db: DbSession,
    user: SignedInUser,
) -> Response:
    return _change_status(request, db, user, establishment_id, "withdraw", posted)
