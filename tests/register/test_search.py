"""Searching the public register as anyone does: by name (accents and case do not matter), by RUC,
by region, province, category and standing, page by page, with plain URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.clock import today
from app.establishments.models import RegisterTerm
from tests.conftest import page
from tests.register.conftest import add_signatory


@pytest.fixture
def public(client):  # type: ignore[no-untyped-def]
    client.cookies.set("portal_lang", "en")
    return client


def names(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.get_text(strip=True) for a in page(response).select("tbody tr td:first-child a")]


def search(client, **params):  # type: ignore[no-untyped-def]
    response = client.get("/register", params=params)
    assert response.status_code == 200
    return response


@pytest.fixture
def cusco(db):  # type: ignore[no-untyped-def]
    add_signatory(db, "Hostal Ñusta", legal_name="Inversiones Ñusta S.A.C.")
    add_signatory(db, "Cusco Real", legal_name="Turismo Andino E.I.R.L.", category="travel_agency")
    add_signatory(db, "Hospedaje Qori Wasi", legal_name="Quispe Mamani S.R.L.")
    add_signatory(
        db,
        "Restaurante El Cóndor",
        legal_name="Pérez Díaz S.A.",
        category="restaurant",
        region="PE-ARE",
        province="Arequipa",
    )
    add_signatory(db, "Hostal Sin Firma", status=None)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("hostal", ["Hostal Ñusta"]),
        ("HOSTAL", ["Hostal Ñusta"]),
        ("ñusta", ["Hostal Ñusta"]),
        ("Ñusta", ["Hostal Ñusta"]),
        ("nusta", ["Hostal Ñusta"]),
        ("NÚSTA", ["Hostal Ñusta"]),
        ("cusco", ["Cusco Real"]),
        ("condor", ["Restaurante El Cóndor"]),
        ("cóndor", ["Restaurante El Cóndor"]),
        ("hos", ["Hospedaje Qori Wasi", "Hostal Ñusta"]),
        ("ho ñu", ["Hostal Ñusta"]),
        ("inversiones", ["Hostal Ñusta"]),  # the legal name
        ("quispe mamani", ["Hospedaje Qori Wasi"]),
        ("  Hostal   ñusta ", ["Hostal Ñusta"]),
        ("hostal-ñusta", ["Hostal Ñusta"]),
        ("usta", []),  # words are found by their beginning
        ("hostal cóndor", []),  # every word must match
        ("zzz", []),
    ],
)
def test_name_search_ignores_accents_case_and_punctuation(public, cusco, q, expected):
    assert names(search(public, q=q)) == expected


def test_several_words_find_the_same_whichever_is_typed_first(public, db):
    """The search starts from the rarest word: the order typed must not change what is found."""
    for n in range(8):
        add_signatory(db, f"Hostal Número {n}")
    add_signatory(db, "Hostal Wasi")
    add_signatory(db, "Wasi Lodge", legal_name="Hostales del Sur S.A.C.")  # one word in each name
    add_signatory(db, "Casa Wasi")
    expected = ["Hostal Wasi", "Wasi Lodge"]
    assert names(search(public, q="hostal wasi")) == expected
    assert names(search(public, q="wasi hostal")) == expected
    assert names(search(public, q="wa hos")) == expected
    assert names(search(public, q="hos wa número")) == []
    assert names(search(public, q="número 3 hostal")) == ["Hostal Número 3"]


def test_never_signed_establishments_are_not_in_the_register(public, cusco):
    assert "Hostal Sin Firma" not in page(search(public)).get_text()
    assert names(search(public, q="firma")) == []


def test_relevance_then_name(public, db):
    add_signatory(db, "Casa Inti", legal_name="Inti Raymi S.A.C.")  # only the legal name
    add_signatory(db, "Inti Wasi")  # starts with the query
    add_signatory(db, "Hotel Inti")  # has the word
    add_signatory(db, "Inti")  # exactly the query
    add_signatory(db, "Inti Raymi Lodge")
    assert names(search(public, q="inti")) == [
        "Inti",
        "Inti Raymi Lodge",
        "Inti Wasi",
        "Casa Inti",
        "Hotel Inti",
    ]
    assert names(search(public, q="inti r")) == ["Inti Raymi Lodge", "Casa Inti"]


def test_ruc_whole_or_its_beginning(public, db):
    add_signatory(db, "Uno", ruc="20604123454")
    add_signatory(db, "Dos", ruc="20604198761")
    add_signatory(db, "Tres", ruc="10456789123")
    assert names(search(public, q="20604123454")) == ["Uno"]
    assert names(search(public, q="20604")) == ["Uno", "Dos"]  # by RUC
    assert names(search(public, q="2060 4123")) == ["Uno"]
    assert names(search(public, q="999")) == []


def test_filters_combine(public, db):
    add_signatory(db, "Hostal Colca", region="PE-ARE", province="Caylloma")
    add_signatory(db, "Hostal Misti", region="PE-ARE", province="Arequipa")
    add_signatory(
        db, "Agencia Misti", region="PE-ARE", province="Arequipa", category="travel_agency"
    )
    add_signatory(db, "Hostal Cusqueño", region="PE-CUS", province="Cusco")
    add_signatory(db, "Hostal Suspendido", region="PE-ARE", province="Arequipa", status="suspended")
    assert names(search(public, region="PE-ARE", category="lodging")) == [
        "Hostal Colca",
        "Hostal Misti",
        "Hostal Suspendido",
    ]
    assert names(search(public, region="PE-ARE", province="AREQUIPA")) == [
        "Agencia Misti",
        "Hostal Misti",
        "Hostal Suspendido",
    ]
    assert names(search(public, q="hostal", region="PE-ARE", standing="suspended")) == [
        "Hostal Suspendido"
    ]
    assert names(search(public, q="hostal", standing="good_standing")) == [
        "Hostal Colca",
        "Hostal Cusqueño",
        "Hostal Misti",
    ]
    assert names(search(public, q="misti", category="restaurant")) == []
    # Unknown filter values are ignored rather than refused: the URL still works.
    assert names(search(public, q="hostal", region="PE-XXX", category="x", standing="x")) == [
        "Hostal Colca",
        "Hostal Cusqueño",
        "Hostal Misti",
        "Hostal Suspendido",
    ]


def test_each_result_shows_its_standing_in_words_and_colour(public, db):
    add_signatory(db, "Hostal Activo")
    add_signatory(db, "Hostal Revocado", status="revoked")
    rows = page(search(public, q="hostal")).select("tbody tr")
    tags = [
        (r.select_one(".tag").get_text(strip=True), r.select_one(".tag")["class"]) for r in rows
    ]
    assert tags == [
        ("Good standing", ["tag", "tag--good"]),
        ("Revoked", ["tag", "tag--revoked"]),
    ]


def test_the_search_is_a_url_and_the_title_says_it(public, cusco):
    response = search(public, q="ñusta", region="PE-CUS")
    title = page(response).title.get_text()
    assert "“ñusta”" in title and "Cusco" in title
    form = page(response).find("form", attrs={"role": "search"})
    assert form["method"] == "get" and form["action"] == "/register"
    assert page(response).find("input", attrs={"name": "q"})["value"] == "ñusta"
    assert page(response).select_one("label[for=field-q]")


def _many(db, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        add_signatory(db, f"Hostal {i:03d}")


def test_pages_with_rel_links_and_absurd_page_numbers(public, db):
    _many(db, 45)
    first = search(public, q="hostal")
    assert names(first)[:2] == ["Hostal 000", "Hostal 001"] and len(names(first)) == 20
    assert "45 establishments found" in page(first).get_text()
    nxt = page(first).find("a", rel="next")["href"]
    assert page(first).find("a", rel="prev") is None
    second = public.get(nxt)
    assert names(second)[0] == "Hostal 020"
    assert page(second).find("a", rel="prev")["href"].endswith("page=1")
    assert "q=hostal" in nxt
    third = search(public, q="hostal", page="3")
    assert names(third) == [f"Hostal {i:03d}" for i in range(40, 45)]
    assert page(third).find("a", rel="next") is None
    for absurd in ("4", "99", str(10**12), "9" * 400):
        assert names(search(public, q="hostal", page=absurd)) == names(third), absurd
    for nonsense in ("0", "-1", "abc", "", "1.5", "²"):
        assert names(search(public, q="hostal", page=nonsense)) == names(first), nonsense


def test_no_match_says_so(public, db):
    for params in ({"q": "nadie"}, {"q": "nadie", "page": "7"}, {"region": "PE-MDD"}):
        response = search(public, **params)
        assert "No establishment matches your search" in page(response).get_text()
        assert not page(response).select("tbody tr")


def test_without_a_search_the_page_says_how_to_search(public, cusco):
    """100,000 names in pages of 20 help nobody: the register asks for a name, RUC or filter."""
    for params in ({}, {"q": "  "}, {"q": "¿?"}, {"region": "PE-XXX"}, {"page": "3"}):
        response = search(public, **params)
        assert not page(response).select("tbody tr")
        assert "Type the name of an establishment" in page(response).get_text()
        assert "No establishment matches" not in page(response).get_text()


def test_a_long_or_strange_query_is_not_an_error(public, cusco):
    for q in ("x" * 5000, "%", "_", "' OR 1=1 --", "\\", "🙂", "a b c d e f g h i j"):
        assert search(public, q=q).status_code == 200


def test_renaming_reindexes_the_search_terms(public, db):
    establishment = add_signatory(db, "Hostal Viejo", legal_name="Viejo S.A.C.")
    establishment.trade_name = "Hostal Nuevo Ñandú"
    db.add(establishment)
    db.commit()
    assert names(search(public, q="viejo")) == ["Hostal Nuevo Ñandú"]  # still the legal name
    assert names(search(public, q="nandu")) == ["Hostal Nuevo Ñandú"]
    establishment.legal_name = "Otro S.A.C."
    db.add(establishment)
    db.commit()
    assert names(search(public, q="viejo")) == []
    terms = set(
        db.scalars(
            RegisterTerm.__table__.select()
            .with_only_columns(RegisterTerm.term)
            .where(RegisterTerm.establishment_id == establishment.id)
        )
    )
    assert terms == {"hostal", "nuevo", "nandu", "otro", "s", "a", "c"}


def test_pages_are_light_and_need_no_javascript(public, db):
    for i in range(20):
        add_signatory(
            db,
            f"Hostal {'Ñusta Wasi Pachamama ' * 8}{i}"[:200],
            legal_name=("Inversiones Turísticas del Sur Andino " * 5)[:200],
        )
    css = Path(__file__).resolve().parents[2] / "app" / "static" / "css" / "portal.css"
    listing = search(public, q="hostal")
    assert len(names(listing)) == 20
    entry = public.get(page(listing).select_one("tbody a")["href"])
    for response in (listing, entry):
        html = page(response)
        assert not html.find("script")
        sheets = [link["href"] for link in html.find_all("link", rel="stylesheet")]
        assert sheets == ["/static/css/portal.css"]
        assert len(response.content) + css.stat().st_size < 100_000


def test_standing_filter_uses_the_reports(public, db):
    """Overdue and non-compliant come from the periods and reports, as on every other page."""
    from app.reports import service as reports

    now = today()
    period = reports.create_period(
        db_session=db,
        data=reports.PeriodInput(
            year=now.year - 2,
            opens_on=now - timedelta(days=60),
            deadline=now - timedelta(days=10),
            grace_days=30,
            cutoff_on=now - timedelta(days=100),
        ),
    )
    db.commit()
    early = datetime.now(UTC) - timedelta(days=400)
    late = add_signatory(db, "Hostal Tarde", signed_at=early)
    add_signatory(db, "Hostal Nuevo", signed_at=datetime.now(UTC) - timedelta(days=5))
    assert period.id
    assert names(search(public, standing="overdue")) == ["Hostal Tarde"]
    assert names(search(public, standing="good_standing")) == ["Hostal Nuevo"]
    tag = page(search(public, q="tarde")).select_one(".tag").get_text(strip=True)
    assert tag == "Overdue"
    assert late.id
