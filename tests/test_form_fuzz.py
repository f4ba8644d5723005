"""Every HTML form of the portal, fuzzed with Hypothesis: random and odd text, huge values, missing,
repeated and wrongly typed fields, posted with a valid CSRF token by someone allowed to use the
form. Never a server error, never a half-saved record: a refused form leaves every table as it
was, an accepted one leads to a page that shows, with what was saved valid.

The routes come from the app's route table, so a new form without an entry here fails. The fields
come from the form as its page shows it (the defaults the page fills in are the "valid" values).
PORTAL_FUZZ_EXAMPLES sets the examples per form (default 8; CI runs them derandomized)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session, SQLModel

from app.establishments.forms import EstablishmentForm
from app.establishments.models import Establishment
from app.main import create_app, dispose_engines, route_table
from app.reports.models import AnnualReport
from tests.conftest import (
    IN_CI,
    SIGNATURE,
    _empty_tables,
    add_establishment,
    create_open_period,
    csrf_of,
    error_summary,
    field_value,
    make_settings,
    make_user,
    post_form,
    sign_in,
)
from tests.reports.conftest import fill_all, report_url
from tests.reports.files import png

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "8"))
DATA = Path(__file__).resolve().parent / "data"
FORM_ROUTES = sorted(
    r.path for r in route_table() if "POST" in r.methods and not r.path.startswith("/api/")
)
# Written by every request whatever its answer (the session's last-seen time, sign-in failures).
VOLATILE = {"user_session", "login_failure", "api_rate_counter"}
BAD_TOKEN = "x" * 43


@dataclass
class Fuzz:
    """Who posts the form, at which address (placeholders filled from the world), and the page
    that shows it; `fields` when the page does not show the form in every state."""

    role: str
    url: str
    page: str | None = None
    fields: tuple[str, ...] | None = None
    examples: int = EXAMPLES


FUZZ: dict[str, Fuzz] = {
    "/language": Fuzz("anonymous", "/language", "/"),
    "/account/register": Fuzz("anonymous", "/account/register"),
    "/account/confirm/resend": Fuzz("anonymous", "/account/confirm/resend"),
    "/account/confirm/{token}": Fuzz("anonymous", f"/account/confirm/{BAD_TOKEN}", fields=()),
    "/account/login": Fuzz("anonymous", "/account/login"),
    "/account/logout": Fuzz("leaver", "/account/logout", "/dashboard", examples=3),
    # A random current password never matches: the change is refused and nothing moves.
    "/account/password": Fuzz("operator", "/account/password"),
    "/account/password/forgot": Fuzz("anonymous", "/account/password/forgot"),
    "/account/password/reset/{token}": Fuzz(
        "anonymous",
        f"/account/password/reset/{BAD_TOKEN}",
        fields=("password", "password_confirm"),
    ),
    "/establishments/claim": Fuzz("claimer", "/establishments/claim"),
    "/establishments/claim/email": Fuzz(
        "claimer", "/establishments/claim/email", fields=("ruc", "branch_code")
    ),
    "/establishments/claim/review": Fuzz(
        "claimer",
        "/establishments/claim/review",
        fields=("ruc", "branch_code", "explanation"),
    ),
    "/establishments/claim/confirm/{token}": Fuzz(
        "claimer", f"/establishments/claim/confirm/{BAD_TOKEN}", fields=()
    ),
    "/review/claims/{claim_id}/approve": Fuzz(
        "reviewer", "/review/claims/{claim}/approve", "/review/claims"
    ),
    "/review/claims/{claim_id}/refuse": Fuzz(
        "reviewer", "/review/claims/{claim}/refuse", "/review/claims", fields=("reason",)
    ),
    "/establishments/new": Fuzz("operator", "/establishments/new"),
    "/establishments/{establishment_id}/sign": Fuzz("operator", "/establishments/{unsigned}/sign"),
    "/establishments/{establishment_id}/signature/suspend": Fuzz(
        "reviewer",
        "/establishments/{standing}/signature/suspend",
        "/establishments/{standing}",
        fields=("reason",),
    ),
    "/establishments/{establishment_id}/signature/reinstate": Fuzz(
        "reviewer",
        "/establishments/{standing}/signature/reinstate",
        "/establishments/{standing}",
        fields=("reason",),
    ),
    "/establishments/{establishment_id}/signature/revoke": Fuzz(
        "reviewer",
        "/establishments/{standing}/signature/revoke",
        "/establishments/{standing}",
        fields=("reason", "confirm"),
    ),
    "/establishments/{establishment_id}/signature/withdraw": Fuzz(
        "operator",
        "/establishments/{standing}/signature/withdraw",
        "/establishments/{standing}",
        fields=("confirm",),
    ),
    "/establishments/{establishment_id}/reports/{year}/start": Fuzz(
        "operator",
        "/establishments/{unstarted}/reports/{year}/start",
        "/establishments/{unstarted}/reports/{year}",
        fields=("from_previous",),
    ),
    "/establishments/{establishment_id}/reports/{year}/sections/{code}": Fuzz(
        "operator", "/establishments/{draft}/reports/{year}/sections/training"
    ),
    "/establishments/{establishment_id}/reports/{year}/sections/{code}/evidence": Fuzz(
        "operator",
        "/establishments/{draft}/reports/{year}/sections/policy/evidence",
        "/establishments/{draft}/reports/{year}/sections/policy",
    ),
    "/establishments/{establishment_id}/reports/{year}/evidence/{evidence_id}/remove": Fuzz(
        "operator",
        "/establishments/{draft}/reports/{year}/evidence/{evidence}/remove",
        "/establishments/{draft}/reports/{year}/sections/policy",
    ),
    "/establishments/{establishment_id}/reports/{year}/submit": Fuzz(
        "operator",
        "/establishments/{draft}/reports/{year}/submit",
        "/establishments/{draft}/reports/{year}/summary",
        fields=("version", "confirm"),
    ),
    "/admin/periods/new": Fuzz("admin", "/admin/periods/new"),
    "/admin/periods/{year}/edit": Fuzz("admin", "/admin/periods/{old_year}/edit"),
    "/admin/periods/{year}/close": Fuzz(
        "admin", "/admin/periods/{old_year}/close", "/admin/periods", fields=("confirm",)
    ),
    "/admin/periods/{year}/reopen": Fuzz(
        "admin", "/admin/periods/{old_year}/reopen", "/admin/periods", fields=("confirm",)
    ),
    "/admin/users/new": Fuzz("admin", "/admin/users/new"),
    "/admin/users/{user_id}/edit": Fuzz("admin", "/admin/users/{staff}/edit"),
    "/admin/users/{user_id}/disable": Fuzz(
        "admin", "/admin/users/{staff}/disable", "/admin/users/{staff}/edit"
    ),
    "/admin/users/{user_id}/enable": Fuzz(
        "admin", "/admin/users/{staff}/enable", "/admin/users/{staff}/edit", fields=()
    ),
    "/review/reports/{report_id}": Fuzz("reviewer", "/review/reports/{filed}"),
    "/review/reports/{report_id}/assign": Fuzz(
        "reviewer", "/review/reports/{filed}/assign", "/review/reports/{filed}"
    ),
    "/review/reports/{report_id}/release": Fuzz(
        "reviewer", "/review/reports/{filed}/release", "/review/reports/{filed}", fields=()
    ),
    "/establishments/{establishment_id}/certificates/{year}/reissue": Fuzz(
        "reviewer",
        "/establishments/{approved}/certificates/{year}/reissue",
        "/establishments/{approved}",
    ),
    "/admin/imports": Fuzz("admin", "/admin/imports"),
    "/admin/imports/{upload_key}/confirm": Fuzz(
        "admin", "/admin/imports/{upload}/confirm", "/admin/imports/{upload}", fields=()
    ),
    "/account/tokens": Fuzz("operator", "/account/tokens"),
    "/account/tokens/{token_id}/revoke": Fuzz(
        "operator", "/account/tokens/{api_token}/revoke", "/account/tokens"
    ),
}


def test_every_form_has_a_fuzz_entry():
    assert sorted(FUZZ) == FORM_ROUTES, "add the new form to FUZZ in tests/test_form_fuzz.py"


# --- the world the forms act on ----------------------------------------------------------------------


@dataclass
class World:
    app: Any
    clients: dict[str, TestClient]
    ids: dict[str, Any]
    emails: dict[str, str] = field(default_factory=dict)


def _client(app: Any) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    return client


def _signed_in(app: Any, db: Session, email: str, role: str = "operator", regions=()) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(db, email, role=role, regions=regions)
    client = _client(app)
    sign_in(client, email)
    post_form(client, "/language", {"lang": "en", "next": "/"}, form_page="/")
    return client


@pytest.fixture(scope="module")
def world(database_url, smtp_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One portal per database with something for every form to act on: establishments signed
    and not, a draft and a filed report, an approved one with its certificate, a claim, an
    upload, a token, a staff account, an earlier period."""
    from app.clock import today
    from app.imports import service as imports
    from app.reports import service as reports

    app = create_app(
        make_settings(
            database_url, smtp_server[1], "http://testserver", tmp_path_factory.mktemp("fuzz")
        )
    )
    _empty_tables(app)
    with Session(app.state.engine, expire_on_commit=False) as db:
        now = today()
        period = create_open_period(db)
        reports.create_period(
            db_session=db,
            data=reports.PeriodInput(
                year=now.year - 3,
                opens_on=now - timedelta(days=900),
                deadline=now - timedelta(days=800),
                grace_days=30,
                cutoff_on=now - timedelta(days=900),
            ),
        )
        db.commit()
        operator = _signed_in(app, db, "rosa@hostal.pe")
        ids: dict[str, Any] = {"year": period.year, "old_year": now.year - 3}

        def signed(branch: str) -> int:
            establishment_id = add_establishment(operator, branch_code=branch)
            response = post_form(operator, f"/establishments/{establishment_id}/sign", SIGNATURE)
            assert response.status_code == 303
            return establishment_id

        ids["unsigned"] = add_establishment(operator, branch_code="0001")
        ids["unstarted"] = signed("0002")
        ids["standing"] = signed("0003")
        ids["draft"] = signed("0004")
        ids["filed"], ids["approved"] = signed("0005"), signed("0006")
        draft = report_url(ids["draft"], period)
        post_form(operator, f"{draft}/start", {"from_previous": "no"}, form_page=draft)
        upload = operator.post(
            f"{draft}/sections/policy/evidence",
            data={"csrf_token": csrf_of(operator, f"{draft}/sections/policy")},
            files={"file": ("politica.png", png(), "image/png")},
        )
        assert upload.status_code == 303, error_summary(upload)
        from app.reports.models import Evidence

        ids["evidence"] = db.scalars(select(Evidence.id)).one()
        for key in ("filed", "approved"):
            url = report_url(ids[key], period)
            post_form(operator, f"{url}/start", {"from_previous": "no"}, form_page=url)
            fill_all(operator, ids[key], period)
            summary = operator.get(f"{url}/summary")
            response = post_form(
                operator,
                f"{url}/submit",
                {"version": field_value(summary, "version") or "", "confirm": "yes"},
                form_page=f"{url}/summary",
            )
            assert response.status_code == 303, error_summary(response)
        reports_by_establishment = {
            r.establishment_id: r.id for r in db.scalars(select(AnnualReport)).all()
        }
        ids["filed"] = reports_by_establishment[ids["filed"]]
        reviewer = _signed_in(app, db, "quispe@dircetur-cusco.gob.pe", "reviewer", ("PE-CUS",))
        approved_report = reports_by_establishment[ids["approved"]]
        review = f"/review/reports/{approved_report}"
        shown = reviewer.get(review)
        response = post_form(
            reviewer,
            review,
            {
                "submission": field_value(shown, "submission") or "",
                "decision": "approved",
                "comment": "Conforme.",
            },
        )
        assert response.status_code == 303, error_summary(response)
        # An imported establishment, claimed by a second operator and waiting for the region.
        imports.apply_file(
            db_session=db,
            path=DATA / "signatories_utf8_semicolon.csv",
            filename="signatories_utf8_semicolon.csv",
            actor=None,
        )
        db.commit()
        claimer = _signed_in(app, db, "gerente@inkanan.pe")
        from tests.imports.test_claims import VALLE

        post_form(claimer, "/establishments/claim", VALLE)
        asked = post_form(
            claimer,
            "/establishments/claim/review",
            {**VALLE, "explanation": "Soy el gerente; teléfono 084 123456"},
            "/establishments/claim",
        )
        assert asked.status_code in (200, 303), error_summary(asked)
        from app.claims.models import EstablishmentClaim

        ids["claim"] = db.scalars(select(EstablishmentClaim.id)).one()
        admin = _signed_in(app, db, "admin@mincetur.gob.pe", "admin")
        staff = make_user(db, "otra@dircetur-cusco.gob.pe", role="reviewer", regions=("PE-CUS",))
        ids["staff"] = staff.id
        token = page_of(admin.get("/admin/imports")).find("input", {"name": "csrf_token"})["value"]
        uploaded = admin.post(
            "/admin/imports",
            data={"csrf_token": token},
            files={
                "file": (
                    "firmantes.xlsx",
                    (DATA / "signatories.xlsx").read_bytes(),
                    "application/octet-stream",
                )
            },
        )
        ids["upload"] = uploaded.headers["location"].rsplit("/", 1)[1]
        made = post_form(operator, "/account/tokens", {"name": "contabilidad"})
        assert made.status_code in (200, 303), error_summary(made)
        from app.api.models import ApiToken

        ids["api_token"] = db.scalars(select(ApiToken.id)).one()
        leaver = _signed_in(app, db, "leaver@hostal.pe")
    clients = {
        "anonymous": _client(app),
        "operator": operator,
        "reviewer": reviewer,
        "admin": admin,
        "claimer": claimer,
        "leaver": leaver,
    }
    yield World(app=app, clients=clients, ids=ids, emails={"leaver": "leaver@hostal.pe"})
    for client in clients.values():
        client.__exit__(None, None, None)
    dispose_engines(app)


def page_of(response) -> BeautifulSoup:  # type: ignore[no-untyped-def]
    return BeautifulSoup(response.text, "html.parser")


# --- what a form is made of, as its page shows it ---------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, file, choice
    choices: list[str]


def form_fields(html: str, action: str) -> list[Field] | None:
    form = page_of_html(html).find("form", action=action)
    if form is None:
        return None
    found: dict[str, Field] = {}
    for node in form.find_all(["input", "select", "textarea"]):
        name = node.get("name")
        if not name or name == "csrf_token":
            continue
        kind = node.get("type", "text") if node.name == "input" else node.name
        entry = found.setdefault(name, Field(name, "text", []))
        if kind == "file":
            entry.kind = "file"
        elif kind in ("radio", "checkbox", "select"):
            entry.kind = "choice"
            values = (
                [o.get("value", "") for o in node.find_all("option")]
                if kind == "select"
                else [node.get("value", "on")]
            )
            entry.choices += [v for v in values if v not in entry.choices]
        elif node.name == "textarea":
            entry.choices.append(node.get_text())
        else:
            entry.choices.append(node.get("value", ""))
    return list(found.values())


def page_of_html(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "\u202egnp.exe",
    "\u200b\u200d\ufeff",
    "e\u0301\u0301\u0301\u0301",
    "Z\u0351\u0352\u0353\u0354\u0355\u0356\u0357",
    "مرحبا بالعالم",
    "שלום",
    "𝕳𝖔𝖘𝖙𝖆𝖑",
    "\U0001f600\U0001f1f5\U0001f1ea",
    "\U000e0001\U000e0041",
    "\U0010fffd",
    "\ufffd",
    "<script>alert(1)</script>",
    "'; DROP TABLE establishment; --",
    "{{ 7*7 }}",
    "%(name)s %s {0}",
    "-1",
    "0",
    "1e309",
    "NaN",
    "99999999999999999999999999",
    "2024-02-30",
    "0000-00-00",
    "9999-12-31",
    "../../etc/passwd",
    "true",
    "on",
    "20604123456",
    "PE-CUS",
    "lodging",
]
text_values = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(ODD),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["x", "ñ", "9", "\u202e", " "]),
        st.sampled_from([300, 5_000, 200_000]),
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@st.composite
def form_values(draw, fields: list[Field]):  # type: ignore[no-untyped-def]
    """What a person (or a hostile client) might send for these fields."""
    data: dict[str, str | list[str]] = {}
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    for entry in fields:
        how = draw(st.sampled_from(["valid", "valid", "random", "missing", "repeated"]))
        if entry.kind == "file":
            if how != "missing":
                content = draw(
                    st.sampled_from(
                        [png(), b"", b"%PDF-1.4\n%%EOF\n", b"\x00" * 100, "ñ".encode() * 50]
                    )
                )
                name = draw(st.sampled_from(["a.png", "", "\u202e.pdf", "../x.pdf", "x" * 300]))
                files.append((entry.name, (name or "a.png", content, "application/octet-stream")))
            continue
        if how == "missing":
            continue
        valid = draw(st.sampled_from(entry.choices)) if entry.choices else draw(text_values)
        if how == "valid":
            data[entry.name] = valid
        elif how == "random":
            data[entry.name] = draw(text_values)
        else:
            data[entry.name] = [valid, draw(text_values)]
    if draw(st.booleans()):
        data[draw(st.sampled_from(["extra", "id", "user_id", "role", "state"]))] = draw(text_values)
    return data, files


def snapshot(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that a refused form must leave alone."""
    with Session(app.state.engine) as db:
        rows = {}
        for table in SQLModel.metadata.sorted_tables:
            if table.name in VOLATILE:
                continue
            order = [c for c in table.primary_key.columns] or list(table.columns)
            rows[table.name] = [tuple(r) for r in db.execute(table.select().order_by(*order))]
        return rows


def _ensure_signed_in(world: World, role: str) -> None:
    client = world.clients[role]
    if role in world.emails and client.get("/dashboard").status_code != 200:
        sign_in(client, world.emails[role])


@pytest.mark.parametrize("path", FORM_ROUTES)
def test_forms_never_fail_nor_half_save(world, path):  # type: ignore[no-untyped-def]
    entry = FUZZ[path]
    url = entry.url.format(**world.ids)
    client = world.clients[entry.role]
    shown = client.get((entry.page or entry.url).format(**world.ids))
    assert shown.status_code < 500
    fields = form_fields(shown.text, url)
    if fields is None:
        assert entry.fields is not None, f"no form posting to {url} on its page"
        fields = [Field(name, "text", []) for name in entry.fields]

    @settings(
        max_examples=entry.examples,
        deadline=None,
        derandomize=IN_CI or os.environ.get("PORTAL_FUZZ_DERANDOMIZE", "1") == "1",
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(sent=form_values(fields))
    def post(sent):  # type: ignore[no-untyped-def]
        data, files = sent
        _ensure_signed_in(world, entry.role)
        token = csrf_of(client, "/account/login" if entry.role == "anonymous" else "/dashboard")
        before = snapshot(world.app)
        response = client.post(url, data={**data, "csrf_token": token}, files=files or None)
        assert response.status_code < 500, (response.status_code, data)
        refused = response.status_code >= 400 or bool(error_summary(response))
        if response.status_code in (302, 303):
            location = response.headers["location"]
            assert client.get(location).status_code < 500, location
            check_saved(world.app)
        elif not refused:  # an answer on the page itself (a token shown once, "mail sent")
            check_saved(world.app)
        else:
            assert snapshot(world.app) == before, (
                response.status_code,
                data,
                error_summary(response),
            )

    post()


def check_saved(app: Any) -> None:
    """What an accepted form saved is what the forms accept: every establishment passes its
    form again, no text holds a NUL, every report's content is a dictionary of sections."""
    with Session(app.state.engine) as db:
        for establishment in db.scalars(select(Establishment)).all():
            data = establishment.model_dump(include=set(EstablishmentForm.model_fields))
            EstablishmentForm.model_validate(
                {k: v if v is not None else "" for k, v in data.items()}
            )
        for report in db.scalars(select(AnnualReport)).all():
            assert isinstance(report.content.get("sections"), dict)
        for table in SQLModel.metadata.sorted_tables:
            for row in db.execute(table.select()):
                assert not any(isinstance(v, str) and "\x00" in v for v in row), (table.name, row)


# Values at the edges, sent on purpose (the fuzzer rarely draws a whole valid form around them).
EDGES = [
    (
        "admin",
        "/admin/periods/new",
        {
            "year": "9999",
            "opens_on": "01/01/9999",
            "deadline": "31/12/9999",
            "grace_days": "365",
            "cutoff_on": "31/12/9999",
        },
    ),
    (
        "admin",
        "/admin/periods/new",
        {
            "year": "1",
            "opens_on": "01/01/0001",
            "deadline": "01/01/0001",
            "grace_days": "0",
            "cutoff_on": "01/01/0001",
        },
    ),
    (
        "admin",
        "/admin/periods/new",
        {"year": "99999999999999999999", "grace_days": "99999999999999999999"},
    ),
    (
        "admin",
        "/admin/periods/{old_year}/edit",
        {
            "opens_on": "01/01/9999",
            "deadline": "31/12/9999",
            "grace_days": "365",
            "cutoff_on": "31/12/9999",
        },
    ),
    (
        "operator",
        "/establishments/{draft}/reports/{year}/sections/training",
        {
            "status": "done",
            "narrative": "x",
            "fig-staff_total": "1e309",
            "fig-staff_trained": "99999999999999999999999",
            "fig-sessions-0-date": "9999-12-31",
            "fig-sessions-0-provider": "x",
            "fig-sessions-0-hours": "1e309",
        },
    ),
    (
        "operator",
        "/establishments/{draft}/reports/{year}/sections/training",
        {
            "status": "done",
            "fig-staff_total": "-0",
            "fig-sessions-99999999999-date": "2024-01-01",
            "fig-sessions-0-hours": "NaN",
        },
    ),
    (
        "reviewer",
        "/review/reports/{filed}",
        {"submission": "99999999999999999999999", "decision": "approved"},
    ),
    (
        "anonymous",
        "/account/register",
        {
            "email": "a" * 300 + "@hostal.pe",
            "password": "x" * 5000,
            "password_confirm": "x" * 5000,
            "privacy": "yes",
        },
    ),
    (
        "admin",
        "/admin/users/new",
        {
            "email": "nueva@dircetur.gob.pe",
            "role": "reviewer",
            "regions": ["PE-CUS"] * 50 + ["PE-XXX"],
        },
    ),
    ("admin", "/admin/users/{staff}/edit", {"role": "admin", "regions": ["\x00"]}),
]


@pytest.mark.parametrize(("role", "path", "data"), EDGES)
def test_edge_values_never_fail_nor_half_save(world, role, path, data):  # type: ignore[no-untyped-def]
    client = world.clients[role]
    url = path.format(**world.ids)
    shown = client.get(url)
    fields = {"version": field_value(shown, "version")} if field_value(shown, "version") else {}
    token = csrf_of(client, "/account/login" if role == "anonymous" else "/dashboard")
    before = snapshot(world.app)
    response = client.post(url, data={**fields, **data, "csrf_token": token})
    assert response.status_code < 500
    if response.status_code >= 400 or error_summary(response):
        assert snapshot(world.app) == before
    else:
        check_saved(world.app)
