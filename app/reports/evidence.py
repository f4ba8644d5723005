"""Checking an uploaded evidence file by what it contains, not by its name or declared type."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from app.i18n import _
from app.storage import clean_filename

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
    """The name to show and to download under, ending in the true extension of its content."""
    return clean_filename(
        name, extension, accepted=_SAME_KIND.get(extension, ()), fallback="evidencia"
    )


def check_upload(source: BinaryIO, filename: str, max_bytes: int) -> CheckedFile:
    """Read the upload once, in chunks, stopping as soon as it is too big or of the wrong kind;
    then look inside it (see check_content)."""
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
    content_type, extension = kind
    try:
        copy.seek(0)
        check_content(copy.read(), content_type)
    except EvidenceRefused:
        copy.close()
        raise
    copy.seek(0)
    return CheckedFile(
        content_type=content_type,
        filename=safe_filename(filename, extension),
        size=size,
        sha256=digest.hexdigest(),
        file=copy,  # type: ignore[arg-type]
    )


# --- what is inside ---------------------------------------------------------------------------------
# Evidence is opened by reviewers' browsers and PDF readers: a file that would make them inflate
# gigabytes, run a script, open an attachment, or be read as another kind of file is refused here.
# The file is at most a few megabytes and is read whole; what it would inflate to is only counted,
# in small steps, never held.

#: The largest picture accepted, in pixels (phones take 12 to 50 megapixels).
MAX_PIXELS = 50_000_000
#: What the compressed parts of a PDF that hold its objects may inflate to, in all.
MAX_PDF_INFLATED = 50_000_000
#: What a compressed text or colour profile inside a PNG may inflate to.
MAX_PNG_METADATA = 1_000_000

# Markup a browser would run if the file were ever read as a web page.
_MARKUP = re.compile(
    rb"<(?:script|html|body|iframe|svg|object|embed|meta)[\s>/]|<\?php|javascript:", re.IGNORECASE
)
_PADDING = b"\x00\t\n\r\x0c "
# PDF names that run something, open something, or hide another file.
_PDF_ACTIONS = {
    b"JavaScript",
    b"JS",
    b"Launch",
    b"AA",
    b"RichMedia",
    b"XFA",
    b"SubmitForm",
    b"ImportData",
    b"GoToE",
    b"Sound",
    b"Movie",
    b"Rendition",
}
_PDF_ATTACHMENTS = {b"EmbeddedFile", b"EmbeddedFiles", b"FileAttachment"}
_PDF_NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]*)")
_PDF_STREAM = re.compile(rb"\bobj\b(.{0,4096}?)\bstream\r?\n", re.DOTALL)
_PDF_FLATE = {b"FlateDecode", b"Fl"}
_PDF_FILTERS = _PDF_FLATE | {
    b"ASCIIHexDecode",
    b"AHx",
    b"ASCII85Decode",
    b"A85",
    b"LZWDecode",
    b"LZW",
    b"RunLengthDecode",
    b"RL",
    b"Crypt",
}


def _damaged() -> EvidenceRefused:
    return EvidenceRefused(
        _("The file is damaged or incomplete. Open it, save it again and attach it again.")
    )


def _hidden_content() -> EvidenceRefused:
    return EvidenceRefused(
        _(
            "The file has other content hidden in it (it is also another kind of file). "
            "Save it again as a plain PDF, JPEG or PNG and attach it again."
        )
    )


def _too_many_pixels(width: int, height: int) -> EvidenceRefused:
    return EvidenceRefused(
        _(
            "The picture is too large: %(width)s × %(height)s pixels. "
            "Attach a smaller copy (at most %(megapixels)s megapixels).",
            width=width,
            height=height,
            megapixels=MAX_PIXELS // 1_000_000,
        )
    )


def check_content(data: bytes, content_type: str) -> None:
    """Refuse what the file would do when opened; raises EvidenceRefused with the reason."""
    if content_type == "image/png":
        end = _check_png(data)
    elif content_type == "image/jpeg":
        end = _check_jpeg(data)
    else:
        end = _check_pdf(data)
    if data[end:].strip(_PADDING) or _MARKUP.search(data) or _is_zip(data):
        raise _hidden_content()


def _is_zip(data: bytes) -> bool:
    return zipfile.is_zipfile(io.BytesIO(data))


def _inflate(inflater: zlib._Decompress, data: bytes, budget: int) -> int:
    """How many bytes `data` inflates to, counted 64 KB at a time; stops past `budget`."""
    total = 0
    while data:
        try:
            total += len(inflater.decompress(data, 65536))
        except zlib.error:
            raise _damaged() from None
        if total > budget:
            break
        data = inflater.unconsumed_tail
    return total


def _check_png(data: bytes) -> int:
    """Walk the chunks: the size the header announces, what the pixels inflate to, the end."""
    position, budget, inflater, inflated = 8, -1, zlib.decompressobj(), 0
    while True:
        if position + 12 > len(data):
            raise _damaged()
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(crc) != 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise _damaged()
        position += 12 + length
        if kind == b"IHDR" and len(body) == 13:
            width, height, depth, colour, _c, _f, interlaced = struct.unpack(">IIBBBBB", body)
            if not width or not height or colour not in (0, 2, 3, 4, 6):
                raise _damaged()
            if width * height > MAX_PIXELS:
                raise _too_many_pixels(width, height)
            channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
            row = (width * channels * depth + 7) // 8 + 1
            # Interlaced pictures add a filter byte and rounding per row of each of 7 passes.
            budget = height * row + (16 * (height + 8) if interlaced else 0)
        elif kind == b"IDAT":
            if budget < 0:
                raise _damaged()
            inflated += _inflate(inflater, body, budget - inflated)
            if inflated > budget:
                raise EvidenceRefused(
                    _(
                        "The picture holds far more data than its size needs (a compression "
                        "bomb). Save it again from an image editor and attach it again."
                    )
                )
        elif kind in (b"zTXt", b"iCCP", b"iTXt"):
            # Compressed text or colour profile: after a name, a NUL and a method byte.
            start = body.find(b"\x00") + 2 if kind != b"iTXt" else _itxt_start(body)
            if start > 1 and _inflate(zlib.decompressobj(), body[start:], MAX_PNG_METADATA) > (
                MAX_PNG_METADATA
            ):
                raise EvidenceRefused(
                    _(
                        "The picture holds far more data than its size needs (a compression "
                        "bomb). Save it again from an image editor and attach it again."
                    )
                )
        elif kind == b"acTL":
            raise EvidenceRefused(_("Animated pictures are not accepted: attach a still picture."))
        elif kind == b"IEND":
            return position


def _itxt_start(body: bytes) -> int:
    """Where the compressed text of an iTXt chunk starts (1 if it is not compressed)."""
    keyword_end = body.find(b"\x00")
    if keyword_end < 0 or len(body) < keyword_end + 3 or body[keyword_end + 1] != 1:
        return 1
    language_end = body.find(b"\x00", keyword_end + 3)
    translated_end = body.find(b"\x00", language_end + 1) if language_end >= 0 else -1
    return translated_end + 1 if translated_end >= 0 else 1


# Start-of-frame markers (they carry the picture's size); C4, C8 and CC are other segments.
_JPEG_FRAMES = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}


def _check_jpeg(data: bytes) -> int:
    """Walk the segments to the end-of-image marker, reading the size each frame announces."""
    position, frames = 2, 0
    while position + 1 < len(data):
        if data[position] != 0xFF:
            raise _damaged()
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:  # end of image
            if not frames:
                raise _damaged()
            return position + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 2
            continue
        if position + 4 > len(data):
            raise _damaged()
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segment = data[position + 4 : position + 2 + length]
        if length < 2 or len(segment) != length - 2:
            raise _damaged()
        if marker in _JPEG_FRAMES:
            if len(segment) < 5:
                raise _damaged()
            height, width = struct.unpack(">HH", segment[1:5])
            if not width or not height:
                raise _damaged()
            if width * height > MAX_PIXELS:
                raise _too_many_pixels(width, height)
            frames += 1
        position += 2 + length
        if marker == 0xDA:  # the compressed picture follows, up to the next real marker
            while True:
                found = data.find(b"\xff", position)
                if found < 0 or found + 1 >= len(data):
                    raise _damaged()
                following = data[found + 1]
                if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    position = found + 1
                    continue
                position = found
                break
    raise _damaged()


def _pdf_names(data: bytes) -> set[bytes]:
    """Every name in `data`, with #xx escapes decoded (/J#61vaScript is /JavaScript)."""
    return {
        re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), name)
        for name in _PDF_NAME.findall(data)
    }


def _check_pdf(data: bytes) -> int:
    """Names anywhere in the file and inside its compressed object streams: no scripts, no
    automatic actions, no attached files, no encryption (which would hide the rest)."""
    end = data.rfind(b"%%EOF")
    if end < 0:
        raise _damaged()
    names = _pdf_names(data)
    inflated = 0
    for match in _PDF_STREAM.finditer(data):
        header = _pdf_names(match.group(1))
        if b"ObjStm" not in header:
            continue
        filters = header & _PDF_FILTERS
        stop = data.find(b"endstream", match.end())
        if not filters <= _PDF_FLATE or stop < 0:
            raise _uncheckable_pdf()
        body = data[match.end() : stop]
        if filters:
            inflater = zlib.decompressobj()
            carried = b""
            while body:
                try:
                    piece = inflater.decompress(body, 65536)
                except zlib.error:
                    raise _damaged() from None
                inflated += len(piece)
                if inflated > MAX_PDF_INFLATED:
                    raise _uncheckable_pdf()
                names |= _pdf_names(carried + piece)
                carried = piece[-256:]  # a name cut between two steps is read whole in the next
                body = inflater.unconsumed_tail
        else:
            names |= _pdf_names(body)
    if b"Encrypt" in names:
        raise EvidenceRefused(
            _(
                "The PDF is password-protected or encrypted. Remove the protection, or print it "
                "to a new PDF, and attach it again."
            )
        )
    if names & _PDF_ACTIONS:
        raise EvidenceRefused(
            _(
                "The PDF contains scripts (JavaScript) or actions that run when it is opened, "
                'which are not accepted. Print it to a new PDF ("Save as PDF") and attach that.'
            )
        )
    if names & _PDF_ATTACHMENTS:
        raise EvidenceRefused(
            _(
                "The PDF has other files attached inside it, which are not accepted. Attach "
                "each file on its own, or print the PDF to a new one."
            )
        )
    return end + 5


def _uncheckable_pdf() -> EvidenceRefused:
    return EvidenceRefused(
        _(
            "The PDF is built in a way the portal cannot check. Print it to a new PDF "
            '("Save as PDF") and attach that.'
        )
    )
