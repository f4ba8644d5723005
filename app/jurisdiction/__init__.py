"""What a country's scheme defines (tax id, regions, categories, documents, Code text).

The portal asks `current_scheme()` and never names a country: Colombia's NIT and
departments or Mexico's RFC would be another package like `peru/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from babel.support import LazyProxy

from app.i18n import _

# A message for people: a lazy_gettext proxy, rendered in the locale in force when shown.
Message = str | LazyProxy


class InvalidValue(ValueError):
    """A value the scheme refuses; str(exc) is the translated message saying what to do."""


@dataclass(frozen=True)
class TextRule:
    """How a typed identifier is cleaned (drop `remove`, maybe upper-case) and checked."""

    pattern: str  # the cleaned value must match it entirely
    message: Message  # shown when it does not
    remove: str = r"\s"  # a regex of the characters people type that are not part of the value
    uppercase: bool = False

    def normalize(self, value: str) -> str:
        cleaned = re.sub(self.remove, "", value or "")
        if self.uppercase:
            cleaned = cleaned.upper()
        # re.ASCII: "[0-9]" and "\d" must not accept other scripts' digits.
        if not re.fullmatch(self.pattern, cleaned, flags=re.ASCII):
            raise InvalidValue(str(self.message))
        return cleaned


@dataclass(frozen=True)
class Region:
    code: str  # ISO 3166-2, e.g. "PE-CUS"
    name: str  # a proper name, the same in every language
    #: The authority that supervises the Code in the region, when it is not the regional default.
    authority: dict[str, str] | None = None


@dataclass(frozen=True)
class Category:
    code: str
    name: dict[str, str]


@dataclass(frozen=True)
class DocumentType:
    """An identity document a legal representative signs with (DNI, CE, passport)."""

    code: str
    name: dict[str, str]
    rule: TextRule

    def normalize(self, value: str) -> str:
        return self.rule.normalize(value)


@dataclass(frozen=True)
class Commitment:
    code: str
    title: dict[str, str]
    text: dict[str, str]
    categories: tuple[str, ...] | None = None  # None: applies to every category

    def applies_to(self, category: str) -> bool:
        return self.categories is None or category in self.categories


@dataclass(frozen=True)
class CodeText:
    """One version of the Code text, kept exactly as signed."""

    version: str
    published_on: date
    title: dict[str, str]
    preamble: dict[str, str]  # paragraphs separated by a blank line
    commitments: tuple[Commitment, ...]
    closing: dict[str, str]  # the declaration the legal representative accepts on signing
    note: dict[str, str] = field(default_factory=dict)  # where this transcription comes from

    def commitment(self, code: str) -> Commitment | None:
        return next((c for c in self.commitments if c.code == code), None)

    def commitments_for(self, category: str) -> list[Commitment]:
        return [c for c in self.commitments if c.applies_to(category)]


@dataclass(frozen=True)
class Scheme:
    country: str  # ISO 3166-1 alpha-2
    name: dict[str, str]
    tax_id_name: dict[str, str]  # "RUC"
    regions: tuple[Region, ...]
    categories: tuple[Category, ...]
    document_types: tuple[DocumentType, ...]
    code_versions: tuple[CodeText, ...]
    signatory_prefix: str  # "CC"
    tax_id_checker: Callable[[str], str] = field(repr=False)  # normalizes or raises InvalidValue
    branch_code_rule: TextRule = field(repr=False)
    fiscal_branch_code: str = "0000"  # the branch code of the company's fiscal address
    # Versions of the annual report form, as data (sections by commitment code, figures, rules).
    report_forms: tuple[dict[str, Any], ...] = ()
    #: The national authority, and the regional one with "{region}" for the region's name.
    national_authority: dict[str, str] = field(default_factory=dict)
    regional_authority: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Catch a broken data set when it is loaded, not when someone signs.
        for kind, codes in (
            ("region", [r.code for r in self.regions]),
            ("category", [c.code for c in self.categories]),
            ("document type", [d.code for d in self.document_types]),
            ("Code version", [v.version for v in self.code_versions]),
        ):
            if len(codes) != len(set(codes)):
                raise ValueError(f"{self.country}: duplicate {kind} codes")
        if not self.code_versions:
            raise ValueError(f"{self.country}: no Code text")
        known = {c.code for c in self.categories}
        for version in self.code_versions:
            for commitment in version.commitments:
                unknown = set(commitment.categories or ()) - known
                if unknown:
                    raise ValueError(f"{version.version}/{commitment.code}: unknown {unknown}")

    def region(self, code: str) -> Region | None:
        return next((r for r in self.regions if r.code == code), None)

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def document_type(self, code: str) -> DocumentType | None:
        return next((d for d in self.document_types if d.code == code), None)

    def authority(self, region_code: str | None, locale: str) -> str:
        """Who issues documents for a region (its tourism directorate), or the national authority."""
        region = self.region(region_code) if region_code else None
        if region is None:
            texts = self.national_authority
        elif region.authority:
            texts = region.authority
        else:
            texts = {
                k: v.replace("{region}", region.name) for k, v in self.regional_authority.items()
            }
        return texts.get(locale) or texts.get("es") or ""

    def code_version(self, version: str) -> CodeText | None:
        return next((v for v in self.code_versions if v.version == version), None)

    def normalize_tax_id(self, value: str) -> str:
        return self.tax_id_checker(value)

    def normalize_branch_code(self, value: str) -> str:
        return self.branch_code_rule.normalize(value)

    def normalize_document(self, doc_type: str, number: str) -> str:
        document_type = self.document_type(doc_type)
        if document_type is None:
            raise InvalidValue(_("Choose the type of identity document"))
        return document_type.normalize(number)

    def signatory_number(self, year: int, sequence: int) -> str:
        """The public number of a signature, e.g. "CC-2026-000123"."""
        if not 1000 <= year <= 9999 or not 1 <= sequence <= 999_999:
            raise ValueError(f"no signatory number for year {year}, sequence {sequence}")
        return f"{self.signatory_prefix}-{year:04d}-{sequence:06d}"

    def current_code(self) -> CodeText:
        """The newest version of the Code text, the one signed from now on."""
        return max(self.code_versions, key=lambda v: v.published_on)


def current_scheme() -> Scheme:
    """The scheme in force: Peru's."""
    from app.jurisdiction.peru import PERU  # here, because peru imports this module

    return PERU
