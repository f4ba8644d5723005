"""Hostile spreadsheets at the admin import: XLSX zip bombs (huge, too many entries, archives
inside, sizes that lie), and names built to mislead. Each refused on the same page with the reason,
nothing written; built here from the real workbook in tests/data."""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from app.i18n import use_locale
from app.imports import service
from app.imports.parsing import ImportFileError
from tests.conftest import error_summary, make_user, page, post_form, sign_in
from tests.reports.files import deflate_bomb

DATA = Path(__file__).resolve().parent.parent / "data"
WORKBOOK = (DATA / "signatories.xlsx").read_bytes()
BOMB = "far more data than a list of signatories needs"
UNREADABLE = "cannot be opened"


def _raw_deflate(zlib_stream: bytes) -> bytes:
    return zlib_stream[2:-4]  # a ZIP entry holds the bare deflate data


@functools.cache
def _crc_of_zeros(megabytes: int) -> int:
    zeros, crc = bytes(1 << 20), 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    return crc


def zip_with(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A ZIP archive written byte by byte: (name, deflated data, CRC-32, size it declares)."""
    out, directory = bytearray(), bytearray()
    for name, data, crc, size in entries:
        encoded = name.encode()
        offset = len(out)
        fields = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0, crc, len(data), size)
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(encoded), 0) + encoded + data
        directory += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHHHII", len(encoded), 0, 0, 0, 0, 0, offset)
            + encoded
        )
    end = struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), len(directory), len(out), 0)
    return bytes(out + directory + b"PK\x05\x06" + end)


def workbook_entries(replace: dict[str, tuple[bytes, int, int]] | None = None):  # type: ignore[no-untyped-def]
    """The real workbook's entries, re-deflated, with some replaced."""
    entries = []
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as archive:
        for info in archive.infolist():
            if replace and info.filename in replace:
                entries.append((info.filename, *replace[info.filename]))
                continue
            data = archive.read(info)
            entries.append(
                (info.filename, _raw_deflate(zlib.compress(data)), zlib.crc32(data), len(data))
            )
    return entries


def _sheet_bomb(declared_megabytes: int) -> tuple[bytes, int, int]:
    return (_raw_deflate(deflate_bomb(2048)), _crc_of_zeros(2048), declared_megabytes << 20)


def _with_extra(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr(name, content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _many_entries(count: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for number in range(count):
            target.writestr(f"xl/media/{number}.txt", b"")
    return out.getvalue()


def _inner_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("bomb.xml", b"<a/>")
    return out.getvalue()


# Each file is made by the test that uses it (making them all takes a second and a half, which
# every test process would pay when it imports this module).
HOSTILE = {
    "sheet-inflating-to-2-gb": (
        lambda: zip_with(workbook_entries({"xl/worksheets/sheet1.xml": _sheet_bomb(2048)})),
        BOMB,
    ),
    "styles-2-gb": (
        lambda: zip_with(workbook_entries({"xl/styles.xml": _sheet_bomb(2048)})),
        BOMB,
    ),
    "sizes-that-lie": (
        lambda: zip_with(workbook_entries({"xl/worksheets/sheet1.xml": _sheet_bomb(1)})),
        UNREADABLE,
    ),
    "ten-thousand-entries": (lambda: _many_entries(10_000), BOMB),
    "two-thousand-entries": (lambda: _many_entries(2_000), BOMB),
    "archive-inside": (lambda: _with_extra("xl/embeddings/inner.zip", _inner_zip()), BOMB),
    "workbook-inside": (lambda: _with_extra("xl/embeddings/oleObject1.xlsx", WORKBOOK), BOMB),
    "not-a-workbook": (_inner_zip, UNREADABLE),
}


@functools.cache
def hostile(case: str) -> bytes:
    """The file of a case of HOSTILE, made once per test process."""
    return HOSTILE[case][0]()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_workbooks_are_refused_before_they_are_inflated(db, tmp_path, case):
    reason = HOSTILE[case][1]
    path = tmp_path / "firmantes.xlsx"
    path.write_bytes(hostile(case))
    with use_locale("en"), pytest.raises(ImportFileError, match=reason):
        service.preview_file(db_session=db, path=path, filename=path.name)


def _counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
    }


@pytest.fixture
def admin(client, db):  # type: ignore[no-untyped-def]
    make_user(db, "admin@mincetur.gob.pe", role="admin")
    sign_in(client, "admin@mincetur.gob.pe")
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    return client


def _upload(client, name: str, content: bytes):  # type: ignore[no-untyped-def]
    token = page(client.get("/admin/imports")).find("input", {"name": "csrf_token"})["value"]
    response = client.post(
        "/admin/imports",
        data={"csrf_token": token},
        files={"file": (name, content, "application/octet-stream")},
    )
    if response.status_code == 303:
        response = client.get(response.headers["location"])
    return response


def test_hostile_workbooks_are_refused_on_the_page(admin, db, app):
    before = _counts(db)
    for case, (_make, reason) in sorted(HOSTILE.items()):
        response = _upload(admin, "firmantes.xlsx", hostile(case))
        assert response.status_code == 400, case
        assert reason in " ".join(error_summary(response)), case
        assert _counts(db) == before, case
    uploads = app.state.settings.var_dir / "imports"
    assert not [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else True


def test_hostile_workbooks_are_refused_in_spanish(admin):
    post_form(admin, "/language", {"lang": "es", "next": "/"}, form_page="/")
    response = _upload(admin, "firmantes.xlsx", hostile("sheet-inflating-to-2-gb"))
    assert response.status_code == 400
    assert "muchos más datos" in " ".join(error_summary(response))


def test_the_name_of_an_import_is_shown_harmless(admin):
    response = _upload(
        admin, "../../etc/\u202eFirmantes\u200b 2024.xlsx", (DATA / "signatories.xlsx").read_bytes()
    )
    assert response.status_code == 200
    title = page(response).find("h1").get_text()
    assert title == "Check the import of Firmantes 2024.xlsx"
