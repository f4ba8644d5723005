"""Factories: the rows a test starts from, made through the portal's services and committed,
without the HTTP round trips (and the mails and PDFs) of the forms that make them for real.

The tests of a form itself still go through HTTP; these are for the state other tests stand on.
"""

from __future__ import annotations

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.models import User
from app.auth.service import start_session
from app.conduct import service as conduct
from app.conduct.forms import SignatureForm
from app.conduct.models import Signature
from app.establishments import service as establishments
from app.establishments.forms import EstablishmentForm
from app.establishments.models import Establishment
from app.reports import service as reports
from app.reports.evidence import check_upload
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from app.web import LANG_COOKIE, SESSION_COOKIE
from tests.conftest import SIGNATURE, establishment_form, make_user


def signed_in(client: TestClient, db: Session, user: User, locale: str | None = None) -> None:
    """The client holds a session of the user's, as after signing in through the form; with
    `locale`, pages (and the account's mail) are in that language, as after the language switch."""
    if locale is not None:
        user.locale = locale
        db.add(user)
        client.cookies.set(LANG_COOKIE, locale)
    sid = start_session(db_session=db, user=user)
    db.commit()
    client.cookies.set(SESSION_COOKIE, sid)


def establishment(db: Session, user: User, **overrides: str) -> int:
    """An establishment of the operator's (the fields of tests.conftest.establishment_form)."""
    data = EstablishmentForm.model_validate(establishment_form(**overrides))
    created = establishments.create_establishment(db_session=db, user=user, data=data)
    db.commit()
    return created.id  # type: ignore[return-value]


def signature(db: Session, user: User, establishment_id: int, language: str = "en") -> Signature:
    """The Code signed for the establishment by its operator (no acknowledgement mail)."""
    data = SignatureForm.model_validate(SIGNATURE)
    signed = conduct.record_signature(
        db_session=db, user=user, establishment_id=establishment_id, data=data, language=language
    )
    db.commit()
    return signed


def operator_with_signed_establishment(
    client: TestClient, db: Session, email: str = "rosa@hostal.pe", **overrides: str
) -> int:
    """Signed in as an operator reading English pages, whose establishment has signed the Code;
    returns the establishment's id."""
    user = make_user(db, email)
    signed_in(client, db, user, locale="en")
    establishment_id = establishment(db, user, **overrides)
    signature(db, user, establishment_id)
    return establishment_id


def report(
    app: FastAPI,
    db: Session,
    user: User,
    establishment_id: int,
    period: ReportingPeriod,
    sections: dict[str, dict[str, str]] | None = None,
    evidence: dict[str, tuple[str, bytes]] | None = None,
) -> AnnualReport:
    """The establishment's report for the period, started, its `sections` answered as their forms
    post them (tests.reports.conftest.COMPLETE, say) and its `evidence` attached by section
    (filename, content), checked as an upload is."""
    found = db.get(Establishment, establishment_id)
    assert found is not None
    started = reports.start_report(db_session=db, user=user, establishment=found, period=period)
    definition = reports.form_definition(db_session=db, period=period)
    parsed = {}
    for code, posted in (sections or {}).items():
        section = definition.section(found.category, code)
        assert section is not None, code
        values, errors = definition.parse_section(section, posted, period.year)
        assert not errors, (code, errors)
        parsed[code] = values
    if parsed:
        reports.save_sections(
            db_session=db, user=user, report=started, sections=parsed, read_version=started.version
        )
    settings = app.state.settings
    for code, (filename, content) in (evidence or {}).items():
        upload = check_upload(io.BytesIO(content), filename, settings.evidence_max_file_bytes)
        reports.add_evidence(
            db_session=db,
            settings=settings,
            storage=app.state.storage,
            user=user,
            report=started,
            section_code=code,
            upload=upload,
        )
    db.commit()
    return started


def submission(db: Session, user: User, started: AnnualReport) -> ReportSubmission:
    """The report filed as it stands (no receipt mail); it must have no problems left."""
    found = db.get(Establishment, started.establishment_id)
    assert found is not None
    db.refresh(started)
    filed = reports.record_submission(
        db_session=db, user=user, establishment=found, report=started, read_version=started.version
    )
    db.commit()
    return filed
