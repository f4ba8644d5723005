"""Certificates are tested as issued by the portal: a report filed and approved through the pages,
signed with a real key made the way `portal keys create-dev` makes it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from app.certificates.models import Certificate
from app.certificates.signing import create_dev_keys
from app.cli import app as portal
from app.config import get_settings
from tests.reviews.test_review import (  # noqa: F401  (fixtures)
    OPERATOR,
    decide,
    filed,
    operator_with_establishment,
    reviewer,
    staff,
)


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return create_dev_keys(tmp_path_factory.mktemp("keys"), "Portal ESNNA (pruebas)")


@pytest.fixture(autouse=True)
def signing(app, signing_keys):  # type: ignore[no-untyped-def]
    """The portal signs certificates with its key, as in production."""
    app.state.settings.signing_key_file, app.state.settings.signing_cert_file = signing_keys
    return signing_keys


@pytest.fixture
def approved(client, db, filed, reviewer):  # type: ignore[no-untyped-def]  # noqa: F811
    """The operator's report is approved by the regional reviewer: the certificate is issued."""
    response = decide(reviewer, filed["review"], {"decision": "approved", "comment": "Conforme."})
    assert response.status_code == 303
    db.expire_all()
    certificate = db.scalars(select(Certificate)).one()
    year = filed["period"].year
    return {
        **filed,
        "certificate": certificate,
        "pdf_url": f"/establishments/{filed['establishment_id']}/certificates/{year}.pdf",
    }


@pytest.fixture
def cli(database_url, smtp_server, db, monkeypatch, app, signing_keys):  # type: ignore[no-untyped-def]
    """Runs `portal ...` with the settings of the test database, mail server and storage."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_BASE_URL", app.state.settings.base_url)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(app.state.settings.var_dir))
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "test")
    monkeypatch.setenv("PORTAL_MAIL_BACKEND", "smtp")
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_PORT", str(smtp_server[1]))
    monkeypatch.setenv("PORTAL_SIGNING_KEY_FILE", str(signing_keys[0]))
    monkeypatch.setenv("PORTAL_SIGNING_CERT_FILE", str(signing_keys[1]))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(portal, [str(a) for a in args])
    get_settings.cache_clear()


def pdf_text(pdf: bytes) -> str:
    from io import BytesIO

    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def squeezed(text: str) -> str:
    """Text without any whitespace: PDF text extraction breaks lines where the layout wrapped."""
    return "".join(text.split())


def scan_qr(pdf: bytes, tmp_path: Path) -> list[str]:
    """What a phone reads off the printed page: render it to an image, then decode every QR code."""
    source = tmp_path / "scan.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "150",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    (image,) = tmp_path.glob("page*.png")
    result = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True
    )
    return [line for line in result.stdout.splitlines() if line]


def words(pdf: bytes, tmp_path: Path) -> list[tuple[float, float, float, float, str]]:
    """Every word on the first page with its box (points from the top-left), as poppler sees it."""
    source = tmp_path / "words.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(source), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    return [
        (float(x0), float(y0), float(x1), float(y1), text)
        for x0, y0, x1, y1, text in re.findall(pattern, result.stdout)
    ]


def overlapping(boxes: list[tuple[float, float, float, float, str]]) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap (by more than a hair)."""
    found = []
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(boxes):
        for bx0, by0, bx1, by1, b in boxes[i + 1 :]:
            if min(ax1, bx1) - max(ax0, bx0) > 0.5 and min(ay1, by1) - max(ay0, by0) > 0.5:
                found.append((a, b))
    return found
