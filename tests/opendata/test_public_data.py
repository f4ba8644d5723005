"""What the public pages and downloads may never show (people's data), and how heavy they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from app.clock import today
from app.conduct.models import Signature
from tests.conftest import SIGNATURE, add_establishment, make_user, post_form, sign_in
from tests.opendata.conftest import period, report, signatory

CSS = Path(__file__).resolve().parents[2] / "app" / "static" / "css" / "portal.css"
PUBLIC = (
    "/open-data",
    "/open-data/register.csv",
    "/open-data/register.json",
    "/open-data/schema.json",
    "/statistics",
    "/statistics?region=PE-CUS",
    "/statistics.csv",
    "/statistics.json",
)
# What only the people behind an establishment are: never published.
PERSONAL = {
    "representative_name": "Wenceslao Zapata Huamancusi",
    "document_number": "73519246",
    "email": "wenceslao.zapata@correo-privado.pe",
    "phone": "984 713 529",
    "address": "Jirón Secreto 4471",
}


def test_no_personal_data_in_any_public_page_or_download(client, db):
    last = period(db, today().year - 1, deadline=-10)
    db.commit()
    make_user(db, PERSONAL["email"])
    sign_in(client, PERSONAL["email"])
    establishment_id = add_establishment(
        client, trade_name="Hostal Privado", phone=PERSONAL["phone"], address=PERSONAL["address"]
    )
    signed = post_form(
        client,
        f"/establishments/{establishment_id}/sign",
        {
            **SIGNATURE,
            "representative_name": PERSONAL["representative_name"],
            "document_number": PERSONAL["document_number"],
        },
    )
    assert signed.status_code == 303
    # Signed long ago, so that it counts in the statistics of the period.
    db.execute(update(Signature).values(signed_at=datetime.now(UTC) - timedelta(days=400)))
    for n in range(6):
        report(
            db,
            signatory(db, representative=f"Persona Secreta {n}", document_number=f"4000000{n}"),
            last,
            "approved",
            1,
            1,
        )
    db.commit()
    post_form(client, "/account/logout", {}, form_page="/dashboard")

    secrets = [*PERSONAL.values(), "Persona Secreta", "40000001", "correo-privado"]
    for path in PUBLIC:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode("utf-8")
        for secret in secrets:
            assert secret not in body, (path, secret)
    # The establishment itself is there, by its business data.
    assert "Hostal Privado" in client.get("/open-data/register.csv").text


def test_every_page_weighs_under_100_kb_with_its_css(client, db):
    """For a phone on a slow connection: the page and its stylesheet, with every region listed."""
    last = period(db, today().year - 1, deadline=-10)
    from app.jurisdiction import current_scheme

    for region in current_scheme().regions:
        for category in current_scheme().categories:
            report(
                db,
                signatory(db, region=region.code, category=category.code),
                last,
                "approved",
                2,
                1,
            )
    db.commit()
    css = len(CSS.read_bytes())
    for path in ("/open-data", "/statistics", "/statistics?region=PE-CUS", "/"):
        response = client.get(path)
        assert response.status_code == 200
        assert "<script" not in response.text  # works without JavaScript
        assert len(response.content) + css < 100_000, (path, len(response.content), css)
