"""The register as open data: the documented page, CSV and JSON downloads streamed in chunks, and
the JSON Schema of a record."""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import tracemalloc
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import insert, select, update

from app.certificates.models import Certificate
from app.clock import LIMA, lima_date, today
from app.conduct.models import CodeVersion, Signature
from app.establishments.models import Establishment
from app.opendata import service
from app.reports.models import ReportingPeriod, ReportSubmission
from tests.conftest import page, post_form
from tests.opendata.conftest import certificate, period, report, signatory


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.content.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _register(db):  # type: ignore[no-untyped-def]
    """Four signatories in different situations, and an establishment that never signed."""
    last = period(db, today().year - 1, deadline=-10)
    good = signatory(db, trade_name="Hostal Ñusta", legal_name="Inversiones Ñusta S.A.C.")
    report(db, good, last, "approved")
    certified = signatory(db, trade_name="Inka Trails", category="travel_agency")
    certificate(db, certified, last, valid_until=today() + timedelta(days=300))
    suspended = signatory(db, trade_name="Lodge Suspendido", region="PE-MDD", status="suspended")
    certificate(db, suspended, last, valid_until=today() + timedelta(days=300))
    formula = signatory(db, trade_name='=HYPERLINK("http://x")', legal_name="@SUM(A1) S.A.C.")
    db.add(
        Establishment(
            ruc="20604123451", branch_code="0999", legal_name="Sin Firma S.A.C.", trade_name="Sin Firma",
            category="lodging", region="PE-CUS", province="Cusco", district="Cusco", address="x",
        )
    )  # fmt: skip
    db.commit()
    return {
        "good": good,
        "certified": certified,
        "suspended": suspended,
        "formula": formula,
        "year": last.year,
    }


def test_the_register_as_csv(client, db):
    seeded = _register(db)
    response = client.get("/open-data/register.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="registro-firmantes-{today().isoformat()}.csv"'
    rows = _csv(response)
    assert list(rows[0]) == list(service.FIELDS)
    by_name = {r["trade_name"]: r for r in rows}
    assert "Sin Firma" not in by_name  # only signatories
    assert len(rows) == 4

    good = by_name["Hostal Ñusta"]
    assert good["id"] == str(seeded["good"].id)
    assert good["legal_name"] == "Inversiones Ñusta S.A.C."
    assert good["standing"] == "good_standing"
    assert good["last_approved_year"] == str(seeded["year"])
    assert good["certificate_valid_until"] == ""
    assert re.fullmatch(r"CC-2024-\d{6}", good["signatory_number"])
    # The date of signature in Peru (seeded 400 days ago, to the second).
    signed_at = db.scalar(
        select(Signature.signed_at).where(Signature.establishment_id == seeded["good"].id)
    )
    assert good["signed_on"] == lima_date(signed_at).isoformat()

    certified = by_name["Inka Trails"]
    assert certified["category"] == "travel_agency"
    assert certified["certificate_valid_until"] == (today() + timedelta(days=300)).isoformat()
    assert certified["last_approved_year"] == str(seeded["year"])
    # A suspended signatory stays in the register, with its standing; its certificate is revoked.
    suspended = by_name["Lodge Suspendido"]
    assert (suspended["standing"], suspended["region"]) == ("suspended", "PE-MDD")
    assert suspended["certificate_valid_until"] == ""
    # Text a spreadsheet would run as a formula is neutralised.
    assert '\'=HYPERLINK("http://x")' in by_name
    assert by_name['\'=HYPERLINK("http://x")']["legal_name"] == "'@SUM(A1) S.A.C."


def test_the_register_as_json_matches_its_schema(client, db):
    _register(db)
    response = client.get("/open-data/register.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].endswith(
        f'registro-firmantes-{today().isoformat()}.json"'
    )
    document = response.json()
    assert document["schema"] == "http://testserver/open-data/schema.json"
    updated = datetime.fromisoformat(document["last_updated"])
    assert updated.tzinfo is not None
    assert len(document["items"]) == 4

    csv_rows = _csv(client.get("/open-data/register.csv"))
    for item, row in zip(document["items"], csv_rows, strict=True):
        assert str(item["id"]) == row["id"]
        assert item["standing"] == row["standing"]

    schema = client.get("/open-data/schema.json")
    assert schema.headers["content-type"] == "application/schema+json"
    spec = schema.json()
    assert spec["$id"] == document["schema"]
    assert set(spec["required"]) == set(spec["properties"]) == set(service.FIELDS)
    types = {"string": str, "integer": int, "null": type(None)}
    for item in document["items"]:
        assert set(item) == set(spec["properties"])
        for name, value in item.items():
            prop = spec["properties"][name]
            allowed = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            assert any(isinstance(value, types[t]) for t in allowed), (name, value)
            if "enum" in prop:
                assert value in prop["enum"]
            if "pattern" in prop:
                assert re.fullmatch(prop["pattern"].strip("^$"), value)
            if prop.get("format") == "date" and value is not None:
                date.fromisoformat(value)


def test_the_open_data_page_documents_every_field(client, db):
    _register(db)
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    response = client.get("/open-data")
    assert response.status_code == 200
    soup = page(response)
    fields = [th.get_text(strip=True) for th in soup.select("table tbody th")]
    assert fields == list(service.FIELDS)
    text = soup.get_text(" ", strip=True)
    assert "Open data, free to reuse" in text
    assert "CC BY 4.0" in text
    for code in ("PE-LMA", "PE-LIM", "adventure_operator", "good_standing", "non_compliant"):
        assert code in text
    links = {a["href"] for a in soup.select("a[href]")}
    assert {
        "/open-data/register.csv",
        "/open-data/register.json",
        "/open-data/schema.json",
        "/statistics",
    } <= links
    # Linked from the footer and the home page.
    assert "/open-data" in {a["href"] for a in page(client.get("/")).select("a[href]")}


def test_last_updated_is_the_latest_change(db, client):
    seeded = _register(db)
    weeks_ago = datetime.now(UTC) - timedelta(days=20)
    db.execute(update(Certificate).values(issued_at=weeks_ago))
    db.execute(update(ReportSubmission).values(submitted_at=weeks_ago))
    db.commit()
    # Signed 400 days ago, filed and certified 20 days ago: the latest change is the deadline,
    # passed 10 days ago, which turned the signatories that had not filed overdue.
    deadline = db.scalar(
        select(ReportingPeriod.deadline).where(ReportingPeriod.year == seeded["year"])
    )
    expected = datetime.combine(deadline + timedelta(days=1), time(), tzinfo=LIMA)
    assert service.last_updated(db_session=db) == expected
    shown = page(client.get("/open-data")).find(
        string=re.compile("Last updated|Última actualización")
    )
    assert shown is not None
    # Anything new moves it.
    db.execute(
        update(Signature)
        .where(Signature.establishment_id == seeded["suspended"].id)
        .values(status_changed_at=datetime.now(UTC))
    )
    db.commit()
    assert service.last_updated(db_session=db) > expected


def test_the_stream_reads_the_register_in_chunks(app, db):
    last = period(db, today().year - 1, deadline=-10)
    for _n in range(7):
        report(db, signatory(db), last, "approved")
    db.commit()
    pieces = list(service.csv_stream(app.state.engine, chunk_size=2))
    assert len(pieces) == 1 + 4  # the header, then 2 + 2 + 2 + 1 records
    assert sum(piece.count(b"\r\n") for piece in pieces) == 8
    pieces = list(service.json_stream(app.state.engine, schema_url="s", chunk_size=3))
    assert len(pieces) == 1 + 3 + 1
    assert len(json.loads(b"".join(pieces))["items"]) == 7


def _bulk_signatories(db, count: int, start: int) -> None:  # type: ignore[no-untyped-def]
    version = db.scalar(select(CodeVersion.id))
    rows = [
        dict(
            ruc="20604123451", branch_code=f"{n:04d}", legal_name=f"Empresa Número {n} S.A.C.",
            trade_name=f"Hostal {n} del Valle Sagrado", category="lodging", region="PE-CUS",
            province="Urubamba", district="Ollantaytambo", address="Calle Principal 1",
        )
        for n in range(start, start + count)
    ]  # fmt: skip
    db.execute(insert(Establishment), rows)
    ids = db.scalars(
        select(Establishment.id).where(
            Establishment.branch_code.in_([r["branch_code"] for r in rows])
        )
    )
    db.execute(
        insert(Signature),
        [
            dict(
                establishment_id=i, code_version_id=version, signatory_number=f"CC-2025-{i:06d}",
                representative_name="R", document_type="DNI", document_number="41234567",
                status="active", signed_at=datetime.now().astimezone() - timedelta(days=30),
            )
            for i in ids
        ],
    )  # fmt: skip
    db.commit()


def _peak(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The peak memory taken while the whole JSON download is generated (the bytes are dropped).

    Garbage is collected after each piece, as the collector would eventually do: what is measured
    is what the generator holds on to, not how late the collector runs in a big test process.
    """
    gc.collect()
    gc.freeze()  # the test process's own objects: not scanned again by each collection
    tracemalloc.start()
    try:
        size = 0
        for piece in service.json_stream(engine, schema_url="s", chunk_size=50):
            size += len(piece)
            gc.collect()
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()
        gc.unfreeze()


def test_memory_stays_flat_whatever_the_size_of_the_register(app, db):
    _bulk_signatories(db, 300, 1)
    _peak(app.state.engine)  # warm the caches
    small_peak, small_size = _peak(app.state.engine)
    _bulk_signatories(db, 2700, 301)
    large_peak, large_size = _peak(app.state.engine)
    assert large_size > 9 * small_size
    # Ten times the records, about the same memory: only one chunk of 50 is ever held.
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak, small_size, large_size)
    assert large_peak < large_size
