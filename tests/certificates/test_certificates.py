"""The certificate of compliance: issued on approval, downloaded, mailed, scanned, verified,
signed, re-issued; and what the public verification page says as the signature's status changes."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pypdf import PdfReader
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.models import User
from app.certificates import service
from app.certificates.models import Certificate
from app.certificates.signing import check_signature
from app.clock import today
from app.establishments.models import Establishment
from tests.certificates.conftest import (
    OPERATOR,
    overlapping,
    pdf_text,
    scan_qr,
    squeezed,
    words,
)
from tests.conftest import (
    SIGNATURE,
    error_summary,
    field_error,
    field_value,
    flash_text,
    page,
    post_form,
)


def _certificate(db) -> Certificate:
    db.expire_all()
    return db.scalars(select(Certificate)).one()


def test_approval_issues_a_certificate_the_operator_downloads_and_receives(
    client, db, mailbox, approved
):
    certificate = approved["certificate"]
    establishment = db.get(Establishment, approved["establishment_id"])
    year = approved["period"].year
    assert certificate.number == f"CERT-{year}-{establishment.id:06d}"
    assert certificate.valid_until == approved["period"].deadline.replace(
        year=approved["period"].deadline.year + 1
    )
    assert certificate.signed

    # The establishment's page lists it, valid, with its downloads.
    detail = page(client.get(f"/establishments/{establishment.id}"))
    row = detail.find(id="certificates").find_next("table").select_one("tbody tr")
    assert certificate.number in row.get_text() and "Valid" in row.get_text()

    response = client.get(approved["pdf_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f"certificado-{certificate.number}.pdf" in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1  # one A4 page
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = pdf_text(response.content)
    flat = squeezed(text)
    for expected in (
        "Certificado de cumplimiento",
        certificate.number,
        establishment.trade_name,
        establishment.legal_name,
        establishment.ruc,
        establishment.address,
        "Cusco",
        "Dirección Regional de Comercio Exterior y Turismo de Cusco",
        str(year),
        f"/verify/{certificate.code}",
    ):
        assert squeezed(expected) in flat, expected
    assert re.search(r"CC-\d{4}-\d{6}", text)  # the signatory number
    assert "Válido hasta" in text or "Vigente hasta" in text
    # The fonts travel inside the file: every font of the page is embedded.
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for font in fonts.values():
        font = font.get_object()
        descriptor = (
            font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            if "/DescendantFonts" in font
            else font["/FontDescriptor"]
        )
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))

    # By mail, in the operator's language (they chose English), with the PDF attached.
    mail = mailbox.last_to(OPERATOR)
    assert mail["Subject"] == f"Certificate of compliance {year} – {establishment.trade_name}"
    body = mailbox.body(mail)
    assert f"/verify/{certificate.code}" in body
    (attachment,) = [p for p in mail.iter_attachments()]
    assert attachment.get_filename() == f"certificate-{certificate.number}.pdf"
    assert "Certificate of compliance" in pdf_text(attachment.get_content())

    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "certificate.issue")).one()
    assert entry.object_id == certificate.number and entry.region == "PE-CUS"


def test_a_certificate_is_rendered_once_then_served_as_stored(client, db, approved, app):
    first = client.get(approved["pdf_url"]).content
    second = client.get(approved["pdf_url"]).content
    # A new render would differ (signing time, document id): the same bytes are the stored file.
    assert first == second
    certificate = _certificate(db)
    stored = service.certificate_storage(app.state.settings)._path(certificate.pdf_es_key)
    assert stored.read_bytes() == first

    # English on request: rendered the first time, then kept too.
    english = client.get(approved["pdf_url"] + "?lang=en")
    assert "Certificate of compliance" in pdf_text(english.content)
    assert "certificate-" in english.headers["content-disposition"]
    assert _certificate(db).pdf_en_key
    assert client.get(approved["pdf_url"] + "?lang=en").content == english.content


def test_the_qr_code_opens_the_verification_page(client, db, approved, app, tmp_path):
    pdf = client.get(approved["pdf_url"]).content
    (url,) = scan_qr(pdf, tmp_path)
    certificate = approved["certificate"]
    assert url == f"{app.state.settings.base_url}/verify/{certificate.code}"

    client.cookies.clear()  # anyone, not signed in
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    verdict = page(response).select_one(".verdict")
    assert "Valid" in verdict.get_text() or "Válido" in verdict.get_text()
    text = page(response).get_text()
    establishment = db.get(Establishment, approved["establishment_id"])
    assert establishment.trade_name in text and establishment.ruc in text
    # Nothing personal: not the representative, the document, nor the operator's e-mail.
    for personal in (SIGNATURE["representative_name"], SIGNATURE["document_number"], OPERATOR):
        assert personal not in response.text


def test_the_signature_is_valid_and_a_changed_file_fails(
    client, db, approved, signing, cli, tmp_path
):
    pdf = client.get(approved["pdf_url"]).content
    check = check_signature(pdf, signing[1])
    assert check.ok and "Portal ESNNA" in check.signer

    good = tmp_path / "good.pdf"
    good.write_bytes(pdf)
    result = cli("certificates", "verify", good)
    assert result.exit_code == 0, result.output
    assert "Signature: valid" in result.output and "VERIFIED" in result.output
    assert approved["certificate"].number in result.output and "VALID" in result.output

    # One byte changed inside the signed content.
    tampered = bytearray(pdf)
    position = pdf.index(b"stream") + 40
    tampered[position] ^= 0x01
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(tampered))
    assert not check_signature(bytes(tampered), signing[1]).ok
    result = cli("certificates", "verify", bad)
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output

    # Content appended after signing (an incremental update) is not covered by the signature.
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(pdf + b"\n1 0 obj\n<< /Injected true >>\nendobj\n")
    assert cli("certificates", "verify", appended).exit_code == 1

    # A PDF the portal never issued.
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    result = cli("certificates", "verify", other)
    assert result.exit_code == 1 and "NOT FOUND" in result.output


def test_revocation_and_suspension_flip_the_verification_page_at_once(
    client, db, approved, reviewer
):
    code = approved["certificate"].code
    establishment_id = approved["establishment_id"]

    def verdict() -> str:
        return page(client.get(f"/verify/{code}")).select_one(".verdict").get_text(" ", strip=True)

    assert "Valid" in verdict()
    post_form(
        reviewer,
        f"/establishments/{establishment_id}/signature/suspend",
        {"suspend_reason": "Poster not displayed"},
        form_page=f"/establishments/{establishment_id}",
    )
    assert "Revoked" in verdict()
    post_form(
        reviewer,
        f"/establishments/{establishment_id}/signature/reinstate",
        {"reinstate_reason": "Poster displayed"},
        form_page=f"/establishments/{establishment_id}",
    )
    assert "Valid" in verdict()
    post_form(
        reviewer,
        f"/establishments/{establishment_id}/signature/revoke",
        {"revoke_reason": "Repeated breaches", "revoke_confirm": "yes"},
        form_page=f"/establishments/{establishment_id}",
    )
    text = verdict()
    assert "Revoked" in text and "revoked on" in text
    assert today().strftime("%Y") in text


def test_an_expired_certificate_says_so(client, db, approved):
    certificate = _certificate(db)
    certificate.valid_until = today() - timedelta(days=1)
    db.add(certificate)
    db.commit()
    verdict = page(client.get(f"/verify/{certificate.code}")).select_one(".verdict")
    assert "Expired" in verdict.get_text()


def test_codes_typed_by_people_unknown_codes_and_nonsense(client, db, approved):
    code = approved["certificate"].code
    assert len(code) * 5 >= 128 and re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{32}", code)

    # Typed from the paper: lower case, in groups, with dashes.
    typed = "-".join(code[i : i + 4] for i in range(0, 32, 4)).lower()
    response = client.get("/verify", params={"code": typed})
    assert response.status_code == 303 and response.headers["location"] == f"/verify/{code}"

    # A well-formed code that no certificate has: a clear page, not an error.
    unknown = ("0" if code[0] != "0" else "1") + code[1:]
    response = client.get(f"/verify/{unknown}")
    assert response.status_code == 404
    assert "No certificate has this code" in page(response).h1.get_text()
    assert field_value(response, "code") == unknown

    # Nonsense: the form again, what was typed kept, and what to do.
    for nonsense in ("12345", "<script>alert(1)</script>", "x" * 150):
        response = client.get("/verify", params={"code": nonsense})
        assert response.status_code == 400
        assert "32 letters and digits" in field_error(response, "code")
        assert field_value(response, "code") == nonsense
    assert client.get("/verify/" + "Z" * 199).status_code == 404
    assert client.get("/verify").status_code == 200


def test_a_reviewer_reissues_with_the_current_data(client, db, mailbox, approved, reviewer, staff):
    establishment_id = approved["establishment_id"]
    year = approved["period"].year
    first = client.get(approved["pdf_url"]).content
    establishment = db.get(Establishment, establishment_id)
    establishment.trade_name = "Hostal Ñusta Renovado"
    db.add(establishment)
    db.commit()

    # Neither the operator nor a reviewer of another region may re-issue.
    url = f"/establishments/{establishment_id}/certificates/{year}/reissue"
    assert (
        post_form(client, url, {}, form_page=f"/establishments/{establishment_id}").status_code
        == 404
    )
    elsewhere = staff("mamani@dircetur-puno.gob.pe", regions=("PE-PUN",))
    assert post_form(elsewhere, url, {}, form_page="/dashboard").status_code == 404

    response = post_form(reviewer, url, {}, form_page=f"/establishments/{establishment_id}")
    assert response.status_code == 303, error_summary(response)
    assert "re-issued" in flash_text(reviewer.get(response.headers["location"]))
    certificate = _certificate(db)
    assert certificate.revision == 2 and certificate.code == approved["certificate"].code
    second = client.get(approved["pdf_url"]).content
    assert second != first and "Hostal Ñusta Renovado" in pdf_text(second)
    assert "re-issued" in mailbox.last_to(OPERATOR)["Subject"]
    assert db.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("certificate.%"))
    ).all() == ["certificate.issue", "certificate.reissue"]


def test_other_operators_and_strangers_cannot_download(client, db, approved, app):
    from fastapi.testclient import TestClient

    from tests.conftest import make_user, sign_in

    make_user(db, "otro@agencia.pe")
    with TestClient(app, follow_redirects=False) as stranger:
        assert stranger.get(approved["pdf_url"]).status_code in (303, 401)
        sign_in(stranger, "otro@agencia.pe")
        assert stranger.get(approved["pdf_url"]).status_code == 404


def test_the_longest_names_fit_on_one_page(client, db, app, approved):
    establishment = db.get(Establishment, approved["establishment_id"])
    establishment.trade_name = ("Hostal Residencial Turístico Ñusta Wasi del Valle Sagrado " * 4)[
        :200
    ]
    establishment.legal_name = (
        "Inversiones y Servicios Turísticos Andinos Qhapaq Ñan Sociedad Anónima Cerrada " * 3
    )[:200]
    establishment.address = (
        "Avenida Túpac Amaru Inca Yupanqui 1234, Interior 5, Urbanización " * 5
    )[:300]
    establishment.province = ("La Convención " * 8)[:100]
    establishment.district = ("Santa Teresa de Jesús " * 5)[:100]
    db.add(establishment)
    db.commit()
    certificate = _certificate(db)
    actor = db.scalars(select(User).where(User.role == "reviewer")).first()
    service.reissue(
        db_session=db, settings=app.state.settings, certificate=certificate, actor=actor
    )
    db.commit()
    var = Path(app.state.settings.var_dir)
    for lang in ("es", "en"):
        pdf = client.get(approved["pdf_url"] + f"?lang={lang}").content
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
        flat = squeezed(pdf_text(pdf))
        for value in (establishment.trade_name, establishment.legal_name, establishment.address):
            assert squeezed(value) in flat
        # The values are set over the page's static text: every word stays inside the sheet's
        # text area (12 mm page margin, 2.2 pt border, 12 mm padding either side; 12 mm and the
        # border above and below), and no word is drawn over another.
        boxes = words(pdf, var)
        width, height = 595.28, 841.89
        side, end = 24 / 25.4 * 72 + 2.2 - 0.5, 12 / 25.4 * 72 + 2.2
        outside = [
            word
            for x0, y0, x1, y1, word in boxes
            if x0 < side or x1 > width - side or y0 < end or y1 > height - end
        ]
        assert not outside
        assert not overlapping(boxes)
        assert "Santa" in {word for *_, word in boxes}
        # And the QR code still scans on the crowded page.
        assert scan_qr(pdf, var)
