"""An establishment's public page and its printable badge; and no personal data on any public page."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.certificates.models import Certificate
from app.clock import today
from app.reports.models import AnnualReport
from tests.conftest import SIGNATURE, add_establishment, make_user, page, post_form, sign_in
from tests.register.conftest import add_signatory
from tests.reports.conftest import fill_all, report_url


@pytest.fixture
def public(client):  # type: ignore[no-untyped-def]
    client.cookies.set("portal_lang", "en")
    return client


def _summary(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        row.dt.get_text(" ", strip=True): row.dd.get_text(" ", strip=True)
        for row in page(response).select(".summary-list__row")
    }


def _period(db, year: int, deadline: date):  # type: ignore[no-untyped-def]
    from app.reports import service

    period = service.create_period(
        db_session=db,
        data=service.PeriodInput(
            year=year,
            opens_on=date(year + 1, 1, 1),
            deadline=deadline,
            grace_days=30,
            cutoff_on=date(year, 12, 31),
        ),
    )
    db.commit()
    return period


def test_public_page_shows_business_data_years_and_certificate(public, db):
    year = today().year
    old = _period(db, year - 3, today() - timedelta(days=700))
    last = _period(db, year - 2, today() - timedelta(days=300))
    current = _period(db, year - 1, today() + timedelta(days=30))
    establishment = add_signatory(
        db,
        "Hostal Ñusta",
        legal_name="Inversiones Ñusta S.A.C.",
        ruc="20604123454",
        province="Urubamba",
        signed_at=datetime(year - 4, 3, 14, 15, tzinfo=UTC),
    )
    for period, state in ((old, "approved"), (last, "rejected")):
        db.add(
            AnnualReport(
                establishment_id=establishment.id, period_id=period.id, state=state, content={}
            )
        )
    db.flush()
    report = db.scalars(select(AnnualReport).where(AnnualReport.period_id == old.id)).one()
    db.add(
        Certificate(
            number=f"CERT-{old.year}-{establishment.id:06d}",
            code="A" * 32,
            establishment_id=establishment.id,
            period_id=old.id,
            report_id=report.id,
            issued_on=today() - timedelta(days=690),
            valid_until=today() - timedelta(days=300),
            pdf_es_key="dummy",
            pdf_es_sha256="0" * 64,
        )
    )
    db.commit()

    response = public.get(f"/register/{establishment.id}")
    assert response.status_code == 200
    facts = _summary(response)
    assert facts["Trade name"] == "Hostal Ñusta"
    assert facts["Legal name"] == "Inversiones Ñusta S.A.C."
    assert facts["RUC and branch"] == "20604123454 – 0000"
    assert facts["Category"] == "Lodging establishment"
    assert facts["Location"] == "Centro, Urubamba, Cusco"
    assert facts["Signatory number"].startswith(f"CC-{year - 4}-")
    assert facts["Signed on"] == f"March 14, {year - 4}"
    assert facts["Last approved year"] == str(old.year)
    assert f"CERT-{old.year}-" in facts["Certificate of compliance"]
    assert "Expired" in facts["Certificate of compliance"]
    standing = page(response).select_one(".standing .tag")
    assert standing.get_text(strip=True) == "Non-compliant"
    assert "tag--noncompliant" in standing["class"]
    rows = [
        [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])]
        for tr in page(response).select("tbody tr")
    ]
    assert rows[0][0] == str(current.year) and rows[0][1].startswith("Not yet")
    assert rows[1:] == [[str(last.year), "Yes", "No"], [str(old.year), "Yes", "Yes"]]
    assert page(response).find("a", href=f"/register/{establishment.id}/badge.pdf")


def test_never_signed_or_unknown_is_not_found(public, db):
    unsigned = add_signatory(db, "Sin Firma", status=None)
    for path in (
        f"/register/{unsigned.id}",
        f"/register/{unsigned.id}/badge.pdf",
        "/register/999999",
        "/register/0",
        "/register/abc",
        "/register/99999999999999999999",
    ):
        assert public.get(path).status_code == 404, path


def _pdf_text(content: bytes) -> str:
    return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)


def test_badge_is_an_a5_pdf_with_a_qr_code_to_the_live_page(public, db, tmp_path):
    establishment = add_signatory(db, "Hostal Ñusta")
    response = public.get(f"/register/{establishment.id}/badge.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (420, 595)  # A5 portrait, pt
    text = " ".join(_pdf_text(response.content).split())
    url = f"http://testserver/register/{establishment.id}"
    for expected in (
        "Hostal Ñusta",
        "Firmante del Código de Conducta",
        "Signatory of the Code of Conduct",
        "CC-2020-",
        url,
    ):
        assert expected in text, expected
    (tmp_path / "badge.pdf").write_bytes(response.content)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", str(tmp_path / "badge.pdf"), str(tmp_path / "badge")],
        check=True,
    )
    png = next(tmp_path.glob("badge*.png"))
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert decoded == url
    assert public.get(decoded.removeprefix("http://testserver")).status_code == 200


@pytest.mark.parametrize("status", ["suspended", "revoked", "withdrawn"])
def test_no_badge_unless_the_signature_is_in_force(public, db, status):
    establishment = add_signatory(db, "Hostal Pausa", status=status)
    response = public.get(f"/register/{establishment.id}")
    assert response.status_code == 200
    assert not page(response).find("a", href=f"/register/{establishment.id}/badge.pdf")
    assert public.get(f"/register/{establishment.id}/badge.pdf").status_code == 404


# --- no personal data on any public page ------

PEOPLE = [
    ("zacarias.huillca@correo-privado.pe", "Zacarías Huillca Ttito", "48151623"),
    ("eufemia.ccorimanya@correo-privado.pe", "Eufemia Ccorimanya Puma", "CE-001771209"),
]


def test_no_personal_data_on_any_public_page(app, client, db, open_period):
    """Operators sign (with their names and documents) and file; then everything public is read."""
    ids = []
    for n, (email, name, document) in enumerate(PEOPLE):
        make_user(db, email)
        sign_in(client, email)
        establishment_id = add_establishment(
            client, branch_code=f"000{n}", trade_name=f"Hostal Público {n}"
        )
        signature = {**SIGNATURE, "representative_name": name}
        if document.startswith("CE-"):
            signature.update(document_type="CE", document_number=document[3:])
        else:
            signature.update(document_number=document)
        assert (
            post_form(client, f"/establishments/{establishment_id}/sign", signature).status_code
            == 303
        )
        url = report_url(establishment_id, open_period)
        post_form(client, f"{url}/start", {"from_previous": "no"}, form_page=url)
        fill_all(client, establishment_id, open_period)
        post_form(client, "/account/logout", {}, form_page="/dashboard")
        ids.append(establishment_id)
    client.cookies.clear()

    forbidden = [
        s for email, name, document in PEOPLE for s in (email, name, document.removeprefix("CE-"))
    ]
    forbidden += [email.split("@")[0] for email, _n, _d in PEOPLE]
    forbidden += [name.split()[0] for _e, name, _d in PEOPLE]  # the first names alone
    searches = [
        {},
        {"q": "hostal"},
        {"q": "público"},
        {"q": "huillca"},  # an operator's name finds nothing
        {"q": "20604"},
        {"region": "PE-CUS"},
        {"standing": "good_standing"},
        {"page": "2"},
    ]
    pages = [client.get("/"), client.get("/privacy")]
    pages += [client.get("/register", params=p) for p in searches]
    for establishment_id in ids:
        pages.append(client.get(f"/register/{establishment_id}"))
    listing = client.get("/register", params={"q": "hostal"})
    assert len(page(listing).select("tbody tr")) == 2
    for response in pages:
        assert response.status_code == 200, response.url
        for secret in forbidden:
            assert secret.lower() not in response.text.lower(), (response.url, secret)
    for establishment_id in ids:
        badge = client.get(f"/register/{establishment_id}/badge.pdf")
        assert badge.status_code == 200
        text = _pdf_text(badge.content).lower()
        for secret in forbidden:
            assert secret.lower() not in text, secret
    assert page(client.get("/register", params={"q": "huillca"})).select("tbody tr") == []


def test_the_operator_finds_the_badge_on_the_establishment_page(
    client, operator_with_establishment
):
    detail = page(client.get(f"/establishments/{operator_with_establishment}"))
    assert detail.find("a", href=f"/register/{operator_with_establishment}/badge.pdf")
    assert detail.find("a", href=f"/register/{operator_with_establishment}")
