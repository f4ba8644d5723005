"""Evidence files: recognised by their content, size-limited, stored outside the database, served to
the people who may see them."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app.reports.models import Evidence
from tests.conftest import csrf_of, field_error, flash_text, make_user, page, post_form, sign_in
from tests.reports.conftest import report_url
from tests.reports.files import jpeg, png

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = png()
JPEG = jpeg()


@pytest.fixture
def section_url(client, open_period, operator_with_establishment):
    url = report_url(operator_with_establishment, open_period)
    post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
    return f"{url}/sections/policy"


def _upload(client, section_url, name, content, declared="application/pdf"):
    token = csrf_of(client, section_url)
    return client.post(
        f"{section_url}/evidence",
        data={"csrf_token": token},
        files={"file": (name, content, declared)},
    )


def _count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Evidence))


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("politica.pdf", PDF, "application/pdf"),
        ("afiche.png", PNG, "image/png"),
        ("foto.jpeg", JPEG, "image/jpeg"),
    ],
)
def test_pdf_png_and_jpeg_are_attached_and_viewable(
    client, db, app, section_url, name, content, kind
):
    response = _upload(client, section_url, name, content)
    assert response.status_code == 303
    shown = client.get(response.headers["location"].split("#")[0])
    assert "is attached" in flash_text(shown)
    link = page(shown).select_one("#evidence ~ ul a")
    assert link.get_text(strip=True) == name
    served = client.get(link["href"])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(kind)
    assert served.content == content
    assert served.headers["content-disposition"].startswith("inline")
    evidence = db.scalars(select(Evidence)).one()
    stored = list((app.state.settings.evidence_dir).rglob(evidence.storage_key))
    assert len(stored) == 1 and stored[0].read_bytes() == content
    assert len(evidence.storage_key) == 32 and name not in str(stored[0])


def test_a_file_renamed_to_pdf_is_refused_by_its_content(client, db, section_url):
    response = _upload(client, section_url, "informe.pdf", b"MZ\x90\x00 this is an executable")
    assert response.status_code == 400
    assert "not a PDF, JPEG or PNG" in field_error(response, "file")
    assert _count(db) == 0


def test_a_file_over_the_limit_is_refused(client, db, app, section_url):
    limit = app.state.settings.evidence_max_file_bytes
    response = _upload(client, section_url, "grande.pdf", PDF + b"0" * limit)
    assert response.status_code in (400, 413)
    assert "larger than 10 MB" in field_error(response, "file")
    assert _count(db) == 0


def test_a_200_mb_upload_is_refused_before_it_is_read(client, db, section_url):
    """The request says how big it is; the portal answers without reading the body."""
    token = csrf_of(client, section_url)
    consumed = 0

    def body():
        nonlocal consumed
        boundary = b"--x\r\n"
        yield (
            boundary
            + b'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
            + token.encode()
            + b"\r\n"
        )
        yield (
            boundary
            + b'Content-Disposition: form-data; name="file"; filename="huge.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-'
        )
        for _ in range(200):
            consumed += 1
            yield b"0" * 1_000_000
        yield b"\r\n--x--\r\n"

    response = client.post(
        f"{section_url}/evidence",
        content=body(),
        headers={
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(200_000_400),
        },
    )
    assert response.status_code == 413
    assert "larger than 10 MB" in field_error(response, "file")
    assert consumed < 200
    assert _count(db) == 0


def test_removing_evidence_keeps_the_file_for_filed_copies(client, db, app, section_url):
    _upload(client, section_url, "politica.pdf", PDF)
    shown = client.get(section_url)
    form = page(shown).select_one("#evidence ~ ul form")
    token = csrf_of(client, section_url)
    response = client.post(form["action"], data={"csrf_token": token})
    assert response.status_code == 303
    after = client.get(section_url)
    assert "was removed" in flash_text(after)
    assert (
        "politica.pdf"
        not in page(after).select_one("main").get_text().split("Evidence")[-1].split("Attach")[0]
    )
    evidence = db.scalars(select(Evidence)).one()
    assert evidence.removed_at is not None
    assert list(app.state.settings.evidence_dir.rglob(evidence.storage_key))


def test_another_operator_cannot_download_evidence(client, app, db, section_url):
    _upload(client, section_url, "politica.pdf", PDF)
    link = page(client.get(section_url)).select_one("#evidence ~ ul a")["href"]
    from fastapi.testclient import TestClient

    make_user(db, "otro@hotel.pe")
    with TestClient(app, follow_redirects=False) as other:
        sign_in(other, "otro@hotel.pe")
        assert other.get(link).status_code == 404


def test_reviewer_of_the_region_can_view_evidence_and_another_region_cannot(
    client, app, db, section_url
):
    _upload(client, section_url, "politica.pdf", PDF)
    link = page(client.get(section_url)).select_one("#evidence ~ ul a")["href"]
    from fastapi.testclient import TestClient

    make_user(db, "cusco@dircetur.pe", role="reviewer", regions=("PE-CUS",))
    make_user(db, "puno@dircetur.pe", role="reviewer", regions=("PE-PUN",))
    with TestClient(app, follow_redirects=False) as cusco:
        sign_in(cusco, "cusco@dircetur.pe")
        assert cusco.get(link).status_code == 200
    with TestClient(app, follow_redirects=False) as puno:
        sign_in(puno, "puno@dircetur.pe")
        assert puno.get(link).status_code == 404


def test_storage_that_cannot_be_written_changes_nothing(client, db, app, section_url):
    evidence_dir = app.state.settings.evidence_dir
    evidence_dir.parent.mkdir(parents=True, exist_ok=True)
    evidence_dir.write_text("not a folder")  # the storage cannot create its folders
    try:
        response = _upload(client, section_url, "politica.pdf", PDF)
    finally:
        evidence_dir.unlink()
    assert response.status_code == 400
    assert "could not be stored" in field_error(response, "file")
    assert _count(db) == 0


__all__ = ["io"]
