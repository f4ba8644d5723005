"""Checking an uploaded evidence file by what it contains, not by its name or declared type."""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from app.i18n import _

# What each accepted kind of file starts with.
_SIGNATURES = {
    b"%PDF-": ("application/pdf", ".pdf"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}


_SAME_KIND = {".jpg": (".jpg", ".jpeg"), ".pdf": (".pdf",), ".png": (".png",)}


class EvidenceRefused(Exception):
    """The file cannot be accepted; str(exc) says why, in the person's language."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass
class CheckedFile:
    """An accepted upload, copied to a temporary file while it was read and measured."""

    content_type: str
    filename: str
    size: int
    sha256: str
    file: BinaryIO


def detect_type(head: bytes) -> tuple[str, str] | None:
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return None


def safe_filename(name: str, extension: str) -> str:
    """A name to show and to download under: no folders, no control characters, the right extension."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    match = re.search(r"\.([A-Za-z0-9]{1,5})$", name)
    stem = (name[: match.start()] if match else name).strip(" .") or "evidencia"
    stem = re.sub(r"[^\w\- ()]", "_", stem)[:120]
    # Keep the person's own spelling of the right extension (.jpeg, .JPG); otherwise the true one.
    if match and "." + match.group(1).lower() in _SAME_KIND.get(extension, (extension,)):
        extension = "." + match.group(1)
    return stem + extension


def check_upload(source: BinaryIO, filename: str, max_bytes: int) -> CheckedFile:
    """Read the upload once, in chunks, stopping as soon as it is too big or of the wrong kind."""
    head = source.read(16)
    kind = detect_type(head)
    if kind is None:
        raise EvidenceRefused(
            _(
                "The file is not a PDF, JPEG or PNG (whatever its name says). "
                "Save it as one of these and attach it again."
            )
        )
    digest = hashlib.sha256(head)
    copy = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (handed to the caller)
    copy.write(head)
    size = len(head)
    while chunk := source.read(256 * 1024):
        size += len(chunk)
        if size > max_bytes:
            copy.close()
            raise EvidenceRefused(
                _(
                    "The file is larger than %(mb)s MB. Attach a smaller file.",
                    mb=max_bytes // 1_000_000,
                ),
                too_large=True,
            )
        digest.update(chunk)
        copy.write(chunk)
    copy.seek(0)
    content_type, extension = kind
    return CheckedFile(
        content_type=content_type,
        filename=safe_filename(filename, extension),
        size=size,
        sha256=digest.hexdigest(),
        file=copy,  # type: ignore[arg-type]
    )
