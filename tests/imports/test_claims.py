"""Operators take over imported establishments: by a link to the e-mail on file, or by a reviewer of
the region; nobody files for one until then, and nobody claims someone else's."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.claims import service as claims
from app.errors import DomainError
from app.establishments.models import Establishment, EstablishmentOperator
from app.imports import service as imports
from tests.conftest import (
    add_establishment,
    error_summary,
    field_error,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
    valid_ruc,
)

DATA = Path(__file__).resolve().parent.parent / "data"
INKA = {"ruc": valid_ruc("2045678901"), "branch_code": "0000"}  # e-mail on file
VALLE = {"ruc": valid_ruc("2045678901"), "branch_code": "0001"}  # no e-mail on file


@pytest.fixture
def imported(db) -> dict[str, int]:
    path = DATA / "signatories_utf8_semicolon.csv"
    imports.apply_file(db_session=db, path=path, filename=path.name, actor=None)
    db.commit()
    return {e.trade_name: e.id for e in db.scalars(select(Establishment))}  # type: ignore[misc]


def _english(client: TestClient) -> None:
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")


@pytest.fixture
def operator(client, db):
    make_user(db, "gerente@inkanan.pe")
    sign_in(client, "gerente@inkanan.pe")
    _english(client)
    return client


def _operators(db, establishment_id: int) -> list[int]:
    db.expire_all()
    return list(
        db.scalars(
            select(EstablishmentOperator.user_id).where(
                EstablishmentOperator.establishment_id == establishment_id
            )
        )
    )


def test_nobody_can_file_or_sign_for_an_unclaimed_establishment(
    operator, db, imported, open_period
):
    inka = imported["Hostal Inka Ñan"]
    assert operator.get(f"/establishments/{inka}").status_code == 404
    assert operator.get(f"/establishments/{inka}/sign").status_code == 404
    assert operator.get(f"/establishments/{inka}/reports/{open_period.year}").status_code == 404
    assert "Inka" not in page(operator.get("/dashboard")).get_text()
    assert _operators(db, inka) == []


def test_claim_by_a_link_to_the_email_on_file(operator, db, imported, mailbox, app, open_period):
    inka = imported["Hostal Inka Ñan"]
    shown = post_form(operator, "/establishments/claim", INKA)
    assert shown.status_code == 200, error_summary(shown)
    text = page(shown).get_text(" ")
    assert "Hostal Inka Ñan" in text
    assert "r•••@i•••.pe" in text and "reservas@inkanan.pe" not in text  # masked
    sent = post_form(
        operator, "/establishments/claim/email", INKA, form_page="/establishments/claim"
    )
    assert sent.status_code == 303
    assert "r•••@i•••.pe" in flash_text(operator.get("/dashboard"))
    link = mailbox.link_in_last("reservas@inkanan.pe", "/establishments/claim/confirm/")
    assert "gerente@inkanan.pe" in mailbox.body(mailbox.last_to("reservas@inkanan.pe"))

    # Another account that gets hold of the link cannot use it.
    make_user(db, "otro@hostal.pe")
    with TestClient(app, follow_redirects=False) as stranger:
        sign_in(stranger, "otro@hostal.pe")
        _english(stranger)
        refused = post_form(stranger, link, {}, form_page="/establishments/claim")
        assert refused.status_code == 400
        assert "not valid for this account" in refused.text
    assert _operators(db, inka) == []

    confirm_page = operator.get(link)
    assert confirm_page.status_code == 200
    assert "Hostal Inka Ñan" in confirm_page.text
    done = post_form(operator, link, {})
    assert done.status_code == 303
    assert done.headers["location"] == f"/establishments/{inka}"
    assert "no need to sign again" in flash_text(operator.get(done.headers["location"]))
    assert len(_operators(db, inka)) == 1

    # Now it behaves like any other: listed, already a signatory, and its report can be started.
    assert "Hostal Inka Ñan" in page(operator.get("/dashboard")).get_text()
    sign = operator.get(f"/establishments/{inka}/sign")
    assert sign.status_code == 303  # already signed: no second signature
    report = operator.get(f"/establishments/{inka}/reports/{open_period.year}")
    assert report.status_code == 200
    pdf = operator.get(f"/establishments/{inka}/acknowledgement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # The link works once.
    again = post_form(operator, link, {}, form_page="/establishments/claim")
    assert again.status_code == 400
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "establishment.claimed")).one()
    assert entry.actor_email == "gerente@inkanan.pe"


def test_claim_reviewed_by_the_region(operator, db, imported, mailbox, app):
    valle = imported["Inka Ñan Valle"]
    shown = post_form(operator, "/establishments/claim", VALLE)
    assert page(shown).find("form", action="/establishments/claim/email") is None  # no e-mail
    empty = post_form(
        operator,
        "/establishments/claim/review",
        {**VALLE, "explanation": ""},
        "/establishments/claim",
    )
    assert empty.status_code == 400
    assert "Say who you are" in field_error(empty, "explanation")
    asked = post_form(
        operator,
        "/establishments/claim/review",
        {**VALLE, "explanation": "Soy el gerente; teléfono 084 123456"},
        "/establishments/claim",
    )
    assert asked.status_code == 303
    twice = post_form(operator, "/establishments/claim", VALLE)
    assert "already asked" in field_error(twice, "ruc")

    make_user(db, "puno@dircetur.gob.pe", role="reviewer", regions=("PE-PUN",))
    make_user(db, "cusco@dircetur.gob.pe", role="reviewer", regions=("PE-CUS",))
    claim_id = db.scalars(select(claims.EstablishmentClaim.id)).one()
    with TestClient(app, follow_redirects=False) as puno:
        sign_in(puno, "puno@dircetur.gob.pe")
        assert "Inka Ñan Valle" not in puno.get("/review/claims").text
        outside = post_form(puno, f"/review/claims/{claim_id}/approve", {}, "/review/claims")
        assert outside.status_code == 404
    assert _operators(db, valle) == []
    with TestClient(app, follow_redirects=False) as cusco:
        sign_in(cusco, "cusco@dircetur.gob.pe")
        listed = cusco.get("/review/claims")
        assert "Inka Ñan Valle" in listed.text and "gerente@inkanan.pe" in listed.text
        assert "Soy el gerente" in listed.text
        approved = post_form(cusco, f"/review/claims/{claim_id}/approve", {}, "/review/claims")
        assert approved.status_code == 303
        assert page(cusco.get("/review/claims")).select("main section.card") == []
    assert len(_operators(db, valle)) == 1
    assert mailbox.to("gerente@inkanan.pe")
    assert f"/establishments/{valle}" in mailbox.body(mailbox.last_to("gerente@inkanan.pe"))
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "claim.approved")).one()


def test_a_reviewer_refuses_a_claim_with_a_reason(operator, db, imported, mailbox, app):
    post_form(
        operator,
        "/establishments/claim/review",
        {**VALLE, "explanation": "Es mío"},
        "/establishments/claim",
    )
    claim_id = db.scalars(select(claims.EstablishmentClaim.id)).one()
    make_user(db, "cusco@dircetur.gob.pe", role="reviewer", regions=("PE-CUS",))
    with TestClient(app, follow_redirects=False) as cusco:
        sign_in(cusco, "cusco@dircetur.gob.pe")
        _english(cusco)
        blank = post_form(
            cusco, f"/review/claims/{claim_id}/refuse", {"reason": ""}, "/review/claims"
        )
        assert blank.status_code == 400
        assert (
            "Give the reason" in " ".join(error_summary(blank)) or "Give the reason" in blank.text
        )
        refused = post_form(
            cusco,
            f"/review/claims/{claim_id}/refuse",
            {"reason": "El RUC pertenece a otra persona"},
            "/review/claims",
        )
        assert refused.status_code == 303
    assert _operators(db, imported["Inka Ñan Valle"]) == []
    assert "El RUC pertenece a otra persona" in mailbox.body(mailbox.last_to("gerente@inkanan.pe"))


def test_someone_elses_establishment_cannot_be_claimed(client, db, imported, app):
    # Registered on the portal by its own operator.
    make_user(db, "duena@hostal.pe")
    sign_in(client, "duena@hostal.pe")
    add_establishment(client, ruc=valid_ruc("2060412345"), branch_code="0000")
    post_form(client, "/account/logout", {}, form_page="/dashboard")
    make_user(db, "intruso@otro.pe")
    sign_in(client, "intruso@otro.pe")
    _english(client)
    refused = post_form(
        client, "/establishments/claim", {"ruc": valid_ruc("2060412345"), "branch_code": "0000"}
    )
    assert refused.status_code == 400
    assert "already managed by another account" in field_error(refused, "ruc")
    assert "regional tourism directorate" in field_error(refused, "ruc")
    # Even by posting the request directly.
    direct = post_form(
        client,
        "/establishments/claim/review",
        {"ruc": valid_ruc("2060412345"), "branch_code": "0000", "explanation": "mío"},
        "/establishments/claim",
    )
    assert direct.status_code == 400
    assert db.scalars(select(claims.EstablishmentClaim)).first() is None
    unknown = post_form(
        client, "/establishments/claim", {"ruc": valid_ruc("2099999999"), "branch_code": "0000"}
    )
    assert "No establishment with this RUC" in field_error(unknown, "ruc")


def test_only_a_confirmed_operator_account_may_claim(db, imported):
    from app.auth.service import create_user

    unconfirmed = create_user(
        db_session=db, email="nuevo@hostal.pe", password="Tambopata-Rio-2026", role="operator"
    )
    with pytest.raises(DomainError):
        claims.find_claimable(db_session=db, user=unconfirmed, **INKA)
    reviewer = make_user(db, "cusco@dircetur.gob.pe", role="reviewer", regions=("PE-CUS",))
    with pytest.raises(DomainError):
        claims.find_claimable(db_session=db, user=reviewer, **INKA)
