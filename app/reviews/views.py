"""Reviewers' pages: the queue of filed reports, one report to review, assignment and decisions."""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app.auth import service as auth
from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission, has_permission
from app.db import DbSession
from app.errors import DomainError
from app.i18n import _, localized
from app.jurisdiction import current_scheme
from app.reports import labels
from app.reports import service as reports
from app.reports.form import Section
from app.reports.pdf import definition_for
from app.reviews import service
from app.web import (
    FormModel,
    PostedForm,
    RecordId,
    check_csrf,
    csrf_error_message,
    form_state,
    redirect,
    render,
    template_filter,
    validate_form,
)

router = APIRouter()
Reviewer = Annotated[User, Depends(require(Permission.REVIEW_REPORTS))]
PER_PAGE = 25
#: The states a reviewer can list; no state means "waiting for a decision".
STATE_FILTERS = ("submitted", "resubmitted", "changes_requested", "approved", "rejected")
IMAGE_TYPES = ("image/png", "image/jpeg")
SECTION_COMMENT_MAX = 2000


@template_filter("rejection_reason")
def rejection_reason(code: str) -> str:
    """The reason for a rejection in words (the operator's report page shows it too)."""
    reason = service.REJECTION_REASONS.get(code)
    return str(reason) if reason is not None else code


def _emails(db: DbSession, ids: set[int | None]) -> dict[int, str]:
    """The e-mail of each reviewer named in a page (assigned to a report, or who decided)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = db.scalars(select(User).where(User.id.in_(wanted)))  # type: ignore[union-attr]
    return {u.id: u.email for u in users}  # type: ignore[misc]


# --- the queue -------------------------------------------------------------------------------------


@router.get("/review")
def review_queue(
    request: Request,
    db: DbSession,
    user: Reviewer,
    year: Annotated[str, Query(max_length=4)] = "",
    region: Annotated[str, Query(max_length=10)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    state: Annotated[str, Query(max_length=20)] = "",
    late: Annotated[str, Query(max_length=3)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    mine: Annotated[str, Query(max_length=3)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    """Filed reports of the reviewer's regions, oldest filing first; every filter is in the URL."""
    scheme = current_scheme()
    filters = service.QueueFilter(
        year=int(year) if year.isdigit() else None,
        region=region if scheme.region(region) else "",
        category=category if scheme.category(category) else "",
        state=state if state in STATE_FILTERS else "",
        late=late if late in ("yes", "no") else "",
        q=q.strip(),
        mine=mine == "yes",
    )
    rows, total, counts = service.queue(
        db_session=db, user=user, filters=filters, page=page, per_page=PER_PAGE
    )
    national = has_permission(user.role, Permission.VIEW_ALL_ESTABLISHMENTS)
    if national:
        regions = list(scheme.regions)
    else:
        regions = [
            r
            for code in auth.user_regions(db_session=db, user=user)
            if (r := scheme.region(code)) is not None
        ]
    chosen = {
        "year": str(filters.year or ""),
        "region": filters.region,
        "category": filters.category,
        "state": filters.state,
        "late": filters.late,
        "q": filters.q,
        "mine": "yes" if filters.mine else "",
    }

    def state_url(value: str) -> str:
        params = {k: v for k, v in chosen.items() if v and k != "state"}
        if value:
            params["state"] = value
        return "/review" + ("?" + urlencode(params) if params else "")

    return render(
        request,
        "reviews/queue.html",
        {
            "form": form_state(chosen),
            "rows": rows,
            "total": total,
            "counts": counts,
            "waiting": sum(counts.get(s, 0) for s in service.AWAITING),
            "state_url": state_url,
            "page": page,
            "pages": max(1, math.ceil(total / PER_PAGE)),
            "year_options": [
                (str(p.year), str(p.year)) for p in reports.list_periods(db_session=db)
            ],
            "regions": regions,
            "national": national,
            "categories": scheme.categories,
            "state_filters": STATE_FILTERS,
            "state_options": [(s, labels.report_state(s)) for s in STATE_FILTERS],
            "emails": _emails(db, {row.report.assigned_to_id for row in rows}),
        },
    )


# --- one report ------------------------------------------------------------------------------------


class DecisionForm(FormModel):
    """The fixed fields of the decision; the comment on each section is read beside it."""

    decision: str = ""
    comment: str = ""
    reason: str = ""
    submission: str = ""


def _answer_labels(section: Section | None, keys: list[str]) -> list[str]:
    """What changed in a section, in the words of the form ('Status', a figure's label)."""
    names = {"status": _("Status"), "narrative": _("What was done")}
    result = []
    for key in keys:
        figure = section.figure(key) if section else None
        result.append(names.get(key) or (localized(figure.label) if figure else key))
    return result


def _review_context(db: DbSession, user: User, item: service.ReviewItem) -> dict[str, Any]:
    latest = item.latest
    assert latest is not None
    content = latest.content
    category = content["establishment"]["category"]
    sections = definition_for(content["form_version"]).sections_for(category)
    by_code = {s.code: s for s in sections}

    # Every submission (newest first) with what changed from the one before it.
    submissions = item.submissions
    changes = [
        {
            code: _answer_labels(by_code.get(code), keys)
            for code, keys in service.changes_between(
                submissions[index + 1].content, submission.content
            ).items()
        }
        if index + 1 < len(submissions)
        else {}
        for index, submission in enumerate(submissions)
    ]
    history = [
        {"submission": s, "decision": item.decision_on(s), "changes": c}
        for s, c in zip(submissions, changes, strict=True)
    ]

    evidence: dict[str, list[dict[str, Any]]] = {}
    for file in content.get("evidence", []):
        evidence.setdefault(file["section"], []).append(
            {**file, "image": file.get("content_type") in IMAGE_TYPES}
        )

    periods = reports.list_periods(db_session=db)
    by_period = reports.reports_by_period(
        db_session=db,
        establishment_ids=[item.establishment.id],  # type: ignore[list-item]
        period_ids=[p.id for p in periods],  # type: ignore[misc]
    )
    other_years = [
        {"period": p, "report": r}
        for p in periods
        if (r := by_period.get((item.establishment.id, p.id))) is not None  # type: ignore[arg-type]
        and r.id != item.report.id
    ]
    return {
        "establishment": item.establishment,
        "period": item.period,
        "report": item.report,
        "latest": latest,
        "sections": sections,
        "evidence": evidence,
        "changed": changes[0],
        "titles": {code: section.title for code, section in by_code.items()},
        "previous_number": item.submissions[1].number if len(item.submissions) > 1 else None,
        "history": history,
        "last_decision": item.decisions[0] if item.decisions else None,
        "other_years": other_years,
        "can_decide": item.report.state in service.AWAITING,
        "emails": _emails(
            db, {item.report.assigned_to_id, *(d.reviewer_id for d in item.decisions)}
        ),
        "decision_options": [
            ("approved", _("Approve the report")),
            ("changes_requested", _("Ask the operator for changes")),
            ("rejected", _("Reject the report")),
        ],
        "reason_options": [(k, str(v)) for k, v in service.REJECTION_REASONS.items()],
        "section_comment_max": SECTION_COMMENT_MAX,
        "user_id": user.id,
    }


@router.get("/review/reports/{report_id}")
def review_report(
    request: Request, report_id: RecordId, db: DbSession, user: Reviewer
) -> HTMLResponse:
    item = service.get_for_review(db_session=db, user=user, report_id=report_id)
    form = form_state({"submission": item.latest.number})  # type: ignore[union-attr]
    return render(request, "reviews/report.html", {**_review_context(db, user, item), "form": form})


@router.post("/review/reports/{report_id}")
def decide(
    request: Request, report_id: RecordId, posted: PostedForm, db: DbSession, user: Reviewer
) -> Response:
    item = service.get_for_review(db_session=db, user=user, report_id=report_id)
    model, form = validate_form(request, DecisionForm, posted)
    assert item.latest is not None
    sections = definition_for(item.latest.content["form_version"]).sections_for(
        item.latest.content["establishment"]["category"]
    )
    section_comments = {}
    for section in sections:
        name = f"section-{section.code}"
        raw = posted.get(name)
        value = raw.strip() if isinstance(raw, str) else ""
        form.values[name] = value
        if "\x00" in value:
            form.add_error(name, _("Remove the special characters from this field"))
        section_comments[section.code] = value
    if model is not None and not form.has_errors:
        data = service.DecisionInput(
            decision=model.decision,
            submission_number=(
                int(model.submission)
                if model.submission.isdigit() and len(model.submission) < 10
                else -1
            ),
            comment=model.comment,
            reason=model.reason,
            section_comments=section_comments,
        )
        try:
            decision = service.decide(
                db_session=db,
                settings=request.app.state.settings,
                user=user,
                item=item,
                data=data,
            )
        except DomainError as exc:
            form.add_error(exc.field, exc.message)
            # Another reviewer may have decided meanwhile: show the report as it is now.
            db.expire_all()
            item = service.get_for_review(db_session=db, user=user, report_id=report_id)
        else:
            names = {"name": item.establishment.trade_name, "year": item.period.year}
            messages = {
                "approved": _(
                    "You approved the report %(year)s of %(name)s. The operator has been told by e-mail.",
                    **names,
                ),
                "changes_requested": _(
                    "You asked %(name)s for changes to the report %(year)s. The operator has been told by e-mail.",
                    **names,
                ),
                "rejected": _(
                    "You rejected the report %(year)s of %(name)s. The operator has been told by e-mail.",
                    **names,
                ),
            }
            return redirect(request, "/review", flash=messages[decision.decision])
    return render(
        request,
        "reviews/report.html",
        {**_review_context(db, user, item), "form": form},
        status_code=400,
    )


# --- assignment ------------------------------------------------------------------------------------


def _assign(
    request: Request,
    db: DbSession,
    user: User,
    report_id: int,
    posted: PostedForm,
    *,
    to_self: bool,
) -> Response:
    item = service.get_for_review(db_session=db, user=user, report_id=report_id)
    back = f"/review/reports/{report_id}"
    if not check_csrf(request, posted):
        return redirect(request, back, flash=csrf_error_message(), kind="error")
    try:
        service.assign(db_session=db, user=user, item=item, to_self=to_self)
    except DomainError as exc:
        return redirect(request, back, flash=exc.message, kind="error")
    message = (
        _("The report is assigned to you: other reviewers see that you are working on it.")
        if to_self
        else _("You released the report: another reviewer can take it.")
    )
    return redirect(request, back, flash=message)


@router.post("/review/reports/{report_id}/assign")
def assign(
    request: Request, report_id: RecordId, posted: PostedForm, db: DbSession, user: Reviewer
) -> Response:
    return _assign(request, db, user, report_id, posted, to_self=True)


@router.post("/review/reports/{report_id}/release")
def release(
    request: Request, report_id: RecordId, posted: PostedForm, db: DbSession, user: Reviewer
) -> Response:
    return _assign(request, db, user, report_id, posted, to_self=False)
