"""Hostile evidence files: decompression bombs, huge pictures, PDFs that run scripts or carry other
files, files that are two kinds at once, and names built to mislead: each refused on the same form
(and by the API) with the reason, the report unchanged; names made harmless."""

from __future__ import annotations

import io
import re
import zlib

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript
from sqlalchemy import func, select

from app.i18n import use_locale
from app.reports.evidence import EvidenceRefused, check_content
from app.reports.models import AnnualReport, Evidence
from app.storage import clean_filename, content_disposition
from tests.api.conftest import auth, is_problem, operator_token, signed_establishment
from tests.conftest import (
    csrf_of,
    error_summary,
    field_error,
    field_value,
    flash_text,
    page,
    post_form,
)
from tests.reports.conftest import report_url
from tests.reports.files import (
    deflate_bomb,
    jpeg,
    pdf_with_catalog,
    pdf_with_object_stream,
    plain_pdf,
    png,
    png_chunk,
    stream,
    zip_archive,
)

BOMB = "compression bomb"
PIXELS = "too large"
HIDDEN = "other content hidden"
SCRIPTS = "actions that run when it is opened"
ATTACHED = "other files attached"
ENCRYPTED = "password-protected or encrypted"
DAMAGED = "damaged or incomplete"
UNCHECKABLE = "cannot check"


def _pypdf(build) -> bytes:  # type: ignore[no-untyped-def]
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    build(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


JS_ACTION = b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"

HOSTILE = {
    # Decompression bombs and huge pictures.
    "png-idat-2-gb": ("foto.png", png(1000, 1000, idat=deflate_bomb(2048)), BOMB),
    "png-100000x100000": ("foto.png", png(100_000, 100_000, idat=zlib.compress(b"")), PIXELS),
    "png-ztxt-bomb": (
        "foto.png",
        png(before_idat=png_chunk(b"zTXt", b"Comment\x00\x00" + deflate_bomb(64))),
        BOMB,
    ),
    "png-icc-bomb": (
        "foto.png",
        png(before_idat=png_chunk(b"iCCP", b"sRGB\x00\x00" + deflate_bomb(64))),
        BOMB,
    ),
    "jpeg-65000x65000": ("foto.jpg", jpeg(65_000, 65_000), PIXELS),
    "png-bad-checksum": ("foto.png", png()[:-5] + b"\x00" * 5, DAMAGED),
    "jpeg-cut-short": ("foto.jpg", jpeg()[:-40], DAMAGED),
    "pdf-cut-short": ("informe.pdf", plain_pdf()[:-20], DAMAGED),
    # PDFs that run something or carry something.
    "pdf-openaction-js": ("informe.pdf", pdf_with_catalog(b"/OpenAction " + JS_ACTION), SCRIPTS),
    "pdf-hex-escaped-names": (
        "informe.pdf",
        pdf_with_catalog(b"/OpenAction << /S /J#61vaScr#69pt /J#53 (app.alert\\(1\\)) >>"),
        SCRIPTS,
    ),
    "pdf-js-in-object-stream": ("informe.pdf", pdf_with_object_stream(JS_ACTION), SCRIPTS),
    "pdf-launch": (
        "informe.pdf",
        pdf_with_catalog(b"/OpenAction << /S /Launch /F (cmd.exe) >>"),
        SCRIPTS,
    ),
    "pdf-additional-actions": (
        "informe.pdf",
        pdf_with_catalog(b"/AA << /WC << /S /URI /URI (https://example.org) >> >>"),
        SCRIPTS,
    ),
    "pdf-names-javascript": (
        "informe.pdf",
        pdf_with_catalog(b"/Names << /JavaScript << /Names [(a) 4 0 R] >> >>", JS_ACTION),
        SCRIPTS,
    ),
    "pdf-pypdf-add-js": (
        "informe.pdf",
        _pypdf(lambda w: w.add_open_action(JavaScript("app.alert(1);"))),
        SCRIPTS,
    ),
    "pdf-embedded-file": (
        "informe.pdf",
        pdf_with_catalog(
            b"/Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >>",
            b"<< /Type /Filespec /F (a.exe) /EF << /F 5 0 R >> >>",
            stream(b"/Type /EmbeddedFile", b"MZ\x90\x00"),
        ),
        ATTACHED,
    ),
    "pdf-pypdf-attachment": (
        "informe.pdf",
        _pypdf(lambda w: w.add_attachment("lista.csv", b"a;b\n")),
        ATTACHED,
    ),
    "pdf-attachment-in-object-stream": (
        "informe.pdf",
        pdf_with_object_stream(b"<< /Type /Annot /Subtype /FileAttachment /FS (a.exe) >>"),
        ATTACHED,
    ),
    "pdf-encrypted": (
        "informe.pdf",
        _pypdf(lambda w: w.encrypt("clave", algorithm="AES-128")),
        ENCRYPTED,
    ),
    "pdf-object-stream-other-filter": (
        "informe.pdf",
        pdf_with_catalog(
            b"",
            stream(
                b"/Type /ObjStm /N 1 /First 4 /Filter /ASCIIHexDecode", JS_ACTION.hex().encode()
            ),
        ),
        UNCHECKABLE,
    ),
    # Polyglots: one file that is also another.
    "pdf-then-zip": ("informe.pdf", plain_pdf() + zip_archive(), HIDDEN),
    "pdf-with-html": (
        "informe.pdf",
        plain_pdf().replace(b"%PDF-1.7\n", b"%PDF-1.7\n%<html><script>alert(1)</script>\n"),
        HIDDEN,
    ),
    "png-then-zip": ("foto.png", png(after_end=zip_archive()), HIDDEN),
    "png-then-html": ("foto.png", png(after_end=b"<script>alert(1)</script>"), HIDDEN),
    "png-script-in-text": (
        "foto.png",
        png(before_idat=png_chunk(b"tEXt", b"Comment\x00<svg onload=alert(1)>")),
        HIDDEN,
    ),
    "jpeg-then-zip": ("foto.jpg", jpeg(after_end=zip_archive()), HIDDEN),
    "jpeg-then-php": ("foto.jpg", jpeg(after_end=b"<?php system($_GET['c']); ?>"), HIDDEN),
    "animated-png": (
        "foto.png",
        png(before_idat=png_chunk(b"acTL", b"\x00\x00\x00\x02\x00\x00\x00\x00")),
        "Animated pictures",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_check_names_the_reason(case):
    _name, content, reason = HOSTILE[case]
    kind = {b"%PDF": "application/pdf", b"\x89PNG": "image/png"}.get(content[:4], "image/jpeg")
    with use_locale("en"), pytest.raises(EvidenceRefused, match=re.escape(reason)):
        check_content(content, kind)


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("image/png", png(640, 480)),
        ("image/png", png(before_idat=png_chunk(b"tEXt", b"Comment\x00Recepcion, 2024"))),
        ("image/jpeg", jpeg()),
        ("application/pdf", plain_pdf()),
        ("application/pdf", plain_pdf() + b"\r\n\x00\x00"),
        ("application/pdf", _pypdf(lambda w: None)),
        (
            "application/pdf",
            pdf_with_object_stream(b"<< /Type /Action /S /GoTo /D [3 0 R /Fit] >>"),
        ),
        (
            "application/pdf",
            pdf_with_catalog(
                b"/OpenAction [3 0 R /XYZ null null 0] /URI << /Base (https://a.pe) >>"
            ),
        ),
    ],
)
def test_ordinary_files_pass(kind, content):
    check_content(content, kind)


def test_a_pdf_the_portal_makes_passes():
    """A real, compressed PDF from WeasyPrint (what offices' tools make looks like this)."""
    from weasyprint import HTML

    made = HTML(string="<h1>Política</h1><p>Aprobada por el directorio.</p>").write_pdf()
    assert PdfReader(io.BytesIO(made)).pages
    check_content(made, "application/pdf")


# --- through the form and the API --------------------------------------------------------------------


@pytest.fixture
def section_url(client, open_period, operator_with_establishment):
    url = report_url(operator_with_establishment, open_period)
    post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    return f"{url}/sections/policy"


def _report_state(db) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    report = db.scalars(select(AnnualReport)).one()
    count = db.scalar(select(func.count()).select_from(Evidence))
    return count, report.version, str(report.content)


def test_hostile_files_are_refused_on_the_form(client, db, app, section_url):
    """Each file in turn (one operator and report for all: setting them up is the slow part)."""
    before = _report_state(db)
    for case, (name, content, reason) in sorted(HOSTILE.items()):
        response = client.post(
            f"{section_url}/evidence",
            data={"csrf_token": csrf_of(client, section_url)},
            files={"file": (name, content, "application/octet-stream")},
        )
        assert response.status_code == 400, case
        assert reason in (field_error(response, "file") or ""), case
        assert any(reason in line for line in error_summary(response)), case
        assert _report_state(db) == before, case
    assert not [p for p in app.state.settings.evidence_dir.rglob("*") if p.is_file()]


def test_hostile_files_are_refused_in_spanish(client, db, section_url):
    post_form(client, "/language", {"lang": "es", "next": "/"}, form_page="/")
    response = client.post(
        f"{section_url}/evidence",
        data={"csrf_token": csrf_of(client, section_url)},
        files={"file": ("informe.pdf", HOSTILE["pdf-openaction-js"][1], "application/pdf")},
    )
    assert response.status_code == 400
    message = field_error(response, "file")
    assert "JavaScript" in message and "no se aceptan" in message
    assert field_value(response, "narrative") is not None


def test_hostile_files_are_refused_by_the_api(
    client, db, app, open_period, operator_token, signed_establishment
):
    url = f"/api/v1/establishments/{signed_establishment}/reports/{open_period.year}/evidence"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(AnnualReport)) == 0
    for case in (
        "png-idat-2-gb",
        "jpeg-65000x65000",
        "pdf-js-in-object-stream",
        "pdf-embedded-file",
        "jpeg-then-zip",
        "pdf-encrypted",
    ):
        name, content, reason = HOSTILE[case]
        response = client.post(
            url,
            data={"section": "policy"},
            files={"file": (name, content, "application/pdf")},
            headers=auth(operator_token),
        )
        body = is_problem(response, 422, "invalid_file")
        assert reason in body["errors"]["file"], case
        assert reason in body["detail"], case
        db.expire_all()
        assert db.scalar(select(func.count()).select_from(AnnualReport)) == 0, case
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db.scalar(select(func.count()).select_from(AnnualReport)) == 0  # not even started


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system32\\informe.pdf", "informe.pdf"),
        ("informe\x00.exe.pdf", "informe_exe.pdf"),
        ("a\r\nSet-Cookie: sid=x.pdf", "aSet-Cookie_ sid_x.pdf"),
        ("\u202efdp.exe", "fdp.pdf"),  # would show as "exe.pdf" in a right-to-left override
        ("informe\u202e\u200b\u2066.pdf", "informe.pdf"),
        ("....", "evidencia.pdf"),
        ("..", "evidencia.pdf"),
        (".pdf", "evidencia.pdf"),
        ("", "evidencia.pdf"),
        ("x" * 5000 + ".pdf", "x" * 120 + ".pdf"),
        ("Política de protección.PDF", "Política de protección.PDF"),
        ("foto.png", "foto.pdf"),  # the content is what counts
        ('"; filename="evil.html', "__ filename__evil.pdf"),
    ],
)
def test_names_are_made_harmless(sent, kept):
    assert clean_filename(sent, ".pdf", fallback="evidencia") == kept


def test_download_header_cannot_be_broken_by_a_name():
    header = content_disposition("inline", 'a"b\r\nX: y ñ.pdf')
    assert "\r" not in header and "\n" not in header
    assert (
        header
        == "inline; filename=\"a_b__X_ y _.pdf\"; filename*=UTF-8''a%22b%0D%0AX%3A%20y%20%C3%B1.pdf"
    )


def _raw_upload(client, url: str, token: str, filename: bytes, content: bytes):  # type: ignore[no-untyped-def]
    """A multipart body written by hand: the name exactly as a hostile client sends it."""
    boundary = b"portal-test-boundary"
    body = (
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + token.encode()
        + b"\r\n--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    return client.post(
        url,
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"},
    )


NAMES = [
    b"../../../../tmp/x.pdf",
    "\u202efdp.exe".encode(),
    b"nul\x00byte.pdf",
    b"tab\tand\x1bescape.pdf",
    ("ñ" * 300 + ".pdf").encode(),
    b"....",
    "اللائحة.pdf".encode(),
]


def test_stored_shown_and_downloaded_names_are_harmless(client, db, app, section_url):
    for filename in NAMES:
        response = _raw_upload(
            client, f"{section_url}/evidence", csrf_of(client, section_url), filename, png()
        )
        assert response.status_code == 303, (filename, response.text[:500])
        shown = client.get(response.headers["location"].split("#")[0])
        db.expire_all()
        evidence = db.scalars(select(Evidence).order_by(Evidence.id.desc())).first()  # type: ignore[union-attr]
        name = evidence.filename
        assert name.endswith(".png") and len(name) <= 124, name
        assert not any(ord(c) < 32 or c in "/\\\u202e" for c in name), name
        assert not name.startswith("."), name
        assert name in flash_text(shown)
        link = page(shown).select("#evidence ~ ul a")[-1]
        served = client.get(link["href"])
        disposition = served.headers["content-disposition"]
        assert disposition.startswith('inline; filename="') and "filename*=UTF-8''" in disposition
        assert served.content == png()
    stored = [p.name for p in app.state.settings.evidence_dir.rglob("*") if p.is_file()]
    keys = db.scalars(select(Evidence.storage_key)).all()
    assert sorted(stored) == sorted(keys) and len(keys) == len(NAMES)


__all__ = ["operator_token", "signed_establishment"]  # fixtures of the API tests, used here
