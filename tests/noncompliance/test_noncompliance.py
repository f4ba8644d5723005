"""The non-compliance list: who is on it and why (every reason and the edges), who may see which
region, and what the page, the PDF and the CSV say. It is the basis for sanctions."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import insert, select

from app.audit.models import AuditEntry
from app.clock import LIMA, today
from app.conduct.models import CodeVersion, Signature
from app.establishments.models import Establishment
from app.noncompliance import pdf, service
from app.noncompliance.views import csv_labels, csv_lines
from app.reports import service as reports
from app.reports.models import AnnualReport, ReportingPeriod, ReportSubmission
from tests.conftest import make_user, page, post_form, sign_in, valid_ruc

NOW = today()
DEADLINE = NOW - timedelta(days=45)  # grace of 30 days ended 15 days ago
CUTOFF = NOW - timedelta(days=120)
DAYS_OVERDUE = 45


def _lima(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LIMA).astimezone(UTC)


LONG_AGO = _lima(CUTOFF - timedelta(days=300))
BEFORE_CUTOFF = _lima(CUTOFF - timedelta(days=10))
AFTER_CUTOFF = _lima(CUTOFF + timedelta(days=10))

# trade name -> region, category, signature (signed_at, status, status_changed_at), report state,
# and the reason it is listed (None: not listed).
CASES: dict[str, tuple] = {
    "Hostal Sin Informe": ("PE-CUS", "lodging", (LONG_AGO, "active", None), None, "no_report"),
    "Hostal Borrador": ("PE-CUS", "lodging", (LONG_AGO, "active", None), "draft", "no_report"),
    "Hostal Cambios": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "active", None),
        "changes_requested",
        "changes_not_answered",
    ),
    "Hostal Rechazado": ("PE-CUS", "lodging", (LONG_AGO, "active", None), "rejected", "rejected"),
    "Hostal Aprobado Tarde": ("PE-CUS", "lodging", (LONG_AGO, "active", None), "approved", None),
    "Hostal Pendiente": ("PE-CUS", "lodging", (LONG_AGO, "active", None), "submitted", None),
    "Hostal Reenviado": ("PE-CUS", "lodging", (LONG_AGO, "active", None), "resubmitted", None),
    # Signed the day after the cut-off (00:30 in Lima is still 05:30 UTC of that day).
    "Hostal Firma Tardia": (
        "PE-CUS",
        "lodging",
        (_lima(CUTOFF + timedelta(days=1), 0, 30), "active", None),
        None,
        None,
    ),
    # Signed at 23:30 in Lima on the cut-off date: already the next day in UTC, but it must file.
    "Hostal Firma Ultimo Dia": (
        "PE-CUS",
        "lodging",
        (_lima(CUTOFF, 23, 30), "active", None),
        None,
        "no_report",
    ),
    "Hostal Suspendido": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "suspended", AFTER_CUTOFF),
        None,
        "no_report",
    ),
    "Hostal Suspendido Antes": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "suspended", BEFORE_CUTOFF),
        None,
        "no_report",
    ),
    "Hostal Retirado Antes": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "withdrawn", BEFORE_CUTOFF),
        None,
        None,
    ),
    "Hostal Retirado Despues": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "withdrawn", AFTER_CUTOFF),
        None,
        "no_report",
    ),
    "Hostal Revocado Antes": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "revoked", BEFORE_CUTOFF),
        None,
        None,
    ),
    "Hostal Revocado Despues": (
        "PE-CUS",
        "lodging",
        (LONG_AGO, "revoked", AFTER_CUTOFF),
        "rejected",
        "rejected",
    ),
    "Inka Trails": ("PE-CUS", "travel_agency", (LONG_AGO, "active", None), None, "no_report"),
    "Tambopata Lodge": ("PE-MDD", "lodging", (LONG_AGO, "active", None), None, "no_report"),
    "Nunca Firmo": ("PE-CUS", "lodging", None, None, None),
}
LISTED = {name: case[4] for name, case in CASES.items() if case[4]}
CUSCO = {name for name in LISTED if CASES[name][0] == "PE-CUS"}


def _period(db, year: int, deadline: date, grace: int = 30) -> ReportingPeriod:
    period = reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=year,
            opens_on=deadline - timedelta(days=60),
            deadline=deadline,
            grace_days=grace,
            cutoff_on=CUTOFF if deadline >= CUTOFF else deadline,
        ),
    )
    db.flush()
    return period


def _add(db, period, number: int, name: str, region, category, signature, state) -> int:
    establishment = Establishment(
        ruc=valid_ruc(f"20{number:08d}"),
        branch_code="0000",
        legal_name=f"{name} S.A.C.",
        trade_name=name,
        category=category,
        region=region,
        province="Cusco",
        district="Cusco",
        address="Calle 1",
    )
    db.add(establishment)
    db.flush()
    if signature:
        signed_at, status, changed_at = signature
        db.add(
            Signature(
                establishment_id=establishment.id,
                code_version_id=db.scalars(select(CodeVersion.id)).first(),
                signatory_number=f"CC-2020-{number:06d}",
                representative_name="Rosa Quispe Mamani",
                document_type="DNI",
                document_number="41234567",
                status=status,
                signed_at=signed_at,
                status_changed_at=changed_at,
            )
        )
    if state:
        report = AnnualReport(
            establishment_id=establishment.id, period_id=period.id, state=state, content={}
        )
        db.add(report)
        db.flush()
        if state != "draft":
            db.add(
                ReportSubmission(
                    report_id=report.id,
                    number=1,
                    late=True,
                    content={},
                    content_sha256="0" * 64,
                )
            )
    db.flush()
    return establishment.id  # type: ignore[return-value]


@pytest.fixture
def portal(db):
    period = _period(db, NOW.year - 1, DEADLINE)
    ids = {}
    for number, (name, (region, category, signature, state, _reason)) in enumerate(
        CASES.items(), start=1
    ):
        ids[name] = _add(db, period, number, name, region, category, signature, state)
    db.commit()
    make_user(db, "cusco@dircetur.gob.pe", role="reviewer", regions=("PE-CUS",))
    make_user(db, "lima@mincetur.gob.pe", role="national_reviewer")
    make_user(db, "rosa@hostal.pe")
    make_user(db, "admin@mincetur.gob.pe", role="admin")
    return {"period": period, "ids": ids}


def _user(db, email):
    from app.auth.service import get_user_by_email

    return get_user_by_email(db_session=db, email=email)


def _sign_in_en(client, email: str) -> None:
    sign_in(client, email)
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")


# --- the rules ------


def test_every_reason_and_edge(db, portal):
    national = _user(db, "lima@mincetur.gob.pe")
    rows = service.page_of_rows(
        db_session=db, user=national, period=portal["period"], filters=service.ListFilter()
    )
    assert {r.trade_name: r.reason for r in rows} == LISTED
    assert all(r.days_overdue == DAYS_OVERDUE for r in rows)
    statuses = {r.trade_name: r.signature_status for r in rows}
    assert statuses["Hostal Suspendido"] == "suspended"
    assert statuses["Hostal Retirado Despues"] == "withdrawn"
    assert statuses["Hostal Revocado Despues"] == "revoked"
    assert statuses["Hostal Sin Informe"] == "active"
    # Sorted by region (Cusco before Madre de Dios), then trade name.
    names = [r.trade_name for r in rows]
    assert names == sorted(CUSCO) + ["Tambopata Lodge"]


def test_totals_and_reports_waiting_for_review(db, portal):
    national = _user(db, "lima@mincetur.gob.pe")
    totals = service.totals(
        db_session=db, user=national, period=portal["period"], filters=service.ListFilter()
    )
    assert totals.by_reason == {"no_report": 8, "changes_not_answered": 1, "rejected": 2}
    assert totals.listed == len(LISTED)
    assert totals.pending_review == 2


def test_signature_again_after_withdrawing_counts_once(db, portal):
    """Withdrawn before the cut-off, signed again before it: on the list, once, as active."""
    establishment_id = portal["ids"]["Hostal Retirado Antes"]
    db.add(
        Signature(
            establishment_id=establishment_id,
            code_version_id=db.scalars(select(CodeVersion.id)).first(),
            signatory_number="CC-2021-000001",
            representative_name="Rosa Quispe Mamani",
            document_type="DNI",
            document_number="41234567",
            status="active",
            signed_at=BEFORE_CUTOFF + timedelta(days=1),
        )
    )
    db.commit()
    national = _user(db, "lima@mincetur.gob.pe")
    rows = service.page_of_rows(
        db_session=db, user=national, period=portal["period"], filters=service.ListFilter()
    )
    mine = [r for r in rows if r.trade_name == "Hostal Retirado Antes"]
    assert [(r.reason, r.signature_status) for r in mine] == [("no_report", "active")]


def test_fixed_number_of_queries(db, portal):
    from sqlalchemy import event

    national = _user(db, "lima@mincetur.gob.pe")
    statements: list[str] = []
    engine = db.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        list(
            service.iter_rows(
                db_session=db, user=national, period=portal["period"], filters=service.ListFilter()
            )
        )
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1


# --- the page ------


def test_page_lists_totals_and_links_with_the_filters(client, db, portal):
    _sign_in_en(client, "lima@mincetur.gob.pe")
    year = portal["period"].year
    response = client.get(f"/review/noncompliance?period={year}")
    assert response.status_code == 200
    html = page(response)
    names = [th.find("a").get_text(strip=True) for th in html.select("#noncompliance tbody th")]
    assert names == sorted(CUSCO) + ["Tambopata Lodge"]
    assert html.select_one('[data-reason="no_report"]').get_text(strip=True) == "8"
    assert html.select_one('[data-reason="total"]').get_text(strip=True) == str(len(LISTED))
    assert "2 reports filed and waiting" in html.select_one("#pending-note").get_text()
    row = next(
        tr for tr in html.select("#noncompliance tbody tr") if tr.th.a.text == "Hostal Suspendido"
    )
    cells = [td.get_text(strip=True) for td in row.find_all("td")]
    assert cells[1:] == ["Cusco", "Lodging establishment", "No report", "45", "Suspended"]
    links = {a.get_text(strip=True): a["href"] for a in html.select(".button-group a")}
    assert f"/review/noncompliance.pdf?period={year}" in links.values()
    assert f"/review/noncompliance.csv?period={year}" in links.values()


def test_category_and_reason_filters(client, db, portal):
    _sign_in_en(client, "lima@mincetur.gob.pe")
    year = portal["period"].year
    html = page(client.get(f"/review/noncompliance?period={year}&category=travel_agency"))
    assert [th.a.get_text(strip=True) for th in html.select("#noncompliance tbody th")] == [
        "Inka Trails"
    ]
    html = page(client.get(f"/review/noncompliance?period={year}&reason=rejected"))
    names = [th.a.get_text(strip=True) for th in html.select("#noncompliance tbody th")]
    assert names == ["Hostal Rechazado", "Hostal Revocado Despues"]
    assert html.select_one('[data-reason="total"]').get_text(strip=True) == "2"
    csv_link = html.select_one(".button-group a[href*='.csv']")["href"]
    assert "reason=rejected" in csv_link


def test_regional_reviewer_sees_only_their_region(client, db, portal):
    _sign_in_en(client, "cusco@dircetur.gob.pe")
    year = portal["period"].year
    html = page(client.get(f"/review/noncompliance?period={year}"))
    names = {th.a.get_text(strip=True) for th in html.select("#noncompliance tbody th")}
    assert names == CUSCO
    response = client.get(f"/review/noncompliance?period={year}&region=PE-MDD")
    assert response.status_code == 400
    assert "Choose a region from the list" in response.text
    assert "Tambopata Lodge" not in response.text
    response = client.get(f"/review/noncompliance.csv?period={year}&region=PE-MDD")
    assert response.status_code == 400
    text = client.get(f"/review/noncompliance.csv?period={year}").content.decode("utf-8-sig")
    assert "Tambopata" not in text


def test_national_reviewer_filters_a_region(client, db, portal):
    _sign_in_en(client, "lima@mincetur.gob.pe")
    year = portal["period"].year
    html = page(client.get(f"/review/noncompliance?period={year}&region=PE-MDD"))
    assert [th.a.get_text(strip=True) for th in html.select("#noncompliance tbody th")] == [
        "Tambopata Lodge"
    ]


@pytest.mark.parametrize("email", ["rosa@hostal.pe", "admin@mincetur.gob.pe"])
def test_operators_and_admins_are_refused(client, db, portal, email):
    sign_in(client, email)
    for path in ("/review/noncompliance", "/review/noncompliance.pdf", "/review/noncompliance.csv"):
        assert client.get(path).status_code == 403


def test_signed_out_is_sent_to_sign_in(client, portal):
    response = client.get("/review/noncompliance.csv")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login")


def test_refused_before_the_grace_period_ends(client, db, portal):
    # Deadline 10 days ago, grace 30 days: nobody is non-compliant yet.
    period = _period(db, NOW.year, NOW - timedelta(days=10))
    db.commit()
    _sign_in_en(client, "lima@mincetur.gob.pe")
    response = client.get(f"/review/noncompliance?period={period.year}")
    html = page(response)
    message = html.select_one("#not-ready").get_text(" ", strip=True)
    available = (NOW + timedelta(days=21)).isoformat()
    assert f"can be produced from {available}" in message
    assert not html.select("#noncompliance")
    for suffix in ("pdf", "csv"):
        response = client.get(f"/review/noncompliance.{suffix}?period={period.year}")
        assert response.status_code == 409
        assert f"can be produced from {available}" in response.text
    # On the last day of grace still refused; the next day it can be produced.
    assert service.available_from(period) == NOW + timedelta(days=21)


def test_unknown_period_and_values_are_explained(client, db, portal):
    _sign_in_en(client, "lima@mincetur.gob.pe")
    response = client.get("/review/noncompliance?period=1999&category=spa&reason=late")
    assert response.status_code == 400
    html = page(response)
    assert "Choose a reporting period from the list" in html.text
    assert "Choose a category from the list" in html.text
    assert "Choose a reason from the list" in html.text


# --- the PDF ------


def _pdf_text(body: bytes) -> tuple[list[str], str]:
    reader = PdfReader(io.BytesIO(body))
    pages = [p.extract_text() for p in reader.pages]
    return pages, "\n".join(pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_pdf_for_the_official_file(client, db, portal):
    _sign_in_en(client, "cusco@dircetur.gob.pe")
    year = portal["period"].year
    response = client.get(f"/review/noncompliance.pdf?period={year}&category=lodging")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="noncompliance-{year}-lodging.pdf"' in response.headers["content-disposition"]
    pages, text = _pdf_text(response.content)
    flat = _flat(text)
    # The issuer is printed in capitals.
    assert "Republic of Peru · Ministry of Foreign Trade and Tourism".upper() in flat
    assert "Regional directorate of foreign trade and tourism: Cusco".upper() in flat
    assert f"Non-compliance list: report on {year}" in flat
    assert "Region All my regions" in flat
    assert "Category Lodging establishment" in flat
    assert "Reason All reasons" in flat
    assert "Produced by cusco@dircetur.gob.pe" in flat
    lodging = {n for n in CUSCO if CASES[n][1] == "lodging"}
    assert f"Total listed {len(lodging)}" in flat
    no_report = sum(1 for n in lodging if LISTED[n] == "no_report")
    assert no_report == 6
    assert f"No report {no_report}" in flat and "Rejected 2" in flat
    assert "Changes requested, not answered 1" in flat
    assert "2 reports filed and waiting for a reviewer's decision are not listed" in flat
    for name in lodging:
        assert f"{name} · {name} S.A.C." in flat
    assert "Inka Trails" not in flat and "Tambopata" not in flat
    assert "Hostal Aprobado Tarde" not in flat and "Hostal Pendiente" not in flat
    assert "Signature: Suspended" in flat
    assert "45 days overdue" in flat
    for number, page_text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page_text
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "noncompliance.export")).one()
    assert entry.after["format"] == "pdf"
    assert entry.after["rows"] == len(lodging)
    assert entry.after["category"] == "lodging"
    assert entry.actor_email == "cusco@dircetur.gob.pe"


def _rows(count: int, long_every: int = 0) -> list[service.Row]:
    rows = []
    for n in range(1, count + 1):
        name = f"Establecimiento {n:05d}"
        if long_every and n % long_every == 0:
            name += " " + " ".join(["Ecoalbergue Amazónico Reserva Tambopata"] * 5)
        rows.append(
            service.Row(
                n,
                name,
                f"Razón Social {n:05d} S.A.C.",
                "20604123451",
                f"{n % 10000:04d}",
                "PE-MDD",
                "lodging",
                "no_report",
                "active",
                45,
            )
        )
    return rows


def _heading() -> pdf.Heading:
    return pdf.Heading(
        issuer="Ministerio",
        directorate="",
        title="Lista de prueba",
        running_title="Lista de prueba",
        facts=(("Región", "Madre de Dios"),),
        totals=(("Sin informe", 60), ("Total", 60)),
        notes=(),
    )


def test_pdf_in_chunks_numbers_every_page_of_the_whole_document():
    """Rendered in chunks by two worker processes: every row once, in order, each page labelled
    with its number in the whole document; long names wrap, never cut off."""
    rows = _rows(60, long_every=7)
    body = pdf.noncompliance_pdf(
        heading=_heading(), rows=rows, locale="en", chunk_rows=13, single_document_rows=0, workers=2
    )
    pages, text = _pdf_text(body)
    assert len(pages) > 2
    for number, page_text in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page_text
    flat = _flat(text)
    positions = [flat.index(f"{n}. Establecimiento {n:05d}") for n in range(1, 61)]
    assert positions == sorted(positions)
    for n in (7, 14, 56):
        long_name = " ".join(["Ecoalbergue Amazónico Reserva Tambopata"] * 5)
        assert f"{n}. Establecimiento {n:05d} {long_name} · Razón Social" in flat
    assert flat.count("Total 60") == 1  # the heading only once


def test_pdf_in_spanish():
    body = pdf.noncompliance_pdf(heading=_heading(), rows=_rows(3), locale="es")
    pages, _text = _pdf_text(body)
    assert "Página 1 de 1" in pages[0] or "Page 1 of 1" in pages[0]


# --- the CSV ------


def test_csv_content_and_formula_cells(client, db, portal):
    db.get(Establishment, portal["ids"]["Inka Trails"]).trade_name = '=HYPERLINK("http://x")'
    db.commit()
    _sign_in_en(client, "cusco@dircetur.gob.pe")
    year = portal["period"].year
    response = client.get(f"/review/noncompliance.csv?period={year}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == [
        "Trade name",
        "Legal name",
        "RUC",
        "Branch",
        "Region",
        "Category",
        "Reason",
        "Days overdue",
        "Signature status",
    ]
    by_name = {row[0]: row for row in table[1:]}
    assert len(by_name) == len(CUSCO)
    assert by_name["Hostal Retirado Despues"][4:] == [
        "Cusco",
        "Lodging establishment",
        "No report",
        "45",
        "Withdrawn",
    ]
    assert by_name["Hostal Cambios"][6] == "Changes requested, not answered"
    assert '\'=HYPERLINK("http://x")' in by_name
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "noncompliance.export")).one()
    assert entry.after == {
        "format": "csv",
        "year": year,
        "region": None,
        "category": None,
        "reason": None,
        "rows": len(CUSCO),
    }


def test_csv_memory_does_not_grow_with_the_number_of_rows(db, portal):
    """Streaming from a server-side cursor: the peak memory of writing 2,000 rows is about that of 200."""
    period = portal["period"]
    code_version = db.scalars(select(CodeVersion.id)).first()

    def add(count: int, start: int) -> None:
        db.execute(
            insert(Establishment),
            [
                dict(
                    ruc=valid_ruc(f"2070{n:06d}"),
                    branch_code="0000",
                    legal_name=f"Empresa {n}",
                    trade_name=f"Empresa {n:06d}",
                    category="lodging",
                    region="PE-PUN",
                    province="Puno",
                    district="Puno",
                    address="Jr. Lima 1",
                    created_at=LONG_AGO,
                )
                for n in range(start, start + count)
            ],
        )
        ids = db.scalars(select(Establishment.id).where(Establishment.region == "PE-PUN")).all()
        have = set(db.scalars(select(Signature.establishment_id)).all())
        db.execute(
            insert(Signature),
            [
                dict(
                    establishment_id=i,
                    code_version_id=code_version,
                    signatory_number=f"CC-2019-{i:06d}",
                    representative_name="R",
                    document_type="DNI",
                    document_number="41234567",
                    status="active",
                    language="es",
                    signed_at=LONG_AGO,
                )
                for i in ids
                if i not in have
            ],
        )
        db.commit()

    national = _user(db, "lima@mincetur.gob.pe")
    filters = service.ListFilter(region="PE-PUN")

    def peak() -> tuple[int, int]:
        tracemalloc.start()
        lines = 0
        for chunk in csv_lines(
            service.iter_rows(
                db_session=db, user=national, period=period, filters=filters, batch=50
            ),
            csv_labels(),
        ):
            lines += chunk.count(b"\n")
        _current, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return lines, top

    add(200, 1)
    peak()  # warm up (compiled statements, caches)
    small_lines, small = peak()
    add(1800, 201)
    large_lines, large = peak()
    assert (small_lines, large_lines) == (201, 2001)
    assert large < small * 1.5, (small, large)
