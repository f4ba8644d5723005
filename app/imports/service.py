"""Bringing in the signatories of the ministry's spreadsheets: a preview that writes nothing, then
an import that writes every valid row in one transaction, or nothing.

Both read the file as they go, a chunk of rows at a time, and keep only counts, the first rows of
each kind, and the errors: memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.audit import service as audit
from app.auth.models import User
from app.clock import LIMA, lima_date
from app.conduct import service as conduct
from app.conduct.models import CodeVersion, Signature
from app.db import utcnow
from app.errors import DomainError
from app.establishments.models import Establishment, RegisterTerm
from app.establishments.names import fold, terms_of
from app.i18n import _
from app.imports.models import ImportBatch
from app.imports.parsing import CheckedRow, ImportFileError, Sheet, open_sheet
from app.jurisdiction import current_scheme
from app.storage import clean_filename

CHUNK = 500
#: How many rows of each kind the preview shows (the counts cover them all).
SAMPLE = 50
MAX_UPLOAD_BYTES = 50_000_000
UPLOAD_LIFETIME_SECONDS = 24 * 3600
#: The establishment's fields an import sets, in the order the preview lists changes.
FIELDS = (
    "legal_name",
    "trade_name",
    "category",
    "region",
    "province",
    "district",
    "address",
    "contact_email",
)


# --- the uploaded file, kept between the preview and the import -------------------------------------


@dataclass
class Upload:
    key: str
    path: Path
    filename: str
    sha256: str
    size: int


def _uploads_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "imports"


def _sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def save_upload(
    *, var_dir: Path, source: BinaryIO, filename: str, user_id: int, sid: str
) -> Upload:
    """Keep an uploaded file under a random key, for this person in this browser session only."""
    folder = _uploads_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _forget_old_uploads(folder)
    key = secrets.token_hex(16)
    path = folder / key
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as target:
        while chunk := source.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                target.close()
                path.unlink(missing_ok=True)
                raise DomainError(
                    _(
                        "The file is larger than %(mb)s MB: split it in parts and import each one.",
                        mb=MAX_UPLOAD_BYTES // 1_000_000,
                    ),
                    "file",
                )
            digest.update(chunk)
            target.write(chunk)
    name = clean_filename(filename, "", accepted=(".csv", ".txt", ".xlsx"), fallback="import")
    meta = {
        "user_id": user_id,
        "sid": _sid_digest(sid),
        "filename": name,
        "sha256": digest.hexdigest(),
        "size": size,
    }
    (folder / f"{key}.json").write_text(json.dumps(meta))
    return Upload(key=key, path=path, filename=name, sha256=digest.hexdigest(), size=size)


def get_upload(*, var_dir: Path, key: str, user_id: int, sid: str) -> Upload | None:
    """The file uploaded under `key` by this person in this session; None for anyone else."""
    if not re.fullmatch(r"[0-9a-f]{32}", key):
        return None
    folder = _uploads_dir(var_dir)
    try:
        meta = json.loads((folder / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != user_id or not secrets.compare_digest(
        str(meta.get("sid")), _sid_digest(sid)
    ):
        return None
    path = folder / key
    if not path.exists():
        return None
    return Upload(
        key=key, path=path, filename=meta["filename"], sha256=meta["sha256"], size=meta["size"]
    )


def discard_upload(upload: Upload) -> None:
    upload.path.unlink(missing_ok=True)
    upload.path.with_name(f"{upload.key}.json").unlink(missing_ok=True)


def _forget_old_uploads(folder: Path) -> None:
    limit = time.time() - UPLOAD_LIFETIME_SECONDS
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# --- classifying rows ------------------------------------------------------------------------------


@dataclass
class Change:
    field: str
    before: str
    after: str


@dataclass
class Row:
    """A checked row and what importing it would do: create, update, leave unchanged, or nothing
    (it has errors)."""

    checked: CheckedRow
    kind: str = "error"  # create | update | unchanged | error
    establishment_id: int | None = None
    signature: Signature | None = None
    changes: list[Change] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.checked.number


@dataclass
class RowError:
    row: int
    column: str
    message: str


@dataclass
class Preview:
    """What an import of the file would do. Nothing is written to compute it."""

    filename: str
    sha256: str
    total: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {"create": 0, "update": 0, "unchanged": 0, "error": 0}
    )
    samples: dict[str, list[Row]] = field(
        default_factory=lambda: {"create": [], "update": [], "unchanged": []}
    )
    errors: list[RowError] = field(default_factory=list)
    #: Row numbers with errors (skipped by the import), and the highest number given in the file
    #: for each year, so that numbers handed out afterwards never collide with them.
    error_rows: set[int] = field(default_factory=set)
    highest_number: dict[int, int] = field(default_factory=dict)
    already_applied: ImportBatch | None = None

    @property
    def to_write(self) -> int:
        return self.counts["create"] + self.counts["update"]

    def errors_by_row(self) -> dict[int, list[RowError]]:
        grouped: dict[int, list[RowError]] = defaultdict(list)
        for error in self.errors:
            grouped[error.row].append(error)
        return grouped


def _number_parts(number: str) -> tuple[int, int] | None:
    """(year, sequence) of a number in the portal's own format, like CC-2019-000123."""
    prefix = re.escape(current_scheme().signatory_prefix)
    match = re.fullmatch(prefix + r"-([0-9]{4})-([0-9]{6})", number)
    return (int(match.group(1)), int(match.group(2))) if match else None


class _Classifier:
    """Decides, a chunk at a time, what each row would do to the register."""

    def __init__(self, db_session: Session, sheet: Sheet, preview: Preview) -> None:
        self.db = db_session
        self.sheet = sheet
        self.checker = sheet.checker()
        self.preview = preview
        # Compact memory of the whole file, to find duplicates inside it: key -> first row.
        self.seen_keys: dict[tuple[str, str], int] = {}
        self.seen_numbers: dict[str, int] = {}
        self.kind_of: dict[int, str] = {}

    def chunks(self, progress: Callable[[int], None] | None = None) -> Iterator[list[Row]]:
        batch: list[CheckedRow] = []
        for number, cells in self.sheet.rows:
            batch.append(self.checker.check(number, cells))
            if len(batch) >= CHUNK:
                yield self._classify(batch)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            yield self._classify(batch)
            if progress:
                progress(len(batch))

    def _classify(self, checked: list[CheckedRow]) -> list[Row]:
        rows = [Row(checked=c) for c in checked]
        valid = [r for r in rows if not r.checked.errors]
        existing = self._existing([r.checked.key for r in valid])
        numbers = [r.checked.values["signatory_number"] for r in valid]
        taken = self._numbers_taken([n for n in numbers if n])
        for row in valid:
            values = row.checked.values
            found = existing.get(row.checked.key)
            if found is not None:
                establishment, signature = found
                row.establishment_id, row.signature = establishment.id, signature
            number = values["signatory_number"]
            owner = taken.get(number) if number else None
            if owner is not None and owner != row.establishment_id:
                self._error(
                    row,
                    "signatory_number",
                    _(
                        "The signatory number %(number)s already belongs to another establishment",
                        number=number,
                    ),
                )
                continue
            if found is None:
                row.kind = "create"
            else:
                row.changes = _changes(found[0], found[1], values)
                row.kind = "update" if row.changes else "unchanged"
        in_chunk = {r.number: r for r in rows}
        for row in rows:
            self._duplicates(row, in_chunk)
        return rows

    def _duplicates(self, row: Row, in_chunk: dict[int, Row]) -> None:
        if row.checked.errors:
            return
        key = row.checked.key
        number = row.checked.values["signatory_number"]
        first = self.seen_keys.get(key)
        if first is not None:
            message = _("Duplicate: row %(row)s has the same RUC and branch code", row=first)
            self._error(row, "ruc", message)
            self._also_error(
                first,
                "ruc",
                _("Duplicate: row %(row)s has the same RUC and branch code", row=row.number),
                in_chunk,
            )
            return
        if number and number in self.seen_numbers:
            first = self.seen_numbers[number]
            self._error(
                row,
                "signatory_number",
                _("Duplicate: row %(row)s has the same signatory number", row=first),
            )
            self._also_error(
                first,
                "signatory_number",
                _("Duplicate: row %(row)s has the same signatory number", row=row.number),
                in_chunk,
            )
            return
        self.seen_keys[key] = row.number
        if number:
            self.seen_numbers[number] = row.number
        self.kind_of[row.number] = row.kind

    def _error(self, row: Row, column: str, message: str) -> None:
        row.checked.errors.append((self.checker.label(column), message))
        row.kind = "error"

    def _also_error(self, number: int, column: str, message: str, in_chunk: dict[int, Row]) -> None:
        """An earlier row turns out to be a duplicate: it is an error too, and its count moves."""
        if number in in_chunk:
            self._error(in_chunk[number], column, message)  # not counted yet
            self.kind_of[number] = "error"
            return
        preview = self.preview
        kind = self.kind_of.pop(number, None)
        if kind is not None and kind != "error":
            preview.counts[kind] -= 1
            preview.counts["error"] += 1
            preview.samples[kind] = [r for r in preview.samples[kind] if r.number != number]
            self.kind_of[number] = "error"
        preview.error_rows.add(number)
        preview.errors.append(RowError(number, self.checker.label(column), message))

    def _existing(
        self, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[Establishment, Signature | None]]:
        if not keys:
            return {}
        # By RUC (indexed), then by branch here: a row-value IN list is not planned well by
        # PostgreSQL, and a company has few branches.
        wanted = set(keys)
        establishments = [
            e
            for e in self.db.scalars(
                select(Establishment).where(
                    Establishment.ruc.in_({ruc for ruc, _branch in keys})  # type: ignore[attr-defined]
                )
            )
            if (e.ruc, e.branch_code) in wanted
        ]
        from app.establishments.standing import latest_signatures

        latest = latest_signatures(self.db, [e.id for e in establishments])  # type: ignore[misc]
        return {(e.ruc, e.branch_code): (e, latest.get(e.id)) for e in establishments}  # type: ignore[arg-type]

    def _numbers_taken(self, numbers: list[str]) -> dict[str, int]:
        if not numbers:
            return {}
        return dict(
            self.db.execute(
                select(Signature.signatory_number, Signature.establishment_id).where(
                    Signature.signatory_number.in_(numbers)  # type: ignore[attr-defined]
                )
            ).all()
        )


def _changes(
    establishment: Establishment, signature: Signature | None, values: dict[str, Any]
) -> list[Change]:
    """What importing the row would change in the register (blank optional cells change nothing)."""
    changes = []
    for name in FIELDS:
        new = values[name]
        old = getattr(establishment, name)
        if name == "contact_email" and not new:
            continue
        if (old or "") != (new or ""):
            changes.append(Change(name, old or "", new or ""))
    if signature is None:
        changes.append(Change("signed_on", "", values["signed_on"].isoformat()))
    elif signature.origin == "import":
        # A signature made on the portal is the operator's own act: an import never changes it.
        old_date = lima_date(signature.signed_at)
        if old_date != values["signed_on"]:
            changes.append(
                Change("signed_on", old_date.isoformat(), values["signed_on"].isoformat())
            )
        number = values["signatory_number"]
        if number and number != signature.signatory_number:
            changes.append(Change("signatory_number", signature.signatory_number, number))
    return changes


def _record(preview: Preview, rows: list[Row]) -> None:
    for row in rows:
        preview.total += 1
        if row.kind == "error":
            preview.counts["error"] += 1
            preview.error_rows.add(row.number)
            for column, message in row.checked.errors:
                preview.errors.append(RowError(row.number, column, message))
            continue
        preview.counts[row.kind] += 1
        if len(preview.samples[row.kind]) < SAMPLE:
            preview.samples[row.kind].append(row)
        number = row.checked.values["signatory_number"]
        parts = _number_parts(number) if number else None
        if parts:
            year, sequence = parts
            preview.highest_number[year] = max(preview.highest_number.get(year, 0), sequence)


def preview_file(
    *,
    db_session: Session,
    path: Path,
    filename: str,
    sha256: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Preview:
    """What importing the file would do, row by row. Writes nothing.

    Raises ImportFileError when the file as a whole cannot be read.
    """
    preview = Preview(filename=filename, sha256=sha256 or file_sha256(path))
    with open_sheet(path) as sheet:
        classifier = _Classifier(db_session, sheet, preview)
        for rows in classifier.chunks(progress):
            _record(preview, rows)
    for row_samples in preview.samples.values():
        for row in row_samples:
            row.signature = None  # the preview outlives the session: keep no ORM objects
    preview.errors.sort(key=lambda e: e.row)
    preview.already_applied = db_session.scalars(
        select(ImportBatch)
        .where(ImportBatch.sha256 == preview.sha256)
        .order_by(ImportBatch.id.desc())  # type: ignore[union-attr]
    ).first()
    return preview


# --- applying --------------------------------------------------------------------------------------


def _signed_at(day: date) -> datetime:
    """Imported signatures have a date, not a time: noon in Peru keeps the date in every zone used."""
    return datetime.combine(day, clock_time(12, 0), tzinfo=LIMA)


class _Writer:
    def __init__(self, db_session: Session) -> None:
        self.db = db_session
        self.versions = sorted(
            db_session.scalars(select(CodeVersion)), key=lambda v: v.published_on
        )
        if not self.versions:
            raise RuntimeError("No version of the Code text is stored: run `portal db upgrade`")
        self.now = utcnow()

    def version_for(self, day: date) -> int:
        """The version of the Code in force on the signature date (the first one for earlier dates)."""
        chosen = self.versions[0]
        for version in self.versions:
            if version.published_on <= day:
                chosen = version
        return chosen.id  # type: ignore[return-value]

    def numbers_for(self, rows: list[Row]) -> dict[int, str]:
        """A number for each new signature: the file's, or the next ones of the signature's year."""
        numbers: dict[int, str] = {}
        by_year: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            given = row.checked.values["signatory_number"]
            if given:
                numbers[row.number] = given
            else:
                by_year[row.checked.values["signed_on"].year].append(row.number)
        for year, row_numbers in by_year.items():
            for row_number, number in zip(
                row_numbers,
                conduct.reserve_signatory_numbers(self.db, year, len(row_numbers)),
                strict=True,
            ):
                numbers[row_number] = number
        return numbers

    def _signature(self, row: Row, establishment_id: int, number: str) -> dict[str, Any]:
        signed_on = row.checked.values["signed_on"]
        return {
            "establishment_id": establishment_id,
            "code_version_id": self.version_for(signed_on),
            "signatory_number": number,
            "representative_name": None,
            "document_type": None,
            "document_number": None,
            "language": "es",
            "status": "active",
            "signed_at": _signed_at(signed_on),
            "signed_by_id": None,
            "origin": "import",
        }

    def write(self, rows: list[Row]) -> None:
        creates = [r for r in rows if r.kind == "create"]
        updates = [r for r in rows if r.kind == "update"]
        new_signatures = creates + [r for r in updates if r.signature is None]
        numbers = self.numbers_for(new_signatures)
        ids: dict[tuple[str, str], int] = {}
        if creates:
            # Core inserts of plain rows: one executemany per chunk, fast on both databases.
            self.db.execute(
                insert(Establishment.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "ruc": r.checked.values["ruc"],
                        "branch_code": r.checked.values["branch_code"],
                        **{name: r.checked.values[name] for name in FIELDS},
                        "website": None,
                        "phone": None,
                        "created_at": self.now,
                        # Core inserts skip the ORM events that keep the search keys.
                        "name_key": fold(r.checked.values["trade_name"]),
                        "province_key": fold(r.checked.values["province"]),
                    }
                    for r in creates
                ],
            )
            keys = {r.checked.key for r in creates}
            ids = {
                (ruc, branch): id_
                for id_, ruc, branch in self.db.execute(
                    select(Establishment.id, Establishment.ruc, Establishment.branch_code).where(
                        Establishment.ruc.in_({ruc for ruc, _branch in keys})  # type: ignore[attr-defined]
                    )
                )
                if (ruc, branch) in keys
            }
        if updates:
            changed = []
            for r in updates:
                values = {
                    name: r.checked.values[name]
                    for name in FIELDS
                    if any(c.field == name for c in r.changes)
                }
                if "trade_name" in values:
                    values["name_key"] = fold(values["trade_name"])
                if "province" in values:
                    values["province_key"] = fold(values["province"])
                if values:
                    changed.append({"id": r.establishment_id, **values})
            if changed:
                self.db.execute(update(Establishment), changed)
            signature_changes = []
            for r in updates:
                if r.signature is None or r.signature.origin != "import":
                    continue
                values = {}
                for change in r.changes:
                    if change.field == "signed_on":
                        signed_on = r.checked.values["signed_on"]
                        values["signed_at"] = _signed_at(signed_on)
                        values["code_version_id"] = self.version_for(signed_on)
                    elif change.field == "signatory_number":
                        values["signatory_number"] = change.after
                if values:
                    signature_changes.append({"id": r.signature.id, **values})
            if signature_changes:
                self.db.execute(update(Signature), signature_changes)
        signatures = [
            self._signature(r, r.establishment_id or ids[r.checked.key], numbers[r.number])
            for r in new_signatures
        ]
        if signatures:
            self.db.execute(insert(Signature.__table__), signatures)  # type: ignore[attr-defined]
        self._index_for_search(new_signatures, updates, ids)

    def _index_for_search(
        self, new_signatures: list[Row], updates: list[Row], ids: dict[tuple[str, str], int]
    ) -> None:
        """The register's search terms of new signatories and of renamed ones (the bulk writes
        above bypass the ORM events that keep them)."""
        renamed = [
            r
            for r in updates
            if r.signature is not None
            and any(c.field in ("trade_name", "legal_name") for c in r.changes)
        ]
        rows = new_signatures + renamed
        if not rows:
            return
        table = RegisterTerm.__table__  # type: ignore[attr-defined]
        establishment_ids = [r.establishment_id or ids[r.checked.key] for r in rows]
        self.db.execute(delete(table).where(table.c.establishment_id.in_(establishment_ids)))
        terms = []
        for r, establishment_id in zip(rows, establishment_ids, strict=True):
            trade, legal = r.checked.values["trade_name"], r.checked.values["legal_name"]
            name_key = fold(trade)
            terms.extend(
                {"term": t, "establishment_id": establishment_id, "name_key": name_key}
                for t in sorted(terms_of(trade, legal)) or [""]
            )
        self.db.execute(insert(table), terms)


@dataclass
class ImportResult:
    batch: ImportBatch | None
    preview: Preview
    seconds: float = 0.0


def apply_file(
    *,
    db_session: Session,
    path: Path,
    filename: str,
    actor: User | None,
    sha256: str | None = None,
    progress: Callable[[int], None] | None = None,
    checked: Preview | None = None,
) -> ImportResult:
    """Write every valid row of the file in the caller's transaction, or nothing at all.

    The file is checked again from the start (the register may have changed since the preview);
    rows with errors are left out. `checked` is the preview just made in this same transaction
    (the command line), to save reading the file once more. A file whose rows are all in the register already changes
    nothing and leaves no trace. Raises DomainError if the database refuses any row: then nothing
    of the file is written.
    """
    started = time.perf_counter()
    preview = checked or preview_file(
        db_session=db_session, path=path, filename=filename, sha256=sha256
    )
    if not preview.to_write:
        return ImportResult(None, preview, time.perf_counter() - started)
    try:
        with db_session.begin_nested():
            for year, sequence in preview.highest_number.items():
                conduct.raise_signatory_counter(db_session, year, sequence)
            writer = _Writer(db_session)
            applied = Preview(filename=filename, sha256=preview.sha256)
            with open_sheet(path) as sheet:
                classifier = _Classifier(db_session, sheet, applied)
                for rows in classifier.chunks(progress):
                    for row in rows:
                        if row.number in preview.error_rows and row.kind != "error":
                            row.kind = "error"  # a duplicate found further down the file
                    writer.write(rows)
            batch = ImportBatch(
                sha256=preview.sha256,
                filename=filename[:200],
                actor_id=actor.id if actor else None,
                actor=actor.email if actor else "cli",
                created_at=utcnow(),
                total_rows=preview.total,
                created=preview.counts["create"],
                updated=preview.counts["update"],
                unchanged=preview.counts["unchanged"],
                errors=preview.counts["error"],
            )
            db_session.add(batch)
            db_session.flush()
            audit.record(
                db_session=db_session,
                actor=actor,
                system_actor="cli",
                action="import.applied",
                object_type="import_batch",
                object_id=batch.id,
                summary=filename,
                after={
                    "sha256": preview.sha256,
                    "rows": preview.total,
                    "created": batch.created,
                    "updated": batch.updated,
                    "unchanged": batch.unchanged,
                    "errors": batch.errors,
                },
            )
    except IntegrityError:
        raise DomainError(
            _(
                "Nothing was imported: the register changed while the file was being imported "
                "(an establishment or signatory number in the file was added meanwhile). "
                "Check the file again and import it."
            )
        ) from None
    except ImportFileError as exc:
        raise DomainError(str(exc)) from None
    return ImportResult(batch, preview, time.perf_counter() - started)


def list_batches(*, db_session: Session, limit: int = 50) -> list[ImportBatch]:
    return list(
        db_session.scalars(
            select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)  # type: ignore[union-attr]
        )
    )


def _text_cell(sheet, value: object) -> object:  # type: ignore[no-untyped-def]
    """Text that starts with "=" kept as text: openpyxl would otherwise write it as a formula that
    the spreadsheet runs when the workbook is opened."""
    if not (isinstance(value, str) and value.startswith("=")):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def errors_workbook(*, path: Path, preview: Preview) -> bytes:
    """The rows with errors as the file has them, plus a column saying what to fix: correct them
    and upload this workbook again (the extra column is ignored)."""
    import io

    from openpyxl import Workbook

    from app.imports.parsing import cell_text

    by_row = preview.errors_by_row()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Errors")[:31])
    with open_sheet(path) as source:
        sheet.append([*source.headers, _("Row"), _("Error")])
        width = len(source.headers)
        for number, cells in source.rows:
            if number not in by_row:
                continue
            values = [c if isinstance(c, (int, float, date)) else cell_text(c) for c in cells]
            values = (values + [""] * width)[:width]
            messages = "; ".join(f"{e.column}: {e.message}" for e in by_row[number])
            sheet.append([_text_cell(sheet, v) for v in [*values, number, messages]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
