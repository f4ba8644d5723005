"""Where evidence files live: outside the database, under names nobody can guess."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote


def clean_filename(
    name: str, extension: str, *, accepted: tuple[str, ...] = (), fallback: str = "file"
) -> str:
    """An uploaded file's name made safe to keep, show and send back in a download header: no
    folders, no control, invisible or direction-changing characters (U+202E would show
    "fdp.exe" as "exe.pdf"), no leading dots, at most 120 characters, ending in `extension`
    (or in the person's own spelling of it when it is one of `accepted`, e.g. ".JPEG")."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", name)
    stem = (name[: match.start()] if match else name).strip(" .")
    stem = re.sub(r"[^\w\- ()]", "_", stem)[:120].strip(" ") or fallback
    if match and "." + match.group(1).lower() in (accepted or (extension,)):
        extension = "." + match.group(1)
    return stem + extension


def content_disposition(disposition: str, filename: str) -> str:
    """A Content-Disposition header (RFC 6266): a plain ASCII name for old clients, the real
    one percent-encoded in filename*; nothing in the name can end the header or add another."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "-_.() ") else "_" for c in filename)
    return f"{disposition}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


class StorageFull(Exception):
    """The storage could not take the file (disk full, not writable)."""


class EvidenceStorage(Protocol):
    def new_key(self) -> str: ...
    def save(self, key: str, source: BinaryIO) -> None: ...
    def read(self, key: str) -> Iterator[bytes]: ...
    def delete(self, key: str) -> None: ...


class LocalStorage:
    """A local directory; each file under a random 128-bit key, spread over sub-folders."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def new_key(self) -> str:
        return secrets.token_hex(16)

    def _path(self, key: str) -> Path:
        if len(key) != 32 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("not a storage key")
        return self.root / key[:2] / key

    def save(self, key: str, source: BinaryIO) -> None:
        path = self._path(key)
        temporary = path.with_suffix(".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            temporary.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise StorageFull(str(exc)) from exc

    def read(self, key: str) -> Iterator[bytes]:
        with self._path(key).open("rb") as source:
            while chunk := source.read(256 * 1024):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
