"""Reading the ministry's spreadsheets of signatories: CSV or XLSX, Spanish or English column
names, UTF-8 or Latin-1, `;` or `,`; and checking each row on its own.

Files are streamed row by row (csv over a text wrapper, openpyxl in read-only mode): memory does
not grow with the file.
"""

from __future__ import annotations

import codecs
import csv
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.clock import today
from app.establishments.forms import EstablishmentForm
from app.i18n import _, lazy_gettext
from app.jurisdiction import current_scheme

#: The first rows looked at for the row of column names (sheets often start with a title).
HEADER_SEARCH_ROWS = 10
#: Signature dates before this are typing mistakes, not signatures of the Code.
EARLIEST_SIGNATURE = date(2000, 1, 1)
_SIGNATORY_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9\-/]{0,19}")
_EXCEL_EPOCH = date(1899, 12, 30)
# One address: something@domain.tld, no spaces, one @ (the full rules would cost more than the
# whole row: a wrong address shows up when the claim link does not arrive).
_EMAIL = re.compile(r"[^@\s,;<>()]+@[^@\s,;<>()]+\.[A-Za-z]{2,}")


class ImportFileError(Exception):
    """The file as a whole cannot be read; str(exc) says why and what to do."""


def _key(text: object) -> str:
    """A column name or a value compared without accents, case, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", str(text or ""))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]", "", plain)


# --- columns ---------------------------------------------------------------------------------------

#: What each column holds, with the names it goes by in the ministry's files (compared by _key).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "ruc": ("ruc", "numeroruc", "nruc", "nroruc", "numerodruc", "numeroderuc", "rucnumber"),
    "branch_code": (
        "branchcode",
        "branch",
        "sucursal",
        "codigosucursal",
        "codigodesucursal",
        "codsucursal",
        "codigoestablecimiento",
        "codigodeestablecimiento",
        "codestablecimiento",
        "codigoanexo",
        "anexo",
        "establecimientoanexo",
        "codigosunat",
    ),
    "legal_name": ("legalname", "razonsocial", "nombrerazonsocial", "denominacion", "companyname"),
    "trade_name": ("tradename", "nombrecomercial", "nombredelestablecimiento", "establecimiento"),
    "category": (
        "category",
        "categoria",
        "tipo",
        "tipodeestablecimiento",
        "tipoestablecimiento",
        "clase",
        "rubro",
        "actividad",
        "prestador",
        "tipodeprestador",
    ),
    "region": ("region", "departamento", "department", "regioncode", "coddepartamento"),
    "province": ("province", "provincia"),
    "district": ("district", "distrito"),
    "address": (
        "address",
        "direccion",
        "domicilio",
        "domiciliofiscal",
        "direcciondelestablecimiento",
    ),
    "signed_on": (
        "signedon",
        "signaturedate",
        "datesigned",
        "signingdate",
        "fechadefirma",
        "fechafirma",
        "fechadesuscripcion",
        "fechasuscripcion",
        "fechadeadhesion",
        "fechaadhesion",
        "fecha",
    ),
    "signatory_number": (
        "signatorynumber",
        "signatoryno",
        "numerodesignatario",
        "numerosignatario",
        "nrodesignatario",
        "nrosignatario",
        "ndesignatario",
        "nsignatario",
        "nodesignatario",
        "nosignatario",
        "codigodesignatario",
        "codigosignatario",
        "numerodeadhesion",
        "nrodeadhesion",
    ),
    "contact_email": (
        "contactemail",
        "email",
        "emailaddress",
        "mail",
        "correo",
        "correoelectronico",
        "correodecontacto",
        "emaildecontacto",
    ),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
REQUIRED_COLUMNS = (
    "ruc",
    "legal_name",
    "trade_name",
    "category",
    "region",
    "province",
    "district",
    "address",
    "signed_on",
)
#: How a column is named in messages when the file does not have it.
COLUMN_LABELS = {
    "ruc": lazy_gettext("RUC"),
    "branch_code": lazy_gettext("Branch code"),
    "legal_name": lazy_gettext("Legal name"),
    "trade_name": lazy_gettext("Trade name"),
    "category": lazy_gettext("Category"),
    "region": lazy_gettext("Region"),
    "province": lazy_gettext("Province"),
    "district": lazy_gettext("District"),
    "address": lazy_gettext("Address"),
    "signed_on": lazy_gettext("Signature date"),
    "signatory_number": lazy_gettext("Signatory number"),
    "contact_email": lazy_gettext("Contact e-mail"),
}


def column_map(headers: list[Any]) -> dict[str, int]:
    """Which column of the file holds each field (the first one that names it)."""
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = _ALIAS_TO_FIELD.get(_key(header))
        if name and name not in found:
            found[name] = index
    return found


# --- values: regions and categories by code or by name ---------------------------------------------

_REGION_ALIASES = {
    "callao": "PE-CAL",
    "provinciaconstitucionaldelcallao": "PE-CAL",
    "limaprovincias": "PE-LIM",
    "limaregion": "PE-LIM",
    "regionlima": "PE-LIM",
    "limametropolitana": "PE-LMA",
    "limametro": "PE-LMA",
}
_CATEGORY_ALIASES = {
    "hospedaje": "lodging",
    "establecimientodehospedaje": "lodging",
    "hotel": "lodging",
    "hostal": "lodging",
    "alojamiento": "lodging",
    "lodging": "lodging",
    "agenciadeviajes": "travel_agency",
    "agenciadeviaje": "travel_agency",
    "agencia": "travel_agency",
    "travelagency": "travel_agency",
    "operadordeturismo": "travel_agency",
    "turismodeaventura": "adventure_operator",
    "aventura": "adventure_operator",
    "adventure": "adventure_operator",
    "guia": "tour_guide",
    "guiadeturismo": "tour_guide",
    "guiaoficialdeturismo": "tour_guide",
    "restaurante": "restaurant",
    "transporte": "tourist_transport",
    "transporteturistico": "tourist_transport",
    "transportetur": "tourist_transport",
    "eventos": "events_organizer",
    "organizadordeeventos": "events_organizer",
    "otros": "other",
}


def _lookup_tables() -> tuple[dict[str, str], dict[str, str]]:
    scheme = current_scheme()
    regions = dict(_REGION_ALIASES)
    for region in scheme.regions:
        regions[_key(region.code)] = region.code
        regions[_key(region.code.split("-", 1)[-1])] = region.code
        regions[_key(region.name)] = region.code
    categories = dict(_CATEGORY_ALIASES)
    for category in scheme.categories:
        categories[_key(category.code)] = category.code
        for name in category.name.values():
            categories[_key(name)] = category.code
    return regions, categories


def region_code(value: str) -> str | None:
    return _lookup_tables()[0].get(_key(value))


def category_code(value: str) -> str | None:
    return _lookup_tables()[1].get(_key(value))


# --- cells -----------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as the text a person sees; whole numbers without ".0" (Excel keeps RUCs as numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


_DATE_PATTERNS = (
    (re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T][0-9:.]+)?"), ("y", "m", "d")),
    (re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})"), ("y", "m", "d")),
    (re.compile(r"([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})(?: [0-9:.]+)?"), ("d", "m", "y")),
)


def parse_date(value: Any) -> date | None:
    """A signature date: an Excel date, an Excel serial number, YYYY-MM-DD or DD/MM/YYYY."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _serial(float(value))
    text = cell_text(value)
    if re.fullmatch(r"[0-9]{5}(\.[0-9]+)?", text):
        return _serial(float(text))
    for pattern, order in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                return None
    return None


def _serial(number: float) -> date | None:
    # Excel's day numbers (1900 date system): 36526 is 2000-01-01, 73051 is 2100-01-01.
    if 20000 <= number <= 80000:
        return _EXCEL_EPOCH + timedelta(days=int(number))
    return None


# --- rows ------------------------------------------------------------------------------------------


@dataclass
class CheckedRow:
    """One row of the file: its number (as the spreadsheet counts, the column names being row 1 or
    below), the values as the file has them, and either clean values or the problems found."""

    number: int
    cells: list[Any]
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, message)

    @property
    def key(self) -> tuple[str, str]:
        return self.values["ruc"], self.values["branch_code"]


class RowChecker:
    """Checks rows against the rules an operator's form applies, plus the import's own."""

    def __init__(self, headers: list[str], columns: dict[str, int]) -> None:
        self.headers = headers
        self.columns = columns
        self.regions, self.categories = _lookup_tables()
        self.today = today()

    def label(self, name: str) -> str:
        index = self.columns.get(name)
        if index is not None and index < len(self.headers) and self.headers[index]:
            return self.headers[index]
        return str(COLUMN_LABELS[name])

    def _cell(self, cells: list[Any], name: str) -> Any:
        index = self.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def check(self, number: int, cells: list[Any]) -> CheckedRow:
        row = CheckedRow(number=number, cells=cells)
        text = {name: cell_text(self._cell(cells, name)) for name in COLUMN_LABELS}
        for name, value in text.items():
            if "\x00" in value:
                row.errors.append(
                    (self.label(name), _("Remove the special characters from this field"))
                )
                text[name] = ""
        branch = text["branch_code"] or current_scheme().fiscal_branch_code
        if branch.isdigit() and len(branch) < 4:
            branch = branch.zfill(4)  # a spreadsheet drops leading zeros: 1 is branch 0001
        region = self.regions.get(_key(text["region"]))
        category = self.categories.get(_key(text["category"]))
        form_data = {
            "ruc": text["ruc"],
            "branch_code": branch,
            "legal_name": text["legal_name"],
            "trade_name": text["trade_name"],
            "category": category or "",
            "region": region or "",
            "province": text["province"],
            "district": text["district"],
            "address": text["address"],
        }
        try:
            form = EstablishmentForm.model_validate(form_data)
        except ValidationError as exc:
            form = None
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else "ruc"
                if name in ("region", "category"):
                    continue  # said below, with the value found
                message = (
                    str(error["ctx"]["error"])
                    if error["type"] == "value_error"
                    else _("Check this value")
                )
                row.errors.append((self.label(name), message))
        if region is None:
            row.errors.append(
                (
                    self.label("region"),
                    _(
                        "Unknown region “%(value)s”: write a region of Peru, like Cusco, "
                        "Madre de Dios or Lima Metropolitana, or its code, like PE-CUS",
                        value=text["region"][:60],
                    )
                    if text["region"]
                    else _("Enter the region"),
                )
            )
        if category is None:
            row.errors.append(
                (
                    self.label("category"),
                    _(
                        "Unknown category “%(value)s”: write one of the portal's categories, "
                        "like Hospedaje, Agencia de viajes y turismo or Restaurante",
                        value=text["category"][:60],
                    )
                    if text["category"]
                    else _("Enter the category"),
                )
            )
        signed_on = self._signed_on(row, self._cell(cells, "signed_on"), text["signed_on"])
        number_text = text["signatory_number"].upper().replace(" ", "")
        if number_text and not _SIGNATORY_NUMBER.fullmatch(number_text):
            row.errors.append(
                (
                    self.label("signatory_number"),
                    _(
                        "Check the signatory number: at most 20 letters, digits and dashes, "
                        "like CC-2019-000123, or leave it blank to have one assigned"
                    ),
                )
            )
        email = self._email(row, text["contact_email"])
        if form is not None and not row.errors:
            row.values = {
                **form.model_dump(exclude={"website", "phone"}),
                "signed_on": signed_on,
                "signatory_number": number_text or None,
                "contact_email": email,
            }
        return row

    def _signed_on(self, row: CheckedRow, raw: Any, text: str) -> date | None:
        label = self.label("signed_on")
        if not text:
            row.errors.append((label, _("Enter the date the Code was signed")))
            return None
        signed_on = parse_date(raw)
        if signed_on is None:
            row.errors.append(
                (
                    label,
                    _(
                        "“%(value)s” is not a date: write the signature date as DD/MM/YYYY, "
                        "like 15/03/2019, or YYYY-MM-DD",
                        value=text[:40],
                    ),
                )
            )
            return None
        if signed_on > self.today:
            row.errors.append((label, _("The signature date is in the future: check it")))
            return None
        if signed_on < EARLIEST_SIGNATURE:
            row.errors.append((label, _("The signature date is before 2000: check it")))
            return None
        return signed_on

    def _email(self, row: CheckedRow, text: str) -> str | None:
        if not text:
            return None
        if len(text) > 254 or not _EMAIL.fullmatch(text):
            row.errors.append(
                (
                    self.label("contact_email"),
                    _("Enter one e-mail address, like reservas@hostal.pe, or leave it blank"),
                )
            )
            return None
        return text.lower()


# --- files -----------------------------------------------------------------------------------------


@dataclass
class Sheet:
    """An open file: its column names, where each field is, and its rows (read as you go)."""

    headers: list[str]
    columns: dict[str, int]
    header_row: int
    rows: Iterator[tuple[int, list[Any]]]

    def checker(self) -> RowChecker:
        return RowChecker(self.headers, self.columns)


def file_kind(path: Path) -> str:
    with path.open("rb") as source:
        head = source.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            _(
                "This is an old Excel file (.xls). Open it in Excel or LibreOffice and save it as "
                ".xlsx or as CSV, then upload it again."
            )
        )
    if not head:
        raise ImportFileError(_("The file is empty."))
    if b"\x00" in head:
        raise ImportFileError(
            _("The file is not a spreadsheet the portal can read: upload a CSV or XLSX file.")
        )
    return "csv"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as source:
            while chunk := source.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def text_encoding(path: Path) -> str:
    """UTF-8 (with or without a byte order mark) if the file is valid UTF-8, else Windows Latin-1."""
    if _decodes(path, "utf-8"):
        return "utf-8-sig"
    return "cp1252" if _decodes(path, "cp1252") else "latin-1"


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _find_header(rows: Iterator[tuple[int, list[Any]]]) -> tuple[int, list[str], dict[str, int]]:
    best: tuple[int, list[str], dict[str, int]] | None = None
    for number, cells in rows:
        headers = [cell_text(c) for c in cells]
        columns = column_map(headers)
        if best is None or len(columns) > len(best[2]):
            best = (number, headers, columns)
        if len(columns) >= 3 or number >= HEADER_SEARCH_ROWS:
            break
    if best is None:
        raise ImportFileError(_("The file is empty."))
    missing = [str(COLUMN_LABELS[c]) for c in REQUIRED_COLUMNS if c not in best[2]]
    if missing:
        raise ImportFileError(
            _(
                "The file has no column for: %(columns)s. The first row must name the columns, "
                "like RUC, Razón social, Nombre comercial, Categoría, Departamento, Provincia, "
                "Distrito, Dirección, Fecha de firma.",
                columns=", ".join(missing),
            )
        )
    return best


@contextmanager
def open_sheet(path: Path) -> Iterator[Sheet]:
    """Open a CSV or XLSX file of signatories; raises ImportFileError if it cannot be read."""
    kind = file_kind(path)
    if kind == "xlsx":
        with _open_xlsx(path) as rows:
            yield _sheet(rows)
        return
    encoding = text_encoding(path)
    with path.open(encoding=encoding, newline="") as text:
        first = text.readline()
        text.seek(0)
        reader = csv.reader(text, delimiter=_delimiter(first))
        try:
            yield _sheet(enumerate(reader, start=1))
        except csv.Error as exc:
            raise ImportFileError(
                _(
                    "The CSV file is damaged near row %(row)s: %(problem)s",
                    row=reader.line_num,
                    problem=str(exc),
                )
            ) from None


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _xml(source: Any) -> Any:
    from lxml import etree

    # Untrusted XML: no entities, no network, no huge trees.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.parse(source, parser)


def _first_sheet(archive: Any) -> str:
    """The path of the workbook's first sheet, as the workbook lists them."""
    workbook = _xml(archive.open("xl/workbook.xml"))
    sheet = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
    rels = _xml(archive.open("xl/_rels/workbook.xml.rels"))
    for rel in rels.iter(f"{_PACKAGE_REL}Relationship"):
        if sheet is not None and rel.get("Id") == sheet.get(f"{_REL}id"):
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return "xl/worksheets/sheet1.xml"


def _shared_strings(archive: Any) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    table = _xml(archive.open("xl/sharedStrings.xml"))
    return ["".join(si.itertext(f"{_MAIN}t")) for si in table.iter(f"{_MAIN}si")]


def _column(reference: str | None, default: int) -> int:
    if not reference:
        return default
    index = 0
    for char in reference:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - 64
    return index - 1


def _number(text: str) -> float | int | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


# An XLSX file is a ZIP archive of XML files; a hostile one (a "zip bomb") announces or holds
# far more than any list of signatories needs. The limits are checked on what the archive
# declares before anything is inflated; Python's zipfile never inflates an entry past its
# declared size (and fails its checksum if the data says otherwise).
#: Entries in the archive (a workbook has about a dozen).
MAX_XLSX_ENTRIES = 1_000
#: What all the entries inflate to, together.
MAX_XLSX_INFLATED = 1_000_000_000
#: What the XML files read whole (the workbook, its relationships, shared strings) inflate to.
MAX_XLSX_WHOLE_PART = 200_000_000
#: How many times larger than its compressed size an entry may be (XML compresses 10 to 30 times).
MAX_XLSX_RATIO = 200
_ARCHIVE_NAMES = re.compile(r"\.(zip|xlsx|xlsm|docx|pptx|jar|gz|bz2|xz|7z|rar|tar)$", re.IGNORECASE)


def _zip_bomb() -> ImportFileError:
    return ImportFileError(
        _(
            "The XLSX file holds far more data than a list of signatories needs, or other "
            "archives inside it, and was not opened. Save the sheet again from Excel or "
            "LibreOffice (or as CSV) and upload it again."
        )
    )


def _check_archive_directory(path: Path) -> None:
    """Count the entries from the archive's last record before Python lists them (a million
    tiny entries would fill the memory just being listed)."""
    with path.open("rb") as source:
        source.seek(0, 2)
        size = source.tell()
        source.seek(max(0, size - 65_557))
        tail = source.read()
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        return  # not a ZIP archive: ZipFile says so
    entries, directory_size = struct.unpack("<HI", tail[end + 10 : end + 16])
    if b"PK\x06\x07" in tail or entries > MAX_XLSX_ENTRIES or directory_size > 4_000_000:
        raise _zip_bomb()


def _check_archive(archive: Any) -> None:
    entries = archive.infolist()
    if len(entries) > MAX_XLSX_ENTRIES:
        raise _zip_bomb()
    if sum(e.file_size for e in entries) > MAX_XLSX_INFLATED:
        raise _zip_bomb()
    for entry in entries:
        if entry.file_size > MAX_XLSX_RATIO * entry.compress_size + 1_000_000:
            raise _zip_bomb()
        if _ARCHIVE_NAMES.search(entry.filename):
            raise _zip_bomb()
        if (
            entry.filename.endswith((".xml", ".rels"))
            and not entry.filename.startswith("xl/worksheets/")
            and entry.file_size > MAX_XLSX_WHOLE_PART
        ):
            raise _zip_bomb()


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Iterator[tuple[int, list[Any]]]]:
    """The first sheet's rows, read straight from the XML as it streams (openpyxl's reader takes
    several seconds for 10,000 rows). Dates arrive as Excel's day numbers; parse_date reads them."""
    from zipfile import BadZipFile, ZipFile

    from lxml import etree

    _check_archive_directory(path)
    try:
        archive = ZipFile(path)
        _check_archive(archive)
        sheet_path = _first_sheet(archive)
        strings = _shared_strings(archive)
        stream = archive.open(sheet_path)
    except (BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error, etree.LxmlError):
        raise ImportFileError(
            _("The XLSX file cannot be opened. Save it again from Excel or LibreOffice.")
        ) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        events = etree.iterparse(
            stream,
            events=("end",),
            tag=f"{_MAIN}row",
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
        )
        expected = 0
        try:
            for _event, row in events:
                expected = int(row.get("r") or expected + 1)
                cells: list[Any] = []
                for cell in row.iterchildren(f"{_MAIN}c"):
                    index = _column(cell.get("r"), len(cells))
                    kind = cell.get("t")
                    if kind == "inlineStr":
                        value: Any = cell.findtext(f"{_MAIN}is/{_MAIN}t")
                    else:
                        raw = cell.findtext(f"{_MAIN}v")
                        if raw is None:
                            value = None
                        elif kind == "s":
                            value = strings[int(raw)]
                        elif kind in ("str", "e"):
                            value = raw
                        elif kind == "b":
                            value = raw == "1"
                        else:
                            value = _number(raw)
                    if index >= len(cells):
                        cells.extend([None] * (index - len(cells) + 1))
                    cells[index] = value
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
                yield expected, cells
        except (etree.LxmlError, IndexError, ValueError, BadZipFile, EOFError, zlib.error):
            raise ImportFileError(
                _("The XLSX file cannot be opened. Save it again from Excel or LibreOffice.")
            ) from None

    try:
        yield rows()
    finally:
        stream.close()
        archive.close()


def _sheet(rows: Iterator[tuple[int, list[Any]]]) -> Sheet:
    rows = iter(rows)
    header_row, headers, columns = _find_header(rows)
    data = (
        (number, cells)
        for number, cells in rows
        if any(cell_text(c) for c in cells)  # blank lines are skipped, not errors
    )
    return Sheet(headers=headers, columns=columns, header_row=header_row, rows=data)
