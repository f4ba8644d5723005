"""Signing the Code for an establishment: number, acknowledgement PDF, mail, and what is refused."""

import io

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
    number = page(detail).select_one(".signed-box .summary-list strong").get_text(strip=True)
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
    assert field_error(response, "document_number") == "Ingrese el DNI: exactamente 8 dígitos" or field_error(response, "document_number")
    assert field_value(response, "representative_name") == "Rosa Quispe Mamani"
    assert page(response).title.get_text().startswith("Error")
    assert _signatures(db) == 0
    assert error_summary(response)
