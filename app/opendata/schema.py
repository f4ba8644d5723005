"""The documented schema of a register record: for people (the open data page) and for machines
(a JSON Schema), from the same list so that the two cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from babel.support import LazyProxy

from app.establishments.standing import Standing
from app.i18n import lazy_gettext
from app.jurisdiction import current_scheme
from app.opendata.service import FIELDS


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str  # as JSON Schema names it
    format: str | None
    nullable: bool
    meaning: LazyProxy
    example: str


FIELD_DOCS = (
    FieldDoc("id", "integer", None, False, lazy_gettext("The establishment's number in this portal; stable, never reused."), "1234"),
    FieldDoc("ruc", "string", None, False, lazy_gettext("The business's tax number (RUC, 11 digits), shared by all its establishments."), "20604123451"),
    FieldDoc("branch_code", "string", None, False, lazy_gettext("SUNAT's code of the establishment (0000 for the fiscal address)."), "0000"),
    FieldDoc("trade_name", "string", None, False, lazy_gettext("The name the public knows the establishment by."), "Hostal Ñusta"),
    FieldDoc("legal_name", "string", None, False, lazy_gettext("The business's legal name, as registered with SUNAT."), "Inversiones Ñusta S.A.C."),
    FieldDoc("category", "string", None, False, lazy_gettext("The kind of tourism service, as a code (see the list of categories)."), "lodging"),
    FieldDoc("region", "string", None, False, lazy_gettext("The region, as its ISO 3166-2 code (see the list of regions)."), "PE-CUS"),
    FieldDoc("province", "string", None, False, lazy_gettext("The province."), "Cusco"),
    FieldDoc("district", "string", None, False, lazy_gettext("The district."), "Cusco"),
    FieldDoc("signatory_number", "string", None, False, lazy_gettext("The number given when the Code was signed."), "CC-2026-000123"),
    FieldDoc("signed_on", "string", "date", False, lazy_gettext("The date the Code was signed (Peru's time), YYYY-MM-DD."), "2026-02-14"),
    FieldDoc("standing", "string", None, False, lazy_gettext("Where the establishment stands with the Code today, as a code (see the list of standings)."), "good_standing"),
    FieldDoc("last_approved_year", "integer", None, True, lazy_gettext("The latest year whose annual report was approved; empty if none."), "2025"),
    FieldDoc("certificate_valid_until", "string", "date", True, lazy_gettext("Until when its certificate of compliance is valid; empty if it has no valid certificate."), "2027-03-31"),
)  # fmt: skip
assert tuple(f.name for f in FIELD_DOCS) == FIELDS, "document every field of PublicRecord"

#: The standings a signatory can have (not "not signed": only signatories are in the register).
STANDINGS = tuple(s for s in Standing if s != Standing.NOT_SIGNED)


def json_schema(schema_url: str) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of one item of register.json, in the language of the request."""
    scheme = current_scheme()
    enums: dict[str, list[str]] = {
        "category": [c.code for c in scheme.categories],
        "region": [r.code for r in scheme.regions],
        "standing": [s.value for s in STANDINGS],
    }
    patterns = {"ruc": r"^[0-9]{11}$", "branch_code": r"^[0-9]{4}$"}
    properties: dict[str, Any] = {}
    for doc in FIELD_DOCS:
        prop: dict[str, Any] = {
            "type": [doc.type, "null"] if doc.nullable else doc.type,
            "description": str(doc.meaning),
            "examples": [int(doc.example) if doc.type == "integer" else doc.example],
        }
        if doc.format:
            prop["format"] = doc.format
        if doc.name in enums:
            prop["enum"] = enums[doc.name]
        if doc.name in patterns:
            prop["pattern"] = patterns[doc.name]
        properties[doc.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_url,
        "title": str(lazy_gettext("A signatory of the Code of Conduct")),
        "type": "object",
        "properties": properties,
        "required": list(FIELDS),
        "additionalProperties": False,
    }
