# ruff: noqa: F811  (pytest fixtures imported by name, then taken as parameters)
"""Evidence and certificate storage full or unwritable, for real: a 1 MB tmpfs mounted over the
folder, and the same mount remounted read-only (as root, chmod would not stop a write). The person
is told on the same form, and nothing changes: no evidence row, no report version, no stray file;
an approval whose certificate cannot be kept is not half-made."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.certificates.models import Certificate
from app.reports.models import AnnualReport, Evidence
from app.reviews.models import ReviewDecision
from tests.conftest import csrf_of, field_error
from tests.reports.conftest import report_url
from tests.reports.files import CATALOG, PAGE, PAGES, pdf, plain_pdf, stream
from tests.reviews.test_review import (  # noqa: F401  (fixtures)
    decide,
    filed,
    operator_with_establishment,
    reviewer,
    staff,
)

PDF = plain_pdf()
#: 1.5 MB, under the 10 MB limit: a real PDF whose one stream is large.
LARGE_PDF = pdf(CATALOG, PAGES, PAGE, stream(b"", b"0" * 1_500_000))


def _mount(folder: Path, options: str) -> None:
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root in a VM")


@pytest.fixture
def small_disk(app) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """The evidence folder is a 1 MB file system."""
    folder = app.state.settings.evidence_dir
    folder.mkdir(parents=True, exist_ok=True)
    _mount(folder, "size=1m")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def _read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


@pytest.fixture
def section_url(client, open_period, operator_with_establishment):  # type: ignore[no-untyped-def]  # noqa: F811
    url = report_url(operator_with_establishment, open_period)
    token = csrf_of(client, url)
    client.post(f"{url}/start", data={"csrf_token": token, "from_previous": "no"})
    return f"{url}/sections/policy"


def _upload(client, section_url: str, content: bytes):  # type: ignore[no-untyped-def]
    token = csrf_of(client, section_url)
    return client.post(
        f"{section_url}/evidence",
        data={"csrf_token": token},
        files={"file": ("politica.pdf", content, "application/pdf")},
    )


def _state(db) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    report = db.scalars(select(AnnualReport)).one()
    return db.scalar(select(func.count()).select_from(Evidence)), report.version, report.state


def _files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


STORAGE_MESSAGE = "The file could not be stored right now. Nothing was changed; try again later."


def test_a_full_disk_refuses_the_upload_on_the_same_form(client, db, section_url, small_disk):  # type: ignore[no-untyped-def]
    before = _state(db)
    response = _upload(client, section_url, LARGE_PDF)
    assert response.status_code == 400
    assert field_error(response, "file") == STORAGE_MESSAGE
    assert BeautifulSoup(response.text, "html.parser").find("input", {"name": "file"})
    assert _state(db) == before
    assert _files(small_disk) == []  # the partial file was removed

    # Room again (a small file fits): the same form works.
    response = _upload(client, section_url, PDF)
    assert response.status_code == 303
    assert _state(db)[0] == 1


def test_a_read_only_disk_refuses_the_upload_on_the_same_form(client, db, section_url, small_disk):  # type: ignore[no-untyped-def]
    before = _state(db)
    _read_only(small_disk)
    response = _upload(client, section_url, PDF)
    assert response.status_code == 400
    assert field_error(response, "file") == STORAGE_MESSAGE
    assert _state(db) == before
    assert _files(small_disk) == []


def test_an_approval_whose_certificate_cannot_be_kept_changes_nothing(  # type: ignore[no-untyped-def]
    app,
    db,
    filed,
    reviewer,  # noqa: F811
):
    _approval_without_certificate_storage(app, db, filed, reviewer)


def _approval_without_certificate_storage(  # type: ignore[no-untyped-def]
    app,
    db,
    filed,
    reviewer,  # noqa: F811
):
    folder = app.state.settings.certificates_dir
    folder.mkdir(parents=True, exist_ok=True)
    _mount(folder, "size=1m")
    try:
        _read_only(folder)
        audit_before = db.scalar(select(func.count()).select_from(AuditEntry))
        response = decide(
            reviewer, filed["review"], {"decision": "approved", "comment": "Conforme."}
        )
        assert response.status_code == 503
        assert response.headers["retry-after"]
        title = BeautifulSoup(response.text, "html.parser").h1.get_text(strip=True)
        assert title == "The service is not available right now"
        db.expire_all()
        assert db.get(AnnualReport, filed["report_id"]).state == "submitted"
        assert db.scalar(select(func.count()).select_from(ReviewDecision)) == 0
        assert db.scalar(select(func.count()).select_from(Certificate)) == 0
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
        assert _files(folder) == []

        # Writable again: the same approval goes through and the certificate is kept.
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        response = decide(
            reviewer, filed["review"], {"decision": "approved", "comment": "Conforme."}
        )
        assert response.status_code == 303
        db.expire_all()
        assert db.scalars(select(Certificate)).one().pdf_es_key
        assert _files(folder)  # the Spanish copy, and the operator's language for the mail
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
