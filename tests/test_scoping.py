"""Nobody reaches another operator's establishment through any route that takes an id."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.conduct.models import Signature
from app.main import route_table
from tests.conftest import SIGNATURE, add_establishment, csrf_of, make_user, post_form, sign_in

# Path parameters that are not ids of someone's records (single-use tokens from mails).
NOT_RECORD_IDS = {"token", "path"}


def _id_routes() -> list[tuple[str, str]]:
    routes = []
    for route in route_table():
        if "{establishment_id}" in route.path:
            for method in sorted(route.methods - {"HEAD"}):
                routes.append((method, route.path))
    return routes


def test_every_route_with_an_id_is_covered_here():
    for route in route_table():
        params = {p.name for p in route.dependant.path_params}
        assert params <= {"establishment_id"} | NOT_RECORD_IDS, (
            f"{route.path}: add its id to the scoping test"
        )


@pytest.mark.parametrize(("method", "path"), _id_routes())
def test_another_operator_gets_not_found_and_changes_nothing(client, db, method, path):
    make_user(db, "owner@hostal.pe")
    sign_in(client, "owner@hostal.pe")
    theirs = add_establishment(client, branch_code="0000")
    post_form(client, f"/establishments/{theirs}/sign", SIGNATURE)
    post_form(client, "/account/logout", {}, form_page="/dashboard")

    make_user(db, "intruder@otro.pe")
    sign_in(client, "intruder@otro.pe")
    own = add_establishment(client, branch_code="0001", trade_name="Propio")
    before = db.scalar(select(func.count()).select_from(Signature))
    url = path.replace("{establishment_id}", str(theirs))
    if method == "GET":
        response = client.get(url)
    else:
        token = csrf_of(client, f"/establishments/{own}/sign")
        response = client.request(method, url, data={"csrf_token": token, **SIGNATURE})
    assert response.status_code == 404
    assert "Hostal Ñusta" not in response.text
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Signature)) == before


@pytest.mark.parametrize(("method", "path"), _id_routes())
def test_signed_out_visitors_are_sent_to_sign_in(client, db, method, path):
    make_user(db, "owner@hostal.pe")
    sign_in(client, "owner@hostal.pe")
    theirs = add_establishment(client)
    post_form(client, "/account/logout", {}, form_page="/dashboard")
    response = client.request(method, path.replace("{establishment_id}", str(theirs)))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/account/login?next=")
