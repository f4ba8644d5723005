"""`portal backup` and `portal restore`: the database and the data files in one portable archive.

The archive is a gzipped tar:

    manifest.json            format, Alembic revision, source database, and for every table its
                             row count and the SHA-256 of its rows file, for every file its SHA-256
    tables/<table>.jsonl     every row as a JSON object, tables in foreign-key order
    files/<dir>/<path>       the evidence files and the certificate PDFs, byte for byte

Rows are plain JSON (datetimes in ISO 8601 UTC, bytes in base64), so a SQLite backup restores into
PostgreSQL and the other way round. The rows are read from one snapshot: one REPEATABLE READ,
read-only transaction on PostgreSQL; on SQLite, a copy made with SQLite's backup API. Files are
copied after the snapshot; they are written before the row that names them and never changed, so
every file the snapshot names is there (one deleted meanwhile is reported as missing).

Restore checks every hash before it writes anything, refuses a database at another schema revision
(run `portal db upgrade` first) and one that is not empty (unless forced), writes every row in one
transaction and moves the files into place; PostgreSQL's sequences are set past the restored ids.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy import types as sqltypes
from sqlmodel import SQLModel

import app.models  # noqa: F401  (every table in the metadata)
from app.config import Settings
from app.db import UTCDateTime, make_engine, utcnow

FORMAT = 1
#: Tables `portal db upgrade` fills (the Code text, the report forms): replaced, not "not empty".
REFERENCE_TABLES = ("code_version", "report_form")
#: State of the running instance, not data: the register version only tells its page caches that
#: something changed (a restore moves it on like any other write).
INSTANCE_TABLES = ("register_version",)


class BackupRefused(Exception):
    """The backup cannot be made or restored; the message says why and what to do."""


@dataclass
class Summary:
    rows: int
    tables: int
    files: int
    file_bytes: int


def data_dirs(settings: Settings) -> dict[str, Path]:
    """The folders whose files belong with the database (signing keys are not: they are secrets)."""
    return {"evidence": settings.evidence_dir, "certificates": settings.certificates_dir}


def tables() -> list[Table]:
    """The tables a backup holds, in foreign-key order."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in INSTANCE_TABLES]


# --- rows as JSON ------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(column_type: Any) -> Any:
    if isinstance(column_type, UTCDateTime | sqltypes.DateTime):
        return datetime.fromisoformat
    if isinstance(column_type, sqltypes.Date):
        return date.fromisoformat
    if isinstance(column_type, sqltypes.LargeBinary):
        return base64.b64decode
    if isinstance(column_type, sqltypes.Numeric) and column_type.asdecimal:
        return Decimal
    return None


def _revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table: the schema was never created
        return None


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection that sees the whole database as of one moment."""
    if engine.dialect.name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "snapshot.db"
            source = engine.raw_connection()
            try:
                target = sqlite3.connect(copy)
                source.driver_connection.backup(target)  # type: ignore[union-attr]
                target.close()
            finally:
                source.close()
            snapshot = make_engine(f"sqlite:///{copy}")
            try:
                with snapshot.connect() as connection:
                    yield connection
            finally:
                snapshot.dispose()
        return
    with (
        engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        ) as connection,
        connection.begin(),
    ):
        yield connection


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(utcnow().timestamp())
    archive.addfile(info, io.BytesIO(data))


# --- backup ------


def backup(*, engine: Engine, settings: Settings, destination: Path) -> Summary:
    """Write the database and the data files to `destination` (a .tar.gz)."""
    with tempfile.TemporaryDirectory() as folder:
        staging = Path(folder)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": utcnow().isoformat(),
            "source": engine.dialect.name,
            "tables": [],
            "files": [],
        }
        with _snapshot(engine) as connection:
            revision = _revision(connection)
            if revision is None:
                raise BackupRefused("The database has no schema: nothing to back up.")
            manifest["alembic_revision"] = revision
            for table in tables():
                path = staging / f"{table.name}.jsonl"
                digest, count = hashlib.sha256(), 0
                with path.open("wb") as out:
                    query = select(table).order_by(*table.primary_key.columns)
                    for row in connection.execute(query).mappings():
                        line = (
                            json.dumps(
                                {k: _encode(v) for k, v in row.items()},
                                ensure_ascii=False,
                                sort_keys=True,
                            ).encode()
                            + b"\n"
                        )
                        out.write(line)
                        digest.update(line)
                        count += 1
                manifest["tables"].append(
                    {"name": table.name, "rows": count, "sha256": digest.hexdigest()}
                )
        files: list[tuple[str, Path]] = []
        for name, root in data_dirs(settings).items():
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.name.endswith(".part"):
                    relative = f"{name}/{path.relative_to(root).as_posix()}"
                    files.append((relative, path))
                    manifest["files"].append(
                        {
                            "path": relative,
                            "size": path.stat().st_size,
                            "sha256": _sha256_file(path),
                        }
                    )
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        with tarfile.open(partial, "w:gz") as archive:
            _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=1).encode())
            for table in tables():
                archive.add(staging / f"{table.name}.jsonl", f"tables/{table.name}.jsonl")
            for relative, path in files:
                archive.add(path, f"files/{relative}", recursive=False)
        partial.replace(destination)
    return Summary(
        rows=sum(t["rows"] for t in manifest["tables"]),
        tables=len(manifest["tables"]),
        files=len(files),
        file_bytes=sum(f["size"] for f in manifest["files"]),
    )


# --- restore ------


def _safe_relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or len(relative.parts) < 2:
        raise BackupRefused(f"The archive names a file outside the data folders: {path!r}.")
    return relative


def _read_archive(source: Path, staging: Path) -> dict[str, Any]:
    """Unpack into `staging`, checking every member against the manifest; returns the manifest."""
    try:
        with tarfile.open(source, "r:gz") as archive:
            return _unpack(archive, staging)
    except (OSError, EOFError, zlib.error, tarfile.TarError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{source} is not a readable portal backup: {exc}") from None


def _unpack(archive: tarfile.TarFile, staging: Path) -> dict[str, Any]:
    """Each member must be named in the manifest (which comes first) and match its SHA-256."""
    expected: dict[str, str] = {}
    manifest: dict[str, Any] | None = None
    for member in archive:
        if member.name == "manifest.json" and manifest is None:
            handle = archive.extractfile(member)
            assert handle is not None
            manifest = json.loads(handle.read())
            if manifest.get("format") != FORMAT:
                raise BackupRefused(f"Unknown backup format {manifest.get('format')!r}.")
            expected = {f"tables/{t['name']}.jsonl": t["sha256"] for t in manifest["tables"]}
            expected |= {f"files/{f['path']}": f["sha256"] for f in manifest["files"]}
            continue
        if manifest is None:
            raise BackupRefused("The archive does not start with its manifest.")
        if member.name not in expected or not member.isfile():
            raise BackupRefused(f"The archive holds something unexpected: {member.name!r}.")
        target = staging / _safe_relative(member.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = archive.extractfile(member)
        assert handle is not None
        digest = hashlib.sha256()
        with target.open("wb") as out:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected.pop(member.name):
            raise BackupRefused(f"{member.name} in the archive is damaged (its SHA-256 differs).")
    if manifest is None:
        raise BackupRefused("The archive has no manifest.")
    if expected:
        raise BackupRefused(f"The archive is incomplete: {sorted(expected)[0]} is missing.")
    return manifest


def _not_empty(connection: Connection) -> list[str]:
    return [
        table.name
        for table in tables()
        if table.name not in REFERENCE_TABLES
        and connection.execute(select(func.count()).select_from(table)).scalar()
    ]


def _empty_everything(connection: Connection) -> None:
    """For --force: delete every row, with the audit log's append-only triggers lifted meanwhile."""
    if connection.dialect.name == "sqlite":
        triggers = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, _sql in triggers:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        for table in reversed(tables()):
            connection.execute(table.delete())
        for _name, sql in triggers:
            connection.execute(text(sql))
        return
    for table in tables():
        connection.execute(text(f'ALTER TABLE "{table.name}" DISABLE TRIGGER USER'))
    for table in reversed(tables()):
        connection.execute(table.delete())
    for table in tables():
        connection.execute(text(f'ALTER TABLE "{table.name}" ENABLE TRIGGER USER'))


def _insert_rows(connection: Connection, table: Table, path: Path) -> int:
    decoders = {c.name: _decoder(c.type) for c in table.columns}
    batch: list[dict[str, Any]] = []
    count = 0
    with path.open("rb") as rows:
        for line in rows:
            row = json.loads(line)
            for name, value in row.items():
                decode = decoders.get(name)
                if value is not None and decode is not None:
                    row[name] = decode(value)
            batch.append(row)
            if len(batch) == 500:
                connection.execute(table.insert(), batch)
                count, batch = count + len(batch), []
    if batch:
        connection.execute(table.insert(), batch)
        count += len(batch)
    return count


def _fix_sequences(connection: Connection) -> None:
    """Set each PostgreSQL sequence past the highest restored id, so new rows get new ids."""
    for table in tables():
        for column in table.primary_key.columns:
            sequence = connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": f'"{table.name}"', "column": column.name},
            ).scalar()
            if sequence:
                connection.execute(
                    text(
                        f'SELECT setval(:sequence, COALESCE((SELECT MAX("{column.name}") '
                        f'FROM "{table.name}"), 0) + 1, false)'
                    ),
                    {"sequence": sequence},
                )


def _restore_rows(
    connection: Connection, manifest: dict[str, Any], staging: Path, force: bool, present: set[str]
) -> int:
    revision = _revision(connection)
    if revision is None:
        raise BackupRefused("This database has no schema yet: run `portal db upgrade` first.")
    if revision != manifest["alembic_revision"]:
        raise BackupRefused(
            f"The backup is of schema revision {manifest['alembic_revision']}, this database "
            f"is at {revision}: restore it with the portal version that made it."
        )
    occupied = _not_empty(connection)
    if (occupied or present) and not force:
        raise BackupRefused(
            "This instance is not empty ("
            + ", ".join(occupied + sorted(f"{p} files" for p in present))
            + "): restore into an empty one, or use --force to replace everything."
        )
    if force:
        _empty_everything(connection)
    else:
        for name in REFERENCE_TABLES:
            connection.execute(SQLModel.metadata.tables[name].delete())
    rows = 0
    for table in tables():
        path = staging / "tables" / f"{table.name}.jsonl"
        if path.exists():
            rows += _insert_rows(connection, table, path)
    if connection.dialect.name == "postgresql":
        _fix_sequences(connection)
    return rows


def restore(*, engine: Engine, settings: Settings, source: Path, force: bool = False) -> Summary:
    """Restore a backup into this (empty, migrated) instance: every row and file, or nothing."""
    folders = data_dirs(settings)
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    # Unpacked next to the data folders, so moving the files into place is a rename.
    with tempfile.TemporaryDirectory(dir=settings.var_dir, prefix=".restore-") as folder:
        staging = Path(folder)
        manifest = _read_archive(source, staging)
        known = {table.name for table in tables()}
        unknown = [t["name"] for t in manifest["tables"] if t["name"] not in known]
        if unknown:
            raise BackupRefused(f"The backup has tables this portal does not know: {unknown}.")
        present = {
            folder_name
            for folder_name, root in folders.items()
            if root.is_dir() and any(p.is_file() for p in root.rglob("*"))
        }
        moved: list[Path] = []
        replaced: list[tuple[Path, Path]] = []  # (folder, where its old files wait) with --force
        try:
            with engine.connect() as connection, connection.begin():
                rows = _restore_rows(connection, manifest, staging, force, present)
                if force:
                    for root in folders.values():
                        if root.exists():
                            aside = root.with_name(root.name + ".before-restore")
                            shutil.rmtree(aside, ignore_errors=True)
                            root.replace(aside)
                            replaced.append((root, aside))
                for entry in manifest["files"]:
                    relative = _safe_relative(entry["path"])
                    root = folders.get(relative.parts[0])
                    if root is None:
                        raise BackupRefused(
                            f"Unknown data folder in the backup: {relative.parts[0]}."
                        )
                    target = root.joinpath(*relative.parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    (staging / "files" / relative).replace(target)
                    moved.append(target)
                # Leaving the block commits every row; the files are in place already.
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            for root, aside in replaced:
                shutil.rmtree(root, ignore_errors=True)
                aside.replace(root)
            raise
        for _root, aside in replaced:
            shutil.rmtree(aside, ignore_errors=True)
    return Summary(
        rows=rows,
        tables=len(manifest["tables"]),
        files=len(manifest["files"]),
        file_bytes=sum(f["size"] for f in manifest["files"]),
    )
