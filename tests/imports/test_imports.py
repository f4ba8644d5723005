"""Importing the ministry's spreadsheets of signatories: real files in tests/data, on both databases."""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import SQLModel
from typer.testing import CliRunner

from app.audit.models import AuditEntry
from app.cli import app as portal
from app.conduct.models import Signature
from app.config import get_settings
from app.establishments.models import Establishment, EstablishmentOperator
from app.i18n import set_locale
from app.imports import service
from app.imports.models import ImportBatch
from tests.conftest import (
    error_summary,
    flash_text,
    make_user,
    page,
    post_form,
    sign_in,
    valid_ruc,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SAME_FOUR = [
    "signatories_utf8_semicolon.csv",
    "signatories_latin1_comma.csv",
    "signatories_english.csv",
    "signatories.xlsx",
]


def _counts(db) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t))
        for t in SQLModel.metadata.sorted_tables
    }


def _upload(client, name: str, content: bytes | None = None):  # type: ignore[no-untyped-def]
    token = page(client.get("/admin/imports")).find("input", {"name": "csrf_token"})["value"]
    body = content if content is not None else (DATA / name).read_bytes()
    return client.post(
        "/admin/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")}
    )


@pytest.fixture
def admin(client, db):
    make_user(db, "admin@mincetur.gob.pe", role="admin")
    sign_in(client, "admin@mincetur.gob.pe")
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    return client


@pytest.fixture(autouse=True)
def english():
    """Messages made outside a request (the service, the command line) in English."""
    set_locale("en")
    yield
    set_locale("es")


@pytest.mark.parametrize("name", SAME_FOUR)
def test_every_format_reads_the_same_four_signatories(db, name):
    preview = service.preview_file(db_session=db, path=DATA / name, filename=name)
    assert preview.errors == []
    assert preview.counts == {"create": 4, "update": 0, "unchanged": 0, "error": 0}
    rows = {r.checked.values["trade_name"]: r.checked.values for r in preview.samples["create"]}
    inka = rows["Hostal Inka Ñan"]
    assert inka["ruc"] == valid_ruc("2045678901")
    assert inka["branch_code"] == "0000"
    assert inka["category"] == "lodging"
    assert inka["region"] == "PE-CUS"
    assert inka["signed_on"] == date(2019, 3, 15)
    assert inka["contact_email"] == "reservas@inkanan.pe"
    assert rows["Inka Ñan Valle"]["branch_code"] == "0001"  # Excel's 1 is branch 0001
    assert rows["Tambopata Expeditions"]["region"] == "PE-MDD"
    assert rows["Tambopata Expeditions"]["signatory_number"] == "CC-2020-000077"
    assert rows["Restaurante Doña Rosa"]["region"] == "PE-LMA"


def test_preview_writes_nothing_and_confirming_imports_into_the_public_register(admin, db):
    before = _counts(db)
    response = _upload(admin, "signatories_utf8_semicolon.csv")
    assert response.status_code == 303
    preview = admin.get(response.headers["location"])
    assert preview.status_code == 200
    doc = page(preview)
    assert doc.select_one("[data-count=create]").get_text(strip=True) == "4"
    assert doc.select_one("[data-count=error]").get_text(strip=True) == "0"
    assert "Hostal Inka Ñan" in doc.select_one("#creates").get_text()
    assert _counts(db) == before

    token = doc.find("form", action=lambda a: a and a.endswith("/confirm")).find(
        "input", {"name": "csrf_token"}
    )["value"]
    done = admin.post(response.headers["location"] + "/confirm", data={"csrf_token": token})
    assert done.status_code == 303, error_summary(done)
    listing = admin.get(done.headers["location"])
    assert "4" in flash_text(listing)
    assert "signatories_utf8_semicolon.csv" in page(listing).select_one("#batches").get_text()

    # In the public register at once, as signatories with their original date and numbers.
    register = page(admin.get("/register", params={"q": "Tambopata"})).get_text(" ")
    assert "Tambopata Expeditions" in register
    assert "CC-2020-000077" in register
    # Found like any signatory: by a word of either name, without accents or capitals.
    for query in ("inka nan", "turismo inka", "dona rosa"):
        found = page(admin.get("/register", params={"q": query})).get_text(" ")
        assert "Inka Ñan" in found or "Doña Rosa" in found, query
    db.expire_all()
    signatures = {s.signatory_number: s for s in db.scalars(select(Signature))}
    assert set(signatures) == {
        "CC-2019-000001",
        "CC-2019-000002",
        "CC-2020-000077",
        "CC-2018-000001",
    }
    assert all(s.origin == "import" and s.status == "active" for s in signatures.values())
    assert all(s.representative_name is None for s in signatures.values())
    # Imported establishments have no operator until claimed: nobody can file for them.
    assert db.scalar(select(func.count()).select_from(EstablishmentOperator)) == 0
    batch = db.scalars(select(ImportBatch)).one()
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "import.applied")).one()
    assert entry.actor_email == "admin@mincetur.gob.pe"
    assert (
        entry.after["sha256"]
        == batch.sha256
        == service.file_sha256(DATA / "signatories_utf8_semicolon.csv")
    )
    assert entry.after["created"] == 4


def test_every_error_is_named_with_its_row_and_column_and_can_be_downloaded(admin, db):
    response = _upload(admin, "signatories_with_errors.csv")
    preview = admin.get(response.headers["location"])
    rows = [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in page(preview).select("#errors tbody tr")
    ]
    found = {(int(r[0]), r[1]): r[2] for r in rows}
    assert "Duplicate: row 7" in found[(2, "RUC")]
    assert "Duplicate: row 2" in found[(7, "RUC")]
    assert "check digit" in found[(3, "RUC")]
    assert "Unknown region “Atlántida”" in found[(4, "Departamento")]
    assert "Unknown category “Casino”" in found[(5, "Categoría")]
    assert "“el año pasado” is not a date" in found[(6, "Fecha de firma")]
    assert "e-mail" in found[(8, "Correo electrónico")]
    assert page(preview).select_one("[data-count=error]").get_text(strip=True) == "7"
    assert page(preview).find(id="nothing") is not None  # nothing valid to import

    download = admin.get(response.headers["location"] + "/errors.xlsx")
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.content)).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:3] == ("RUC", "Código de sucursal", "Razón social")
    assert table[0][-1] == "Error"
    assert len(table) == 8  # the column names and the 7 rows
    assert table[3][4] == "Hospedaje" and "Atlántida" in table[3][-1]


def test_the_errors_workbook_fixed_and_uploaded_again_imports(admin, db, tmp_path):
    path = DATA / "signatories_with_errors.csv"
    preview = service.preview_file(db_session=db, path=path, filename=path.name)
    workbook = load_workbook(io.BytesIO(service.errors_workbook(path=path, preview=preview)))
    sheet = workbook.active
    sheet.cell(row=4, column=6).value = "Puno"  # the unknown region
    sheet.cell(row=5, column=5).value = "Restaurante"  # the unknown category
    fixed = tmp_path / "fixed.xlsx"
    workbook.save(fixed)
    again = service.preview_file(db_session=db, path=fixed, filename="fixed.xlsx")
    assert again.counts["create"] == 2
    assert again.counts["error"] == 5


def test_importing_the_same_file_twice_changes_nothing_the_second_time(admin, db):
    path = DATA / "signatories.xlsx"
    first = service.apply_file(db_session=db, path=path, filename=path.name, actor=None)
    db.commit()
    assert first.batch is not None and first.batch.created == 4
    after_first = _counts(db)
    preview = service.preview_file(db_session=db, path=path, filename=path.name)
    assert preview.counts == {"create": 0, "update": 0, "unchanged": 4, "error": 0}
    assert preview.already_applied is not None
    second = service.apply_file(db_session=db, path=path, filename=path.name, actor=None)
    db.commit()
    assert second.batch is None
    assert _counts(db) == after_first
    # The same signatories in another format are the same rows too.
    other = service.preview_file(
        db_session=db, path=DATA / "signatories_latin1_comma.csv", filename="x.csv"
    )
    assert other.counts["unchanged"] == 4

    response = _upload(admin, "signatories.xlsx")
    shown = page(admin.get(response.headers["location"]))
    assert "already imported" in shown.find(id="already-applied").get_text()
    assert shown.find(id="nothing") is not None


def test_rows_that_match_show_what_changes_and_confirming_updates_them(admin, db):
    service.apply_file(
        db_session=db, path=DATA / "signatories_english.csv", filename="a.csv", actor=None
    )
    db.commit()
    text = (DATA / "signatories_english.csv").read_text(encoding="utf-8")
    changed = text.replace("Tambopata Expeditions", "Tambopata Lodge & Expeditions").replace(
        "2019-03-15", "2019-03-16", 1
    )
    response = _upload(admin, "changed.csv", changed.encode())
    shown = page(admin.get(response.headers["location"]))
    assert shown.select_one("[data-count=update]").get_text(strip=True) == "2"
    assert shown.select_one("[data-count=unchanged]").get_text(strip=True) == "2"
    changes = [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in shown.select("#updates tbody tr")
    ]
    assert [
        "Trade name",
        "Tambopata Expeditions",
        "Tambopata Lodge & Expeditions",
    ] in [c[2:] for c in changes]
    assert ["Signature date", "2019-03-15", "2019-03-16"] in [c[2:] for c in changes]
    form = shown.find("form", action=lambda a: a and a.endswith("/confirm"))
    token = form.find("input", {"name": "csrf_token"})["value"]
    assert admin.post(form["action"], data={"csrf_token": token}).status_code == 303
    db.expire_all()
    names = set(db.scalars(select(Establishment.trade_name)))
    assert "Tambopata Lodge & Expeditions" in names
    assert db.scalar(select(func.count()).select_from(Establishment)) == 4


def test_a_failure_on_the_last_row_leaves_nothing(db):
    path = DATA / "signatories_utf8_semicolon.csv"
    before = _counts(db)
    seen: list[int] = []

    def stop_at_the_last_row(done: int) -> None:
        seen.append(done)
        if sum(seen) == 4:  # every row has been written in the transaction
            raise RuntimeError("the server went down")

    with pytest.raises(RuntimeError):
        service.apply_file(
            db_session=db, path=path, filename=path.name, actor=None, progress=stop_at_the_last_row
        )
    db.rollback()
    assert _counts(db) == before


def test_a_row_added_meanwhile_is_checked_again_on_confirming(admin, db, tmp_path):
    response = _upload(admin, "signatories_english.csv")
    key_url = response.headers["location"]
    shown = page(admin.get(key_url))
    assert shown.select_one("[data-count=create]").get_text(strip=True) == "4"
    # Another admin imports one of the rows between the preview and the confirmation.
    partial = "\n".join((DATA / "signatories_english.csv").read_text().splitlines()[:2]) + "\n"
    other = tmp_path / "partial.csv"
    other.write_text(partial)
    service.apply_file(db_session=db, path=other, filename="partial.csv", actor=None)
    db.commit()
    token = shown.find("form", action=lambda a: a and a.endswith("/confirm")).find(
        "input", {"name": "csrf_token"}
    )["value"]
    assert admin.post(key_url + "/confirm", data={"csrf_token": token}).status_code == 303
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Establishment)) == 4
    batches = list(db.scalars(select(ImportBatch).order_by(ImportBatch.id)))
    assert (batches[-1].created, batches[-1].unchanged) == (3, 1)


def test_the_upload_belongs_to_the_admin_who_made_it(admin, db, app):
    from fastapi.testclient import TestClient

    key_url = _upload(admin, "signatories.xlsx").headers["location"]
    assert admin.get(key_url).status_code == 200
    make_user(db, "otra.admin@mincetur.gob.pe", role="admin")
    make_user(db, "rosa@hostal.pe")
    with TestClient(app, follow_redirects=False) as other:
        sign_in(other, "otra.admin@mincetur.gob.pe")
        assert other.get(key_url).status_code == 404
        assert other.get(key_url + "/errors.xlsx").status_code == 404
    with TestClient(app, follow_redirects=False) as operator:
        sign_in(operator, "rosa@hostal.pe")
        assert operator.get("/admin/imports").status_code == 403
        assert operator.get(key_url).status_code == 403


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", "old Excel file"),
        (b"RUC;Nombre\n20123456789;Hotel\n", "no column for"),
        (b"", "empty"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(admin, db, content, message):
    response = _upload(admin, "file.csv", content)
    if response.status_code == 303:
        response = admin.get(response.headers["location"])
    assert response.status_code == 400
    assert message in " ".join(error_summary(response))


def test_no_file_chosen(admin):
    token = page(admin.get("/admin/imports")).find("input", {"name": "csrf_token"})["value"]
    response = admin.post("/admin/imports", data={"csrf_token": token})
    assert response.status_code == 400
    assert "Choose the CSV or XLSX file" in " ".join(error_summary(response))


@pytest.fixture
def cli(database_url, smtp_server, db, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(portal, list(args))
    get_settings.cache_clear()


def test_command_line_dry_run_then_import(cli, db, tmp_path):
    copy = tmp_path / "signatarios.xlsx"
    shutil.copy(DATA / "signatories.xlsx", copy)
    dry = cli("import", str(copy), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "4 to add" in dry.stdout and "nothing was written" in dry.stdout
    assert db.scalar(select(func.count()).select_from(Establishment)) == 0
    done = cli("import", str(copy))
    assert done.exit_code == 0, done.output
    assert "4 added" in done.stdout
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Establishment)) == 4
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "import.applied")).one()
    assert entry.actor_email == "cli"
    again = cli("import", str(copy))
    assert "Nothing to import" in again.stdout
    bad = cli("import", str(DATA / "signatories_with_errors.csv"), "--dry-run")
    assert "row 4, Departamento:" in bad.stdout and "Atlántida" in bad.stdout


def test_the_errors_workbook_keeps_formulas_as_text(db, tmp_path):
    """A cell of the uploaded file that looks like a formula comes back as text, never as a
    formula the spreadsheet would run."""
    source = (DATA / "signatories_with_errors.csv").read_text(encoding="utf-8").splitlines()
    formula = '=HYPERLINK("http://x.example","Abrir")'
    bad = source[2].split(";")
    bad[3] = formula
    path = tmp_path / "formulas.csv"
    path.write_text("\n".join([source[0], ";".join(bad)]) + "\n", encoding="utf-8")
    preview = service.preview_file(db_session=db, path=path, filename=path.name)
    sheet = load_workbook(io.BytesIO(service.errors_workbook(path=path, preview=preview))).active
    cell = sheet.cell(row=2, column=4)
    assert cell.value == formula and cell.data_type == "s"


def test_an_xlsx_with_an_external_entity_never_reads_the_file_it_names(db, tmp_path):
    """XXE: a workbook whose sheet declares an entity pointing at a local file."""
    import zipfile

    from openpyxl import Workbook

    secret = tmp_path / "secret.txt"
    secret.write_text("CLAVE-SECRETA-1234")
    rows = (DATA / "signatories_utf8_semicolon.csv").read_text(encoding="utf-8").splitlines()
    workbook = Workbook()
    name = "MARCADOR"
    workbook.active.append(rows[0].split(";"))
    workbook.active.append([name if i == 3 else v for i, v in enumerate(rows[1].split(";"))])
    plain = tmp_path / "plain.xlsx"
    workbook.save(plain)
    crafted = tmp_path / "crafted.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                assert name in text
                declaration = f'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file://{secret}">]>'
                if "?>" in text:
                    text = text.replace("?>", "?>" + declaration, 1)
                else:
                    text = declaration + text
                text = text.replace(name, "&xxe;", 1)
                data = text.encode()
            target.writestr(item, data)
    try:
        preview = service.preview_file(db_session=db, path=crafted, filename="crafted.xlsx")
    except service.ImportFileError:
        return  # refused as unreadable: nothing was read either
    assert "CLAVE-SECRETA" not in repr(preview)
