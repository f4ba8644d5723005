"""Peru's scheme: RUC, the 26 regions, categories, identity documents and the Code text.

The data lives in the JSON files beside this module; only what cannot be data is
here: the SUNAT check digit and the messages (in Python so they can be extracted
for translation).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from app.i18n import _, lazy_gettext
from app.jurisdiction import (
    Category,
    CodeText,
    Commitment,
    DocumentType,
    InvalidValue,
    Message,
    Region,
    Scheme,
    TextRule,
)

DATA_DIR = Path(__file__).parent

DOCUMENT_MESSAGES: dict[str, Message] = {
    "DNI": lazy_gettext("Enter the DNI: exactly 8 digits"),
    "CE": lazy_gettext(
        "Enter the carné de extranjería number: 9 digits, including any leading zeros"
    ),
    "PASSPORT": lazy_gettext("Enter the passport number: 6 to 12 letters and digits"),
}
BRANCH_CODE_MESSAGE = lazy_gettext(
    "Enter the SUNAT branch code: 4 digits (0000 is the fiscal address)"
)


def _load(name: str) -> Any:
    with (DATA_DIR / name).open(encoding="utf-8") as file:
        return json.load(file)


_SCHEME = _load("scheme.json")
_RUC = _SCHEME["tax_id"]
_RUC_PREFIXES: tuple[str, ...] = tuple(_RUC["prefixes"])
_RUC_WEIGHTS: tuple[int, ...] = tuple(_RUC["check_digit_weights"])


def ruc_check_digit(first_ten: str) -> int:
    """SUNAT's check digit: 11 minus the weighted sum modulo 11, with 10 -> 0 and 11 -> 1."""
    total = sum(int(digit) * weight for digit, weight in zip(first_ten, _RUC_WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def normalize_ruc(value: str) -> str:
    """The RUC as 11 digits, or InvalidValue saying what is wrong with it."""
    ruc = re.sub(_RUC["remove"], "", value or "")
    if not re.fullmatch(_RUC["pattern"], ruc, flags=re.ASCII):
        raise InvalidValue(_("Enter the RUC: 11 digits"))
    if not ruc.startswith(_RUC_PREFIXES):
        raise InvalidValue(
            _(
                "A RUC starts with one of %(prefixes)s: check the number on your SUNAT record",
                prefixes=", ".join(_RUC_PREFIXES),
            )
        )
    if ruc_check_digit(ruc[:10]) != int(ruc[10]):
        raise InvalidValue(
            _("This RUC's check digit is wrong: check the number on your SUNAT record")
        )
    return ruc


def _document_type(entry: dict[str, Any]) -> DocumentType:
    rule = TextRule(
        pattern=entry["pattern"],
        message=DOCUMENT_MESSAGES[entry["code"]],
        remove=entry["remove"],
        uppercase=entry["uppercase"],
    )
    return DocumentType(code=entry["code"], name=entry["name"], rule=rule)


def _code_text(entry: dict[str, Any]) -> CodeText:
    commitments = tuple(
        Commitment(
            code=c["code"],
            title=c["title"],
            text=c["text"],
            categories=None if c["categories"] is None else tuple(c["categories"]),
        )
        for c in entry["commitments"]
    )
    return CodeText(
        version=entry["version"],
        published_on=date.fromisoformat(entry["published_on"]),
        title=entry["title"],
        preamble=entry["preamble"],
        commitments=commitments,
        closing=entry["closing"],
        note=entry.get("note", {}),
    )


PERU = Scheme(
    country=_SCHEME["country"],
    name=_SCHEME["name"],
    tax_id_name=_SCHEME["tax_id_name"],
    regions=tuple(
        Region(code=r["code"], name=r["name"], authority=r.get("authority"))
        for r in _load("regions.json")
    ),
    categories=tuple(Category(code=c["code"], name=c["name"]) for c in _load("categories.json")),
    document_types=tuple(_document_type(d) for d in _SCHEME["document_types"]),
    code_versions=tuple(_code_text(v) for v in _load("code_of_conduct.json")),
    signatory_prefix=_SCHEME["signatory_prefix"],
    tax_id_checker=normalize_ruc,
    branch_code_rule=TextRule(
        pattern=_SCHEME["branch_code"]["pattern"],
        message=BRANCH_CODE_MESSAGE,
        remove=_SCHEME["branch_code"]["remove"],
    ),
    fiscal_branch_code=_SCHEME["branch_code"]["fiscal_address"],
    report_forms=tuple(_load("report_forms.json")),
    national_authority=_SCHEME["national_authority"],
    regional_authority=_SCHEME["regional_authority"],
)
