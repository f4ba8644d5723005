"""The report form as data: which sections an establishment answers, what each figure accepts, and
what must be true before a report can be filed. One version of the form is a JSON document
(app/jurisdiction/<country>/report_forms.json); a period keeps the version its reports use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.i18n import _, localized
from app.jurisdiction import current_scheme

STATUSES = ("done", "partly", "not_done")
_DIGIT_RUN = re.compile(r"\d{8,}")


@dataclass(frozen=True)
class Figure:
    key: str
    type: str  # boolean, integer, decimal, date, text, rows
    label: dict[str, str]
    hint: dict[str, str] | None = None
    required: bool = False
    required_when: str | None = None  # required when that boolean figure is "yes"
    max: float | None = None
    group: str | None = None
    columns: tuple[Figure, ...] = ()
    max_rows: int = 0

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Figure:
        return cls(
            key=data["key"],
            type=data["type"],
            label=data["label"],
            hint=data.get("hint"),
            required=data.get("required", False),
            required_when=data.get("required_when"),
            max=data.get("max"),
            group=data.get("group"),
            columns=tuple(Figure.from_data(c) for c in data.get("columns", ())),
            max_rows=data.get("max_rows", 0),
        )


@dataclass(frozen=True)
class Section:
    code: str
    figures: tuple[Figure, ...]
    rules: tuple[dict[str, Any], ...]

    @property
    def title(self) -> str:
        commitment = current_scheme().current_code().commitment(self.code)
        return localized(commitment.title) if commitment else self.code

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)


class ReportFormDefinition:
    """One stored version of the report form."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.content = content
        self.version = content["version"]
        self.narrative_max = int(content.get("narrative_max", 2000))
        self.sections = tuple(
            Section(
                code=s["code"],
                figures=tuple(Figure.from_data(f) for f in s["figures"]),
                rules=tuple(s.get("rules", ())),
            )
            for s in content["sections"]
        )

    def sections_for(self, category: str) -> list[Section]:
        """The sections an establishment of this category answers (its commitments)."""
        code = current_scheme().current_code()
        result = []
        for section in self.sections:
            commitment = code.commitment(section.code)
            if commitment is None or commitment.applies_to(category):
                result.append(section)
        return result

    def section(self, category: str, code: str) -> Section | None:
        return next((s for s in self.sections_for(category) if s.code == code), None)

    def empty_content(self, category: str) -> dict[str, Any]:
        """A report with every applicable section and every figure present, all empty."""
        return {
            "form_version": self.version,
            "sections": {
                s.code: {
                    "status": None,
                    "narrative": None,
                    "figures": {f.key: ([] if f.type == "rows" else None) for f in s.figures},
                }
                for s in self.sections_for(category)
            },
        }

    def prefill_from(self, category: str, previous: dict[str, Any]) -> dict[str, Any]:
        """Last year's answers as a starting point, kept only where this form asks the same thing."""
        content = self.empty_content(category)
        for code, section in content["sections"].items():
            old = previous.get("sections", {}).get(code)
            if not old:
                continue
            section["narrative"] = old.get("narrative")
            for key in section["figures"]:
                # Figures of the year (people trained, cases, sessions) start empty again;
                # what describes the establishment (policy, poster, totals) carries over.
                if key in _CARRY_OVER and key in old.get("figures", {}):
                    section["figures"][key] = old["figures"][key]
        return content

    # --- reading a posted section ---------------------------------------------------------------

    def parse_section(
        self, section: Section, posted: dict[str, str], year: int
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Turn a posted section form into stored values; returns (values, errors by field name).

        Only the format is checked here (a draft may be incomplete); `problems` says what is
        missing before filing.
        """
        errors: dict[str, str] = {}
        status = posted.get("status", "").strip()
        if status and status not in STATUSES:
            errors["status"] = _("Choose done, partly done or not done")
        narrative = posted.get("narrative", "").strip()
        narrative_problem = self._narrative_problem(narrative)
        if narrative_problem:
            errors["narrative"] = narrative_problem
        figures: dict[str, Any] = {}
        for figure in section.figures:
            if figure.type == "rows":
                figures[figure.key] = self._parse_rows(figure, posted, year, errors)
                continue
            name = f"fig-{figure.key}"
            try:
                figures[figure.key] = _parse_value(figure, posted.get(name, ""), year)
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            for field, message in self._rule_breaches(section, figures):
                errors.setdefault(f"fig-{field}", message)
        values = {"status": status or None, "narrative": narrative or None, "figures": figures}
        return values, errors

    def _narrative_problem(self, narrative: str) -> str | None:
        if len(narrative) > self.narrative_max:
            return _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=self.narrative_max,
                count=len(narrative),
            )
        if _DIGIT_RUN.search(narrative) or "\x00" in narrative:
            return _(
                "Remove long numbers from the description: never write identity numbers, phones "
                "or anything that could identify a child or adolescent"
            )
        return None

    def _parse_rows(
        self, figure: Figure, posted: dict[str, str], year: int, errors: dict[str, str]
    ) -> list[dict[str, Any]]:
        rows = []
        for index in range(figure.max_rows):
            raw = {
                c.key: posted.get(f"fig-{figure.key}-{index}-{c.key}", "").strip()
                for c in figure.columns
            }
            if not any(raw.values()):
                continue
            row: dict[str, Any] = {}
            for column in figure.columns:
                name = f"fig-{figure.key}-{index}-{column.key}"
                if column.required and not raw[column.key]:
                    errors[name] = _(
                        "Enter the %(what)s of this row, or leave the whole row empty",
                        what=localized(column.label).lower(),
                    )
                    continue
                try:
                    row[column.key] = _parse_value(column, raw[column.key], year)
                except ValueError as exc:
                    errors[name] = str(exc)
            rows.append(row)
        return rows

    def _rule_breaches(self, section: Section, figures: dict[str, Any]) -> list[tuple[str, str]]:
        breaches = []
        for rule in section.rules:
            limit = figures.get(rule["than"])
            if limit is None:
                continue
            message = localized(rule["message"])
            if rule["kind"] == "lte":
                value = figures.get(rule["field"])
                if value is not None and value > limit:
                    breaches.append((rule["field"], message))
            elif rule["kind"] == "each_lte":
                for field in rule["fields"]:
                    value = figures.get(field)
                    if value is not None and value > limit:
                        breaches.append((field, message))
            elif rule["kind"] == "sum_lte":
                values = [figures.get(f) for f in rule["fields"]]
                if sum(v for v in values if v is not None) > limit:
                    breaches.append((rule["fields"][0], message))
        return breaches

    # --- what stops a report from being filed ---------------------------------------------------

    def problems(self, category: str, content: dict[str, Any]) -> dict[str, list[str]]:
        """Everything to fix before filing, by section code (empty when the report can be filed)."""
        found: dict[str, list[str]] = {}
        for section in self.sections_for(category):
            data = content.get("sections", {}).get(section.code) or {}
            figures = data.get("figures") or {}
            messages = []
            if data.get("status") not in STATUSES:
                messages.append(_("Say whether this commitment was done, partly done or not done"))
            if not data.get("narrative"):
                messages.append(_("Describe briefly what was done"))
            for figure in section.figures:
                needed = figure.required or (
                    figure.required_when is not None and figures.get(figure.required_when) is True
                )
                empty = figures.get(figure.key) in (None, "", [])
                if needed and empty:
                    messages.append(_("Answer: %(question)s", question=localized(figure.label)))
            messages.extend(message for _field, message in self._rule_breaches(section, figures))
            if messages:
                found[section.code] = messages
        return found


# Figures that describe the establishment rather than the year, carried into next year's draft.
_CARRY_OVER = {
    "adopted",
    "adopted_on",
    "published_where",
    "staff_total",
    "contracts_total",
    "contracts_with_clause",
    "poster_displayed",
    "poster_locations",
    "on_website",
    "procedure_in_place",
}


def _parse_value(figure: Figure, raw: str, year: int) -> Any:
    raw = raw.strip()
    label = localized(figure.label)
    if raw == "":
        return None
    if len(raw) > 1000:
        raise ValueError(
            _(
                "Enter at most %(limit)s characters (you entered %(count)s)",
                limit=1000,
                count=len(raw),
            )
        )
    if figure.type == "boolean":
        if raw not in ("yes", "no"):
            raise ValueError(_("Choose yes or no"))
        return raw == "yes"
    if figure.type == "integer":
        if not raw.isascii() or not raw.isdigit():
            raise ValueError(_("Enter a whole number, 0 or more, for: %(label)s", label=label))
        value = int(raw)
        if figure.max is not None and value > figure.max:
            raise ValueError(
                _(
                    "Enter a number no greater than %(max)s for: %(label)s",
                    max=int(figure.max),
                    label=label,
                )
            )
        return value
    if figure.type == "decimal":
        try:
            value = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or value < 0 or value.as_tuple().exponent < -1:  # type: ignore[operator]
            raise ValueError(_("Enter a number of hours, like 2 or 1.5"))
        if figure.max is not None and value > Decimal(str(figure.max)):
            raise ValueError(
                _(
                    "Enter a number no greater than %(max)s for: %(label)s",
                    max=int(figure.max),
                    label=label,
                )
            )
        return float(value)
    if figure.type == "date":
        try:
            value = _parse_date(raw)
        except ValueError:
            raise ValueError(_("Enter a real date, like 15/03/%(year)s", year=year)) from None
        if not date(1990, 1, 1) <= value <= date(year + 1, 12, 31):
            raise ValueError(_("Enter a date between 1990 and %(year)s", year=year + 1))
        return value.isoformat()
    if figure.type == "text":
        limit = int(figure.max or 300)
        if len(raw) > limit:
            raise ValueError(
                _(
                    "Enter at most %(limit)s characters (you entered %(count)s)",
                    limit=limit,
                    count=len(raw),
                )
            )
        if any(ord(c) < 32 for c in raw):
            raise ValueError(_("Remove line breaks and special characters from this field"))
        return raw
    raise ValueError(f"unknown figure type {figure.type}")


def _parse_date(raw: str) -> date:
    """ISO dates (from a date input) or dd/mm/yyyy, as people in Peru write them."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return date.fromisoformat(raw)
    match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", raw)
    if not match:
        raise ValueError(raw)
    day, month, year = (int(g) for g in match.groups())
    return date(year, month, day)
