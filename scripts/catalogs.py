"""Update the translation catalogues from the code and templates.

Extracts every translatable string into app/locale/messages.pot, merges it into the Spanish and
English catalogues, and fills the English one (whose source strings are already English).
Run: .venv/bin/python scripts/catalogs.py   (then translate the new Spanish entries)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "app" / "locale"
BIN = Path(sys.executable).parent


def main() -> None:
    pot = LOCALE / "messages.pot"
    subprocess.run(
        [
            BIN / "pybabel",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "-k",
            "_",
            "--no-location",
            "--sort-output",
            "--omit-header",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    for locale in ("es", "en"):
        po = LOCALE / locale / "LC_MESSAGES" / "messages.po"
        command = "update" if po.exists() else "init"
        args = [
            BIN / "pybabel",
            command,
            "-i",
            str(pot),
            "-d",
            str(LOCALE),
            "-D",
            "messages",
            "-l",
            locale,
        ]
        if command == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete", "--omit-header"]
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    for locale in ("es", "en"):
        path = LOCALE / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        catalog.fuzzy = False  # a fuzzy header would make pybabel skip the whole catalogue
        if locale == "en":
            for message in catalog:
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                if message.id and not all(strings):
                    message.string = message.id
        with path.open("wb") as handle:
            write_po(handle, catalog, sort_output=True, width=100)
    spanish = LOCALE / "es" / "LC_MESSAGES" / "messages.po"
    with spanish.open("rb") as handle:
        missing = [
            m.id
            for m in read_po(handle, locale="es")
            if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
        ]
    print(f"{len(missing)} Spanish entries to translate")


if __name__ == "__main__":
    main()
