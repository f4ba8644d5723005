"""Where evidence files live: outside the database, under names nobody can guess."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


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
