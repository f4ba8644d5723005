"""Small generators of real files, good and hostile, for the upload tests (built here, byte by
byte, so each test shows exactly what is inside the file it sends)."""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(
    width: int = 4,
    height: int = 4,
    *,
    idat: bytes | None = None,
    before_idat: bytes = b"",
    after_end: bytes = b"",
) -> bytes:
    """A PNG (RGB, 8 bits); `idat` replaces its compressed pixels."""
    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + b"\xc0\x20\x20" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + before_idat
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
        + after_end
    )


@functools.cache
def deflate_bomb(megabytes: int) -> bytes:
    """A zlib stream (about 1 KB per MB) that inflates to `megabytes` MB of zeros."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    # Adler-32 of n zero bytes, without reading them: the byte sum stays 1 and the second sum
    # grows by 1 per byte (zlib.adler32 over the real zeros gives the same, at a second per 2 GB).
    checksum = (((megabytes << 20) % 65521) << 16) | 1
    return first + block * (megabytes - 1) + b"\x03\x00" + checksum.to_bytes(4, "big")


def jpeg(width: int = 4, height: int = 4, *, after_end: bytes = b"") -> bytes:
    """A real JPEG made by Pillow, its frame header then set to say `width` × `height`."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    frame = data.find(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data) + after_end


def pdf(*objects: bytes, trailer: bytes = b"", after_end: bytes = b"") -> bytes:
    """A PDF whose objects are numbered from 1 in order (1 must be the catalogue), with its
    cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out) + after_end


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"


def plain_pdf() -> bytes:
    return pdf(CATALOG, PAGES, PAGE)


def pdf_with_catalog(entries: bytes, *extra: bytes) -> bytes:
    """A one-page PDF whose catalogue has `entries` (objects 4... are `extra`)."""
    return pdf(b"<< /Type /Catalog /Pages 2 0 R " + entries + b" >>", PAGES, PAGE, *extra)


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def pdf_with_object_stream(hidden: bytes) -> bytes:
    """A PDF whose object 5 (`hidden`) lives only inside a compressed object stream (object 4),
    where a reader of the raw file cannot see it."""
    index = b"5 0 "
    body = index + hidden
    compressed = zlib.compress(body)
    return pdf_with_catalog(
        b"/OpenAction 5 0 R",
        stream(b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode" % len(index), compressed),
    )


def zip_archive(entries: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (entries or {"payload.html": b"<p>hello</p>"}).items():
            archive.writestr(name, data)
    return out.getvalue()
