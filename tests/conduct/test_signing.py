"""Signing the Code for an establishment: number, acknowledgement PDF, mail, and what is refused."""

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.conduct.models import Signature
from tests.conftest import (
    SIGNATURE,
    add_establishment,
    error_summary,
    field_error,
    field_value,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
)


def _signatures(db) -> int:
    return db.scalar(select(func.count()).select_from(Signature))


def test_operator_signs_and_gets_number_pdf_and_mail(client, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client)

    response = post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE)
    assert response.status_code == 303
    detail = client.get(response.headers["location"])
    number = page(detail).select_one(".signed-box .signatory-number").get_text(strip=True)
    assert number.startswith("CC-") and len(number) == len("CC-2026-000001")
    assert number in flash_text(detail)

    pdf = client.get(f"/establishments/{establishment_id}/acknowledgement.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert number in text
    assert "Rosa Quispe Mamani" in text
    assert "Hostal Ñusta" in text

    mail = mailbox.last_to("rosa@hostal.pe")
    assert number in mail["Subject"]
    attachment = next(mail.iter_attachments())
    assert attachment.get_filename() == f"{number}.pdf"
    mailed = PdfReader(io.BytesIO(attachment.get_content()))
    assert number in mailed.pages[0].extract_text()


def test_wrong_dni_shows_message_keeps_input_and_signs_nothing(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client)
    response = post_form(
        client,
        f"/establishments/{establishment_id}/sign",
        {**SIGNATURE, "document_number": "1234567"},
    )
    assert response.status_code == 400
    assert "8" in field_error(response, "document_number")
    assert field_value(response, "representative_name") == "Rosa Quispe Mamani"
    assert page(response).title.get_text().startswith("Error")
    assert _signatures(db) == 0
    assert error_summary(response)


@pytest.mark.parametrize(
    ("document_type", "number", "kept"),
    [
        ("DNI", "4123456", False),
        ("DNI", "4123456X", False),
        ("CE", "12345678", False),
        ("PASSPORT", "AB1", False),
        ("DNI", "41234567", True),
        ("CE", "001234567", True),
        ("PASSPORT", "ab-123 456", True),
    ],
)
def test_each_document_type_has_its_own_rule(client, db, document_type, number, kept):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client)
    response = post_form(
        client,
        f"/establishments/{establishment_id}/sign",
        {**SIGNATURE, "document_type": document_type, "document_number": number},
    )
    assert (response.status_code == 303) is kept
    assert _signatures(db) == (1 if kept else 0)


def test_acceptance_and_name_are_required_and_huge_text_is_refused(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client)
    response = post_form(
        client,
        f"/establishments/{establishment_id}/sign",
        {**SIGNATURE, "accept": "", "representative_name": "R" * 100_000},
    )
    assert response.status_code == 400
    assert field_error(response, "accept")
    assert "200" in field_error(response, "representative_name")
    assert _signatures(db) == 0


def test_signing_twice_is_refused_with_a_message(client, db, mailbox):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client)
    token_page = f"/establishments/{establishment_id}/sign"
    from tests.conftest import csrf_of

    token = csrf_of(client, token_page)
    first = client.post(token_page, data={"csrf_token": token, **SIGNATURE})
    second = client.post(token_page, data={"csrf_token": token, **SIGNATURE})
    assert first.status_code == 303
    assert second.status_code == 400
    assert error_summary(second)
    assert _signatures(db) == 1
    assert len(mailbox.to("rosa@hostal.pe")) == 1
    # The sign page itself now sends the operator back to the establishment.
    assert client.get(token_page).status_code == 303


def test_two_signings_at_the_same_moment_give_one_signature(app, db):
    """A double click that reaches two workers at once: the database lets exactly one through."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from tests.conftest import csrf_of

    make_user(db, "rosa@hostal.pe")
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "rosa@hostal.pe")
        establishment_id = add_establishment(client)
        url = f"/establishments/{establishment_id}/sign"
        token = csrf_of(client, url)
        cookies = dict(client.cookies)

    def attempt(_: int) -> int:
        with TestClient(app, follow_redirects=False, cookies=cookies) as c:
            return c.post(url, data={"csrf_token": token, **SIGNATURE}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(attempt, range(4)))
    assert codes.count(303) == 1
    assert sorted(codes) == [303, 400, 400, 400]
    assert _signatures(db) == 1


def test_signatory_numbers_follow_each_other(client, db):
    make_user(db, "cadena@hoteles.pe")
    sign_in(client, "cadena@hoteles.pe")
    numbers = []
    for branch in ("0000", "0001", "0002"):
        establishment_id = add_establishment(client, branch_code=branch)
        post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE)
        numbers.append(
            db.scalars(
                select(Signature.signatory_number).where(
                    Signature.establishment_id == establishment_id
                )
            ).one()
        )
    sequence = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert sequence == [sequence[0], sequence[0] + 1, sequence[0] + 2]


def test_acknowledgement_shows_names_as_text_and_the_whole_code(client, db):
    make_user(db, "rosa@hostal.pe")
    sign_in(client, "rosa@hostal.pe")
    establishment_id = add_establishment(client, trade_name="<b>Hostal</b> & <script>x()</script>")
    post_form(client, f"/establishments/{establishment_id}/sign", SIGNATURE)
    pdf = client.get(f"/establishments/{establishment_id}/acknowledgement.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "<b>Hostal</b> & <script>x()</script>" in text.replace("\n", "")
    from app.jurisdiction import current_scheme

    code = current_scheme().current_code()
    flat = " ".join(text.split())
    for commitment in code.commitments:
        title = " ".join(commitment.title["es"].split())
        assert title in flat
