"""The audit log: an unbroken hash chain the database will not let anyone edit, the staff page and
its CSV (scoped by region), and `portal audit verify`."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from typer.testing import CliRunner

from app.audit import service
from app.audit.models import AuditEntry
from app.audit.service import GENESIS, ChainReport, record, verify
from app.cli import app as portal
from app.config import get_settings
from tests.conftest import (
    _audit_migration,
    error_summary,
    field_error,
    make_user,
    page,
    post_form,
    sign_in,
)

# --- helpers ------


def write(db: Session, actor, count: int = 1, **fields) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    """Append `count` entries in one transaction, as a service would, and commit."""
    values = {
        "action": "report.approved",
        "object_type": "report",
        "object_id": 7,
        "region": "PE-CUS",
        "summary": "Informe 2025 del Hostal Ñusta aprobado",
        "before": {"state": "submitted"},
        "after": {"state": "approved"},
        **fields,
    }
    entries = [record(db_session=db, actor=actor, **values) for _ in range(count)]
    db.commit()
    return entries


def chain(app) -> ChainReport:  # type: ignore[no-untyped-def]
    """Verify with a fresh session, so nothing cached from the writes hides a change."""
    with Session(app.state.engine) as session:
        return verify(db_session=session)


@contextmanager
def tampering(app) -> Iterator[Connection]:  # type: ignore[no-untyped-def]
    """A transaction with the append-only guard lifted, as someone with the database's keys could."""
    with app.state.engine.begin() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.execute(text("DROP TRIGGER audit_entry_no_update"))
            connection.execute(text("DROP TRIGGER audit_entry_no_delete"))
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        yield connection
        if sqlite:
            for statement in _audit_migration()._APPEND_ONLY_SQLITE:
                connection.execute(text(statement))


@pytest.fixture
def client(client):
    """A browser reading the pages in English (the messages asserted here are the English ones)."""
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    return client


@pytest.fixture
def staff(db):
    return make_user(db, "revisora@mincetur.gob.pe", "national_reviewer")


# --- the chain ------


def test_entries_form_an_intact_chain(app, db, staff):
    write(db, staff, 2)
    write(db, None, action="period.close", object_type="period", object_id=2025, region=None)

    report = chain(app)
    assert report.intact, report.problems
    assert report.entries == 3
    entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.id for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert (entries[0].actor_email, entries[2].actor_email) == (staff.email, "system")


def test_an_empty_log_is_intact(app):
    assert chain(app) == ChainReport(entries=0, problems=[])


def test_an_entry_is_saved_with_its_change_or_not_at_all(app, db, staff):
    write(db, staff)
    record(db_session=db, actor=staff, action="report.rejected", object_type="report", object_id=8)
    db.rollback()
    write(db, staff, action="report.assign")

    report = chain(app)
    assert report.intact, report.problems
    assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == [
        "report.approved",
        "report.assign",
    ]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entry SET summary = 'nothing happened' WHERE id = 1", "DELETE FROM audit_entry"],
)
def test_the_database_refuses_to_change_or_delete_an_entry(app, db, staff, statement):
    write(db, staff, 2)
    with pytest.raises(DBAPIError, match="append-only"), app.state.engine.begin() as connection:
        connection.execute(text(statement))
    assert chain(app).intact


def test_the_orm_cannot_change_or_delete_an_entry_either(app, db, staff):
    (entry,) = write(db, staff)
    entry.summary = "nothing happened"
    with pytest.raises(DBAPIError, match="append-only"):
        db.commit()
    db.rollback()
    db.delete(db.get(AuditEntry, 1))
    with pytest.raises(DBAPIError, match="append-only"):
        db.commit()
    db.rollback()
    assert chain(app).intact


def test_a_changed_summary_names_the_entry(app, db, staff):
    write(db, staff, 3)
    with tampering(app) as connection:
        connection.execute(text("UPDATE audit_entry SET summary = 'nada' WHERE id = 2"))
    report = chain(app)
    assert not report.intact
    assert report.problems == ["entry 2 was changed after it was written"]


def test_a_changed_before_or_after_is_detected(app, db, staff):
    write(db, staff, 2)
    with tampering(app) as connection:
        connection.execute(
            text("UPDATE audit_entry SET after = :after WHERE id = 1"),
            {"after": json.dumps({"state": "rejected"})},
        )
    assert chain(app).problems == ["entry 1 was changed after it was written"]


def test_a_deleted_middle_entry_is_reported_missing(app, db, staff):
    write(db, staff, 4)
    with tampering(app) as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE id = 2"))
    report = chain(app)
    assert report.entries == 3
    assert report.problems == [
        "entries 2 to 2 are missing",
        "entry 3 does not follow the entry before it",
    ]


def test_deleted_last_entries_are_reported_missing(app, db, staff):
    write(db, staff, 4)
    with tampering(app) as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE id >= 3"))
    report = chain(app)
    assert report.entries == 2
    assert report.problems == ["the last entries after 2 are missing"]


def test_a_consistently_rehashed_entry_breaks_the_link_to_the_next(app, db, staff):
    write(db, staff, 3)
    with Session(app.state.engine) as session:
        forged = session.get(AuditEntry, 2)
        assert forged is not None
        session.expunge(forged)
    forged.summary = "Informe 2025 del Hostal Ñusta rechazado"
    forged.hash = service._digest(service._hashed_fields(forged), forged.prev_hash)
    with tampering(app) as connection:
        connection.execute(
            text("UPDATE audit_entry SET summary = :summary, hash = :hash WHERE id = 2"),
            {"summary": forged.summary, "hash": forged.hash},
        )
    assert chain(app).problems == ["entry 3 does not follow the entry before it"]


def test_concurrent_writers_never_fork_the_chain(app, db, staff):
    writers = 20
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def append(number: int) -> None:
        try:
            start.wait(timeout=30)
            with Session(app.state.engine) as session:
                record(
                    db_session=session,
                    actor=staff,
                    action="signature.suspend",
                    object_type="signature",
                    object_id=number,
                    region="PE-CUS",
                )
                session.commit()
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    report = chain(app)
    assert report.intact, report.problems
    assert report.entries == writers
    ids = db.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
    assert ids == list(range(1, writers + 1))
    objects = db.scalars(select(AuditEntry.object_id)).all()
    assert sorted(objects, key=int) == [str(n) for n in range(writers)]


# --- portal audit verify ------


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(portal, list(args))
    get_settings.cache_clear()


def test_verify_command_exits_0_when_intact_and_1_when_broken(app, db, staff, cli):
    empty = cli("audit", "verify")
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.strip() == "Audit log intact: 0 entries."

    write(db, staff, 3)
    intact = cli("audit", "verify")
    assert intact.exit_code == 0, intact.output
    assert intact.stdout.strip() == "Audit log intact: 3 entries."

    with tampering(app) as connection:
        connection.execute(text("UPDATE audit_entry SET actor_email = 'otro@x.pe' WHERE id = 1"))
        connection.execute(text("DELETE FROM audit_entry WHERE id = 3"))
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert broken.stdout.splitlines() == [
        "entry 1 was changed after it was written",
        "the last entries after 2 are missing",
        "Audit log BROKEN",
    ]


# --- the page and the CSV ------


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


@pytest.fixture
def log(db, staff, monkeypatch):
    """Entries in two regions and none, by two people, on known days (times in UTC)."""
    admin = make_user(db, "admin@mincetur.gob.pe", "admin")
    moments = iter(
        [
            at("2026-02-10 15:00"),
            at("2026-03-01 03:00"),  # still 28 February in Lima (UTC-5)
            at("2026-03-02 14:00"),
            at("2026-03-05 16:30"),
            at("2026-03-06 09:00"),
        ]
    )
    monkeypatch.setattr(service, "utcnow", lambda: next(moments))
    write(db, staff, object_id=11, summary="Informe 2025 del Hostal Ñusta aprobado")
    write(
        db,
        staff,
        action="signature.suspend",
        object_type="signature",
        object_id=5,
        region="PE-LIM",
        summary="Firma del Hotel Miraflores suspendida",
        before={"status": "active"},
        after={"status": "suspended", "reason": "Sin informe 2025"},
    )
    write(
        db,
        admin,
        action="period.close",
        object_type="period",
        object_id=2025,
        region=None,
        summary="Periodo 2025 cerrado",
        before=None,
        after={"closed": True},
    )
    write(
        db,
        staff,
        action="report.assign",
        object_id=12,
        summary="Asignado a revisora Cusco",
        before={"assigned_to": None},
        after={"assigned_to": "cusco@dircetur.gob.pe"},
    )
    write(
        db,
        admin,
        action="establishment.merge",
        object_type="establishment",
        object_id=3,
        region="PE-CUS",
        summary="Duplicado unido",
        before=None,
        after=None,
    )
    return db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()


def rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    table = page(response).select_one("table.table")
    if table is None:
        return []
    headers = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    return [
        dict(zip(headers, (td.get_text(" ", strip=True) for td in tr.select("td")), strict=True))
        for tr in table.select("tbody > tr")
    ]


def read_csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def test_a_national_reviewer_reads_every_entry_newest_first(client, log, staff):
    sign_in(client, staff.email)
    response = client.get("/audit")
    assert page(response).find("a", href="/audit", string="Audit log") is not None
    shown = rows(response)
    assert [row["What"].split(" ")[:2] for row in shown] == [
        ["establishment", "3"],
        ["report", "12"],
        ["period", "2025"],
        ["signature", "5"],
        ["report", "11"],
    ]
    assert "5 entries" in page(response).get_text(" ", strip=True)
    newest, assigned, closed, suspended, approved = shown
    assert newest["Action"] == "establishment.merge"  # an action without a label shows its code
    assert assigned["Action"] == "Report assigned to a reviewer"
    assert suspended["Action"] == "Signature suspended"
    assert suspended["Who"] == staff.email and closed["Who"] == "admin@mincetur.gob.pe"
    assert suspended["Region"] == "Lima" and closed["Region"] == "–"
    assert "Firma del Hotel Miraflores suspendida" in suspended["What"]
    assert approved["When"].startswith("February 10, 2026, 10:00 (PET)")
    assert suspended["When"].startswith("February 28, 2026, 22:00 (PET)")

    changes = page(response).select("tbody > tr")[3].select("dl .summary-list__row")
    assert [
        (row.dt.get_text(strip=True), [c.get_text() for c in row.select("code")]) for row in changes
    ] == [
        ("status", ['"active"', '"suspended"']),
        ("reason", ["–", '"Sin informe 2025"']),
    ]


def test_a_regional_reviewer_reads_only_their_regions_entries(client, db, log):
    make_user(db, "cusco@dircetur.gob.pe", "reviewer", regions=("PE-CUS",))
    sign_in(client, "cusco@dircetur.gob.pe")
    shown = rows(client.get("/audit"))
    assert [row["What"].split(" ")[:2] for row in shown] == [
        ["establishment", "3"],
        ["report", "12"],
        ["report", "11"],
    ]
    assert {row["Region"] for row in shown} == {"Cusco"}
    # Asking for another region's entries, by the filter or the CSV, shows none.
    assert rows(client.get("/audit?region=PE-LIM")) == []
    listed = read_csv(client.get("/audit.csv"))
    assert [row["id"] for row in listed] == ["5", "4", "1"]
    assert read_csv(client.get("/audit.csv?region=PE-LIM")) == []
    # The filter lists only the regions and actions they can see.
    form = page(client.get("/audit"))
    regions = [o["value"] for o in form.select("#field-region option") if o["value"]]
    actions = [o["value"] for o in form.select("#field-action option") if o["value"]]
    assert regions == ["PE-CUS"]
    assert actions == ["establishment.merge", "report.approved", "report.assign"]


def test_operators_cannot_read_the_log(client, db, log):
    make_user(db, "owner@hostal.pe")
    sign_in(client, "owner@hostal.pe")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403
    assert page(client.get("/dashboard")).find("a", href="/audit") is None


def test_signed_out_visitors_are_sent_to_sign_in(client, log):
    response = client.get("/audit.csv?action=report.assign")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login?next=/audit.csv")


def test_the_csv_matches_the_database(client, log, staff):
    sign_in(client, staff.email)
    response = client.get("/audit.csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    assert response.content.decode("utf-8-sig").splitlines()[0] == (
        "id,at,actor_email,action,object_type,object_id,region,summary,before,after,prev_hash,hash"
    )
    listed = read_csv(response)
    assert [int(row["id"]) for row in listed] == [5, 4, 3, 2, 1]
    by_id = {entry.id: entry for entry in log}
    for row in listed:
        entry = by_id[int(row["id"])]
        assert datetime.fromisoformat(row["at"]) == entry.at
        assert (row["actor_email"], row["action"], row["object_type"], row["object_id"]) == (
            entry.actor_email,
            entry.action,
            entry.object_type,
            entry.object_id,
        )
        assert row["region"] == (entry.region or "")
        assert row["summary"] == entry.summary
        assert (json.loads(row["before"]) if row["before"] else None) == entry.before
        assert (json.loads(row["after"]) if row["after"] else None) == entry.after
        assert (row["prev_hash"], row["hash"]) == (entry.prev_hash, entry.hash)
    assert listed[-1]["prev_hash"] == GENESIS
    assert [row["prev_hash"] for row in listed[:-1]] == [row["hash"] for row in listed[1:]]


def test_the_csv_keeps_the_filters_of_the_page(client, log, staff):
    sign_in(client, staff.email)
    link = page(client.get("/audit?object_type=report&page=1")).find(
        "a", string="Download these entries (CSV)"
    )
    assert link["href"] == "/audit.csv?object_type=report"
    assert [row["id"] for row in read_csv(client.get(link["href"]))] == ["4", "1"]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("action=report.assign", [4]),
        ("action=report.nothing", []),
        ("actor=ADMIN@", [5, 3]),
        ("actor=mincetur", [5, 4, 3, 2, 1]),
        ("actor=%25", []),  # a % is a character to look for, not a wildcard
        ("actor=admin_mincetur", []),  # and so is a _
        ("region=PE-CUS", [5, 4, 1]),
        ("object_type=signature", [2]),
        ("date_from=2026-03-01", [5, 4, 3]),
        ("date_to=2026-02-28", [2, 1]),  # 03:00 UTC on 1 March is 28 February in Lima
        ("date_from=2026-03-02&date_to=2026-03-05", [4, 3]),
        ("date_from=2026-03-02&date_to=2026-03-02", [3]),
        ("region=PE-CUS&action=report.approved&actor=revisora", [1]),
        ("date_from=+2026-03-06+", [5]),
    ],
)
def test_filters(client, log, staff, query, ids):
    sign_in(client, staff.email)
    response = client.get(f"/audit?{query}")
    shown = rows(response)
    assert len(shown) == len(ids)
    listed = read_csv(client.get(f"/audit.csv?{query}"))
    assert [int(row["id"]) for row in listed] == ids
    assert [row["When"].split("#")[-1] for row in shown] == [str(i) for i in ids]


@pytest.mark.parametrize(
    ("query", "name", "message"),
    [
        ("date_from=yesterday", "date_from", "Enter the start date as YYYY-MM-DD"),
        ("date_from=2026-02-30", "date_from", "Enter the start date as YYYY-MM-DD"),
        ("date_to=31/03/2026", "date_to", "Enter the end date as YYYY-MM-DD"),
        ("date_to=9999-12-31", "date_to", "Enter the end date as YYYY-MM-DD"),
        (
            "date_from=2026-03-05&date_to=2026-03-01",
            "date_to",
            "Enter an end date that is the same as or after the start date",
        ),
        ("actor=" + "a" * 255, "actor", "Enter at most 254 characters"),
        ("action=" + "x" * 41, "action", "Choose an action from the list"),
    ],
)
def test_a_filter_that_cannot_be_read_is_shown_beside_its_field(
    client, log, staff, query, name, message
):
    sign_in(client, staff.email)
    for path in ("/audit", "/audit.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert (field_error(response, name) or "").startswith(message)
        assert error_summary(response)[0].startswith(message)
        assert page(response).title.get_text().startswith("Error:")
        assert page(response).select("table.table") == []


def test_long_logs_are_paginated(client, db, staff):
    write(db, staff, 55)
    sign_in(client, staff.email)
    first = client.get("/audit")
    assert len(rows(first)) == 50
    assert rows(first)[0]["When"].endswith("#55")
    second = client.get("/audit?page=2")
    assert [row["When"].split("#")[-1] for row in rows(second)] == ["5", "4", "3", "2", "1"]
    assert len(rows(client.get("/audit?page=9"))) == 5  # past the end: the last page
    assert client.get("/audit?page=abc").status_code == 400
    assert len(read_csv(client.get("/audit.csv"))) == 55


def test_the_csv_never_hands_a_spreadsheet_a_formula(client, db, staff):
    """A trade name typed as a formula is shown as text when the export is opened."""
    formulas = ['=HYPERLINK("http://x.example","Ñusta")', "+51 84 251234", "-2+3", "@SUM(A1)"]
    for summary in formulas:
        write(db, staff, summary=summary)
    sign_in(client, staff.email)
    summaries = [row["summary"] for row in read_csv(client.get("/audit.csv"))]
    assert sorted(summaries) == sorted("'" + s for s in formulas)
