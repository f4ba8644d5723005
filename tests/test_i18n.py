"""Every string a person reads is translated: both catalogues complete and in step with the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.conftest import page, post_form

LOCALE = Path(__file__).resolve().parent.parent / "app" / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (LOCALE / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def _extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            Path(sys.executable).parent / "pybabel",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "-k",
            "_",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=LOCALE.parent.parent,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


@pytest.mark.parametrize("locale", ["es", "en"])
def test_catalogue_is_complete_and_placeholders_match(locale):
    missing, broken = [], []
    catalog = _catalog(locale)
    assert not catalog.fuzzy, "a fuzzy header makes pybabel skip the catalogue"
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(ids[0])
        elif set(PLACEHOLDER.findall(ids[0])) != set(PLACEHOLDER.findall(strings[0])):
            broken.append(ids[0])
    assert missing == []
    assert broken == []


def test_every_string_in_the_code_is_in_the_catalogues(tmp_path):
    in_code = _extracted_ids(tmp_path)
    for locale in ("es", "en"):
        catalogued = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(locale) if m.id}
        assert in_code - catalogued == set(), f"run scripts/catalogs.py and translate ({locale})"


def test_pages_are_spanish_by_default_and_english_on_request(client):
    home = client.get("/")
    assert page(home).html["lang"] == "es"
    assert "Iniciar sesión" in home.text
    post_form(client, "/language", {"lang": "en", "next": "/code"}, form_page="/")
    english = client.get("/code")
    assert page(english).html["lang"] == "en"
    assert "Sign in" in english.text
    assert "Iniciar sesión" not in english.text
