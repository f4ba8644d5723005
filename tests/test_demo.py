"""The demo the README's run command loads: every role can sign in and the data is varied."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.demo import ACCOUNTS, PASSWORD, load_demo
from tests.conftest import page, sign_in


def test_demo_loads_once_and_every_account_signs_in(app):
    accounts = load_demo(app.state.engine)
    assert load_demo(app.state.engine) == accounts  # a second run changes nothing
    for _role, email, _regions in ACCOUNTS:
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, email, PASSWORD)
            assert client.get("/dashboard").status_code == 200


def test_demo_register_shows_varied_standings(app):
    load_demo(app.state.engine)
    with TestClient(app) as client:
        text = page(client.get("/register")).get_text(" ", strip=True)
    for standing in ("En regla", "Pendiente de revisión", "Incumplimiento"):
        assert standing in text


def test_demo_approved_reports_have_certificates_that_verify(app):
    from sqlalchemy import select
    from sqlmodel import Session

    from app.certificates.models import Certificate
    from app.reports.models import AnnualReport

    load_demo(app.state.engine, app.state.settings)
    with Session(app.state.engine) as session:
        approved = session.scalars(select(AnnualReport.id).where(AnnualReport.state == "approved"))
        certificates = session.scalars(select(Certificate)).all()
        assert sorted(c.report_id for c in certificates) == sorted(approved)
    with TestClient(app) as client:
        for certificate in certificates:
            verdict = page(client.get(f"/verify/{certificate.code}")).select_one(".verdict")
            assert verdict.get_text(strip=True).startswith(("Válido", "Vencido", "Revocado"))
