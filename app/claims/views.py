"""Claiming an imported establishment (operators) and deciding on claims (reviewers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import field_validator

from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission
from app.claims import service
from app.db import DbSession
from app.errors import DomainError
from app.establishments.models import Establishment
from app.i18n import _
from app.jurisdiction import InvalidValue, current_scheme
from app.web import (
    FormModel,
    FormState,
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
Operator = Annotated[User, Depends(require(Permission.MANAGE_OWN_ESTABLISHMENTS))]
ClaimReviewer = Annotated[User, Depends(require(Permission.DECIDE_CLAIMS))]


class ClaimLookupForm(FormModel):
    """The RUC and branch code of the establishment to claim, checked as when adding one."""

    ruc: str = ""
    branch_code: str = ""

    @field_validator("ruc")
    @classmethod
    def _ruc(cls, value: str) -> str:
        required(value, _("Enter the RUC: 11 digits"))
        try:
            return current_scheme().normalize_tax_id(value[:50])
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None

    @field_validator("branch_code")
    @classmethod
    def _branch(cls, value: str) -> str:
        required(value, _("Enter the SUNAT branch code, 4 digits (0000 for the fiscal address)"))
        try:
            return current_scheme().normalize_branch_code(value[:50])
        except InvalidValue as exc:
            raise ValueError(str(exc)) from None


class ReviewClaimForm(ClaimLookupForm):
    explanation: str = ""

    @field_validator("explanation")
    @classmethod
    def _explanation(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Say who you are and how you are linked to the establishment"))
        return max_length(value, service.EXPLANATION_MAX)


class RefuseForm(FormModel):
    reason: str = ""

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if not value:
            raise ValueError(_("Give the reason"))
        return max_length(value, service.EXPLANATION_MAX)


def _lookup_page(request: Request, form: FormState, status_code: int = 200) -> HTMLResponse:
    return render(request, "claims/lookup.html", {"form": form}, status_code=status_code)


def _method_page(
    request: Request, establishment: Establishment, form: FormState, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "claims/method.html",
        {
            "establishment": establishment,
            "masked_email": service.masked_email(establishment.contact_email),
            "form": form,
        },
        status_code=status_code,
    )


@router.get("/establishments/claim")
def lookup_page(request: Request, user: Operator) -> HTMLResponse:
    return _lookup_page(request, form_state({"branch_code": "0000"}))


def _claimable(
    request: Request, db: DbSession, user: User, model: type[ClaimLookupForm], posted: PostedForm
) -> tuple[ClaimLookupForm | None, Establishment | None, FormState]:
    data, form = validate_form(request, model, posted)
    if data is None:
        return None, None, form
    try:
        establishment = service.find_claimable(
            db_session=db, user=user, ruc=data.ruc, branch_code=data.branch_code
        )
    except DomainError as exc:
        form.add_error(exc.field, exc.message)
        return data, None, form
    return data, establishment, form


@router.post("/establishments/claim")
def lookup(request: Request, posted: PostedForm, db: DbSession, user: Operator) -> Response:
    _data, establishment, form = _claimable(request, db, user, ClaimLookupForm, posted)
    if establishment is None:
        return _lookup_page(request, form, 400)
    return _method_page(request, establishment, form)


@router.post("/establishments/claim/email")
def claim_by_email(request: Request, posted: PostedForm, db: DbSession, user: Operator) -> Response:
    _data, establishment, form = _claimable(request, db, user, ClaimLookupForm, posted)
    if establishment is None:
        return _lookup_page(request, form, 400)
    try:
        claim = service.request_by_email(
            db_session=db,
            settings=request.app.state.settings,
            user=user,
            establishment=establishment,
        )
    except DomainError as exc:
        form.add_error("form", exc.message)
        return _method_page(request, establishment, form, 400)
    return redirect(
        request,
        "/dashboard",
        flash=_(
            "We have sent a link to the e-mail on file for %(name)s (%(email)s). Open it while "
            "signed in with this account to take over the establishment.",
            name=establishment.trade_name,
            email=service.masked_email(claim.sent_to),
        ),
    )


@router.post("/establishments/claim/review")
def claim_by_review(
    request: Request, posted: PostedForm, db: DbSession, user: Operator
) -> Response:
    data, establishment, form = _claimable(request, db, user, ReviewClaimForm, posted)
    if establishment is None:
        if data is not None or "ruc" in form.errors or "branch_code" in form.errors:
            return _lookup_page(request, form, 400)
        # Only the explanation is wrong: show the choice again with the message beside it.
        try:
            establishment = service.find_claimable(
                db_session=db,
                user=user,
                ruc=form.value("ruc"),
                branch_code=form.value("branch_code"),
            )
        except DomainError:
            return _lookup_page(request, form, 400)
        return _method_page(request, establishment, form, 400)
    assert isinstance(data, ReviewClaimForm)
    try:
        service.request_review(
            db_session=db, user=user, establishment=establishment, explanation=data.explanation
        )
    except DomainError as exc:
        form.add_error(exc.field, exc.message)
        return _method_page(request, establishment, form, 400)
    return redirect(
        request,
        "/dashboard",
        flash=_(
            "Your request to claim %(name)s has been sent to the regional tourism directorate. "
            "We will tell you its answer by e-mail.",
            name=establishment.trade_name,
        ),
    )


@router.get("/establishments/claim/confirm/{token}")
def confirm_page(request: Request, token: str, db: DbSession, user: Operator) -> HTMLResponse:
    try:
        checked = service.check_link(db_session=db, user=user, token=token[:100])
    except DomainError as exc:
        return render(request, "claims/confirm.html", {"problem": exc.message}, status_code=400)
    return render(
        request,
        "claims/confirm.html",
        {"problem": None, "establishment": checked.establishment, "token": token},
    )


@router.post("/establishments/claim/confirm/{token}")
def confirm(
    request: Request, token: str, posted: PostedForm, db: DbSession, user: Operator
) -> Response:
    _data, form = validate_form(request, FormModel, posted)
    problem = form.errors.get("form")
    if problem is None:
        try:
            establishment = service.confirm_link(db_session=db, user=user, token=token[:100])
        except DomainError as exc:
            problem = exc.message
        else:
            return redirect(
                request,
                f"/establishments/{establishment.id}",
                flash=_(
                    "You now manage %(name)s. It was already a signatory of the Code: there is "
                    "no need to sign again.",
                    name=establishment.trade_name,
                ),
            )
    return render(request, "claims/confirm.html", {"problem": problem}, status_code=400)


# --- reviewers ------


def _claims_page(
    request: Request,
    db: DbSession,
    user: User,
    form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "claims/review.html",
        {"claims": service.pending_claims(db_session=db, user=user), "form": form or FormState()},
        status_code=status_code,
    )


@router.get("/review/claims")
def claims_page(request: Request, db: DbSession, user: ClaimReviewer) -> HTMLResponse:
    return _claims_page(request, db, user)


@router.post("/review/claims/{claim_id}/approve")
def approve(
    request: Request, claim_id: RecordId, posted: PostedForm, db: DbSession, user: ClaimReviewer
) -> Response:
    service.pending_claim(db_session=db, reviewer=user, claim_id=claim_id)
    _data, form = validate_form(request, FormModel, posted)
    if not form.has_errors:
        try:
            decided = service.decide(
                db_session=db,
                settings=request.app.state.settings,
                reviewer=user,
                claim_id=claim_id,
                approve=True,
            )
        except DomainError as exc:
            form.add_error("form", exc.message)
        else:
            return redirect(
                request,
                "/review/claims",
                flash=_(
                    "%(email)s now manages %(name)s, and has been told by e-mail.",
                    email=decided.claimer,
                    name=decided.establishment.trade_name,
                ),
            )
    return _claims_page(request, db, user, form, 400)


@router.post("/review/claims/{claim_id}/refuse")
def refuse(
    request: Request, claim_id: RecordId, posted: PostedForm, db: DbSession, user: ClaimReviewer
) -> Response:
    # Another region's claim is a 404 before the form is looked at, as on every other route.
    service.pending_claim(db_session=db, reviewer=user, claim_id=claim_id)
    data, form = validate_form(request, RefuseForm, posted)
    if data is not None:
        try:
            decided = service.decide(
                db_session=db,
                settings=request.app.state.settings,
                reviewer=user,
                claim_id=claim_id,
                approve=False,
                reason=data.reason,
            )
        except DomainError as exc:
            form.add_error("form" if exc.field != "reason" else "reason", exc.message)
        else:
            return redirect(
                request,
                "/review/claims",
                flash=_(
                    "The claim of %(name)s by %(email)s is refused; they have been told by e-mail.",
                    email=decided.claimer,
                    name=decided.establishment.trade_name,
                ),
            )
    form.values["claim_id"] = str(claim_id)
    return _claims_page(request, db, user, form, 400)
