"""A page drawn in two layers: a static page laid out and drawn by WeasyPrint once, and the values
of one document set over it as text in the same fonts, then written as one PDF page.

WeasyPrint spends most of a certificate's render on what is the same on every certificate (the
cascade, the layout of every paragraph, the drawing). The static page leaves an empty box (a
"slot") of the right height where each value goes; this module fills the slots: it shapes the text
with HarfBuzz (kerning and ligatures as WeasyPrint's Pango sets them), wraps it to the slot's width
(at spaces and after "/", and inside a word too long for a line, like `overflow-wrap: break-word`),
embeds subsets of the bundled fonts with a ToUnicode map (so the text can be searched and copied),
and writes the static page's objects, read once, with the new ones after them.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    PdfObject,
)

from app.certificates.harfbuzz import Font, Glyph

PX = 0.75  # CSS pixels to PDF points
_WHITE_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Run:
    """A piece of a slot's text; bold and size (pt) default to the slot's own."""

    text: str
    bold: bool | None = None
    size: float | None = None


@dataclass(frozen=True)
class Slot:
    """Where a value goes on the page and how it is set, read off the static page's layout.
    Distances in points from the page's top-left corner."""

    left: float
    top: float
    width: float
    size: float
    line_height: float
    bold: bool
    align: str  # "left" or "center"
    color: tuple[float, float, float]


class _Atom(NamedTuple):
    font: int  # 0 regular, 1 bold
    size: float
    glyph: Glyph
    advance: float  # points
    space: bool


@dataclass
class Text:
    """A slot's text broken into lines, ready to draw."""

    slot: Slot
    lines: list[list[_Atom]]


@lru_cache(maxsize=4096)
def _atoms(font: Font, face: int, size: float, text: str) -> tuple[_Atom, ...]:
    """A run's glyphs, sized; kept, as labels and sentences recur on every certificate."""
    # As HTML shows text: runs of white space are one space; composed characters (NFC).
    text = unicodedata.normalize("NFC", _WHITE_SPACE.sub(" ", text))
    scale = size / font.upem
    return tuple(
        _Atom(face, size, glyph, glyph.advance * scale, glyph.text.isspace())
        for glyph in font.shape(text)
    )


def set_text(slot: Slot, runs: Iterable[Run], fonts: tuple[Font, Font]) -> Text:
    """Shape the runs and break them into lines of the slot's width."""
    atoms: list[_Atom] = []
    for run in runs:
        bold = slot.bold if run.bold is None else run.bold
        atoms.extend(_atoms(fonts[bold], int(bold), run.size or slot.size, run.text))
    lines: list[list[_Atom]] = []
    start = 0
    while start < len(atoms):
        while start < len(atoms) and atoms[start].space:
            start += 1
        width, end, last_break = 0.0, start, None
        while end < len(atoms):
            atom = atoms[end]
            if not atom.space and width + atom.advance > slot.width + 0.01:
                break
            width += atom.advance
            end += 1
            if atom.space or atom.glyph.text == "/":
                last_break = end
        if end < len(atoms):
            end = last_break if last_break and last_break > start else max(end, start + 1)
        if end > start:
            lines.append(atoms[start:end])
        start = end
    return Text(slot, lines)


@dataclass
class Layer:
    """The drawing over the static page: text and filled squares, in the page's coordinates."""

    height: float  # the page's height in points (PDF counts from the bottom)
    fonts: tuple[Font, Font]
    ops: list[str] = field(default_factory=list)
    used: tuple[dict[int, str], dict[int, str]] = field(default_factory=lambda: ({}, {}))

    def text(self, text: Text) -> None:
        slot = text.slot
        regular = self.fonts[0]
        # Half-leading, as CSS places a line of text in its line box.
        ascent, descent = regular.ascent / regular.upem, -regular.descent / regular.upem
        size = max((atom.size for line in text.lines for atom in line), default=slot.size)
        baseline = (slot.line_height - (ascent + descent) * size) / 2 + ascent * size
        self.ops.append("{:.4f} {:.4f} {:.4f} rg".format(*slot.color))
        for number, line in enumerate(text.lines):
            visible = line
            while visible and visible[-1].space:
                visible = visible[:-1]
            width = sum(atom.advance for atom in visible)
            x = slot.left + (slot.width - width) / 2 if slot.align == "center" else slot.left
            y = self.height - (slot.top + number * slot.line_height + baseline)
            self.ops.append(f"BT {x:.3f} {y:.3f} Td")
            current: tuple[int, float] | None = None
            shown: list[str] = []
            for atom in visible:
                if (atom.font, atom.size) != current:
                    if shown:
                        self.ops.append(f"[{' '.join(shown)}] TJ")
                        shown = []
                    current = (atom.font, atom.size)
                    self.ops.append(f"/PortalOverlay{atom.font} {atom.size:g} Tf")
                font = self.fonts[atom.font]
                gid = atom.glyph.gid
                self.used[atom.font].setdefault(gid, atom.glyph.text)
                shown.append(f"<{gid:04x}>")
                kerning = font.width(gid) - atom.glyph.advance
                if kerning:
                    shown.append(f"{kerning * 1000 / font.upem:.1f}")
            if shown:
                self.ops.append(f"[{' '.join(shown)}] TJ")
            self.ops.append("ET")

    def squares(self, left: float, top: float, size: float, matrix: list[bytes]) -> None:
        """A QR code: its dark modules as one filled path, each row's runs as rectangles."""
        module = size / len(matrix)
        self.ops.append("0 0 0 rg")
        for row, cells in enumerate(matrix):
            y = self.height - top - (row + 1) * module
            column = 0
            while column < len(cells):
                if cells[column]:
                    end = column
                    while end < len(cells) and cells[end]:
                        end += 1
                    x = left + column * module
                    self.ops.append(
                        f"{x:.3f} {y:.3f} {(end - column) * module:.3f} {module:.3f} re"
                    )
                    column = end
                else:
                    column += 1
        self.ops.append("f")


class StaticPage:
    """A one-page PDF written by WeasyPrint, split once into its objects, with room for a layer.

    The page's own content is wrapped in q/Q, so that the layer starts from the default graphics
    state; the layer's fonts are added to the page's resources under their own names."""

    def __init__(self, pdf: bytes) -> None:
        reader = PdfReader(io.BytesIO(pdf))
        page = reader.pages[0]
        self.size = int(reader.trailer["/Size"])
        root = reader.trailer.raw_get("/Root")
        info = reader.trailer.get("/Info", {})
        self.producer = str(info.get("/Producer", "WeasyPrint"))
        self.height = float(page.mediabox.height)
        n = self.size
        self.save, self.restore, self.layer, self.info = n, n + 1, n + 2, n + 3
        self.fonts = (n + 4, n + 9)  # five objects per font: see _font_objects
        self.root = root.idnum

        resources = DictionaryObject(page["/Resources"].get_object())
        fonts = DictionaryObject(resources.get("/Font", DictionaryObject()).get_object())
        for number, first in enumerate(self.fonts):
            fonts[NameObject(f"/PortalOverlay{number}")] = IndirectObject(first, 0, reader)
        resources[NameObject("/Font")] = fonts
        contents = page.raw_get("/Contents")
        own = list(contents.get_object()) if isinstance(contents.get_object(), list) else [contents]
        new_page = DictionaryObject(page.get_object())
        new_page[NameObject("/Resources")] = resources
        new_page[NameObject("/Contents")] = ArrayObject(
            [
                IndirectObject(self.save, 0, reader),
                *own,
                IndirectObject(self.restore, 0, reader),
                IndirectObject(self.layer, 0, reader),
            ]
        )
        replaced = {page.indirect_reference.idnum: new_page}

        objects: dict[int, bytes] = {}
        pending = [root.idnum]
        while pending:
            number = pending.pop()
            if number in objects or number >= self.size:
                continue
            obj = replaced.get(number) or reader.get_object(number)
            objects[number] = _serialize(number, obj)
            pending.extend(_references(obj))
        objects[self.save] = _stream_object(self.save, b"q\n")
        objects[self.restore] = _stream_object(self.restore, b"Q\n")
        self.header = pdf[: pdf.index(b"\n") + 1] + b"%\xe2\xe3\xcf\xd3\n"
        body, self.offsets, position = [], {}, len(self.header)
        for number in range(1, self.restore + 1):
            data = objects.get(number) or f"{number} 0 obj\nnull\nendobj\n".encode()
            self.offsets[number] = position
            body.append(data)
            position += len(data)
        self.body = b"".join(body)

    def write(self, layer: Layer, info: Mapping[str, str]) -> bytes:
        """The page with the layer drawn over it, as a complete PDF file."""
        content = zlib.compress("\n".join(layer.ops).encode(), 6)
        new = [
            _stream_object(self.layer, content, compressed=True),
            _info_object(self.info, {**info, "Producer": self.producer}),
        ]
        for number, first in enumerate(self.fonts):
            new.extend(_font_objects(first, layer.fonts[number], layer.used[number]))
        parts = [self.header, self.body]
        offsets = dict(self.offsets)
        position = len(self.header) + len(self.body)
        for data in new:
            number = int(data[: data.index(b" ")])
            offsets[number] = position
            parts.append(data)
            position += len(data)
        count = max(offsets) + 1
        identifier = hashlib.md5(content + repr(sorted(info.items())).encode()).hexdigest()
        xref = ["xref", f"0 {count}", "0000000000 65535 f "]
        xref.extend(f"{offsets[n]:010d} 00000 n " for n in range(1, count))
        parts.append(
            (
                "\n".join(xref)
                + f"\ntrailer\n<< /Size {count} /Root {self.root} 0 R /Info {self.info} 0 R"
                f" /ID [<{identifier}> <{identifier}>] >>\nstartxref\n{position}\n%%EOF\n"
            ).encode()
        )
        return b"".join(parts)


def _references(obj: PdfObject) -> Iterable[int]:
    if isinstance(obj, IndirectObject):
        yield obj.idnum
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _references(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _references(value)


def _serialize(number: int, obj: PdfObject) -> bytes:
    out = io.BytesIO()
    out.write(f"{number} 0 obj\n".encode())
    obj.write_to_stream(out)
    out.write(b"\nendobj\n")
    return out.getvalue()


def _stream_object(number: int, data: bytes, compressed: bool = False, extra: str = "") -> bytes:
    flate = " /Filter /FlateDecode" if compressed else ""
    return (
        f"{number} 0 obj\n<< /Length {len(data)}{flate}{extra} >>\nstream\n".encode()
        + data
        + b"\nendstream\nendobj\n"
    )


def _text_string(value: str) -> str:
    """A PDF text string: UTF-16 with its byte order mark, in hex."""
    return "<feff" + value.encode("utf-16-be").hex() + ">"


def _info_object(number: int, info: Mapping[str, str]) -> bytes:
    now = datetime.now(UTC).strftime("D:%Y%m%d%H%M%SZ")
    entries = " ".join(f"/{key} {_text_string(value)}" for key, value in info.items())
    return f"{number} 0 obj\n<< {entries} /CreationDate ({now}) >>\nendobj\n".encode()


def _font_objects(first: int, font: Font, used: Mapping[int, str]) -> list[bytes]:
    """A font subset as a PDF composite font: Type0, its CIDFont (glyph numbers as CIDs), the
    descriptor, the font file and the ToUnicode map, numbered first to first + 4."""
    cid, descriptor, program, to_unicode = first + 1, first + 2, first + 3, first + 4
    gids = sorted(used)
    tag = "".join(
        chr(65 + b % 26) for b in hashlib.md5(repr(gids).encode() + font.name.encode()).digest()[:6]
    )
    name = f"/{tag}+{font.name}"
    scale = 1000 / font.upem
    widths = " ".join(f"{gid} [{font.width(gid) * scale:.0f}]" for gid in gids)
    x0, y0, x1, y1 = (round(v * scale) for v in font.bbox)
    data = font.subset(set(gids))
    compressed = zlib.compress(data, 6)
    cmap_entries = "\n".join(
        f"<{gid:04x}> <{text.encode('utf-16-be').hex()}>" for gid, text in used.items() if text
    )
    cmap = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <ffff>\nendcodespacerange\n"
        f"{sum(1 for t in used.values() if t)} beginbfchar\n{cmap_entries}\nendbfchar\n"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode()
    return [
        f"{first} 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont {name} /Encoding /Identity-H"
        f" /DescendantFonts [{cid} 0 R] /ToUnicode {to_unicode} 0 R >>\nendobj\n".encode(),
        f"{cid} 0 obj\n<< /Type /Font /Subtype /CIDFontType2 /BaseFont {name}"
        " /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        f" /FontDescriptor {descriptor} 0 R /W [{widths}] /CIDToGIDMap /Identity >>\nendobj\n".encode(),
        f"{descriptor} 0 obj\n<< /Type /FontDescriptor /FontName {name} /Flags 4"
        f" /FontBBox [{x0} {y0} {x1} {y1}] /ItalicAngle 0 /Ascent {font.ascent * scale:.0f}"
        f" /Descent {font.descent * scale:.0f} /CapHeight {font.cap_height * scale:.0f}"
        f" /StemV 80 /FontFile2 {program} 0 R >>\nendobj\n".encode(),
        _stream_object(program, compressed, compressed=True, extra=f" /Length1 {len(data)}"),
        _stream_object(to_unicode, zlib.compress(cmap), compressed=True),
    ]
