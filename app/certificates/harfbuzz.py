"""HarfBuzz, the text engine under WeasyPrint (through Pango), called directly for the few things
the certificate's overlay needs: shaping a line of text (glyphs, advances, kerning) and cutting a
font down to the glyphs a certificate uses, as WeasyPrint does for every PDF it writes.

The libraries are the ones WeasyPrint loads (libharfbuzz, libharfbuzz-subset); only this module's
own declarations are added, through cffi, which WeasyPrint depends on.
"""

from __future__ import annotations

import struct
import threading
from functools import cache
from pathlib import Path
from typing import NamedTuple

from cffi import FFI

_ffi = FFI()
_ffi.cdef(
    """
    typedef struct hb_blob_t hb_blob_t;
    typedef struct hb_face_t hb_face_t;
    typedef struct hb_font_t hb_font_t;
    typedef struct hb_buffer_t hb_buffer_t;
    typedef struct hb_set_t hb_set_t;
    typedef struct hb_subset_input_t hb_subset_input_t;
    typedef uint32_t hb_codepoint_t;
    typedef int32_t hb_position_t;
    typedef int hb_bool_t;
    typedef struct { hb_codepoint_t codepoint; uint32_t mask; uint32_t cluster;
                     uint32_t var1; uint32_t var2; } hb_glyph_info_t;
    typedef struct { hb_position_t x_advance; hb_position_t y_advance;
                     hb_position_t x_offset; hb_position_t y_offset;
                     uint32_t var; } hb_glyph_position_t;
    hb_blob_t *hb_blob_create(const char *data, unsigned int length, int mode,
                              void *user_data, void *destroy);
    void hb_blob_destroy(hb_blob_t *blob);
    const char *hb_blob_get_data(hb_blob_t *blob, unsigned int *length);
    hb_face_t *hb_face_create(hb_blob_t *blob, unsigned int index);
    void hb_face_destroy(hb_face_t *face);
    hb_blob_t *hb_face_reference_blob(hb_face_t *face);
    unsigned int hb_face_get_upem(hb_face_t *face);
    hb_font_t *hb_font_create(hb_face_t *face);
    hb_position_t hb_font_get_glyph_h_advance(hb_font_t *font, hb_codepoint_t glyph);
    hb_buffer_t *hb_buffer_create(void);
    void hb_buffer_destroy(hb_buffer_t *buffer);
    void hb_buffer_clear_contents(hb_buffer_t *buffer);
    void hb_buffer_add_utf8(hb_buffer_t *buffer, const char *text, int text_length,
                            unsigned int item_offset, int item_length);
    void hb_buffer_guess_segment_properties(hb_buffer_t *buffer);
    void hb_shape(hb_font_t *font, hb_buffer_t *buffer, const void *features,
                  unsigned int num_features);
    hb_glyph_info_t *hb_buffer_get_glyph_infos(hb_buffer_t *buffer, unsigned int *length);
    hb_glyph_position_t *hb_buffer_get_glyph_positions(hb_buffer_t *buffer,
                                                       unsigned int *length);
    hb_set_t *hb_subset_input_glyph_set(hb_subset_input_t *input);
    void hb_set_add(hb_set_t *set, hb_codepoint_t codepoint);
    hb_subset_input_t *hb_subset_input_create_or_fail(void);
    void hb_subset_input_destroy(hb_subset_input_t *input);
    void hb_subset_input_set_flags(hb_subset_input_t *input, unsigned int value);
    hb_face_t *hb_subset_or_fail(hb_face_t *source, const hb_subset_input_t *input);
    """
)


def _dlopen(*names: str):  # type: ignore[no-untyped-def]
    """The first of these names the system's loader finds (they differ between systems)."""
    for name in names[:-1]:
        try:
            return _ffi.dlopen(name)
        except OSError:
            continue
    return _ffi.dlopen(names[-1])


_harfbuzz = _dlopen("libharfbuzz.so.0", "libharfbuzz.0.dylib", "libharfbuzz-0.dll", "harfbuzz")
_subset = _dlopen(
    "libharfbuzz-subset.so.0",
    "libharfbuzz-subset.0.dylib",
    "libharfbuzz-subset-0.dll",
    "harfbuzz-subset",
)
_DUPLICATE = 0  # HB_MEMORY_MODE_DUPLICATE: HarfBuzz keeps its own copy of the font file
# HB_SUBSET_FLAGS_NO_HINTING | RETAIN_GIDS | NOTDEF_OUTLINE (hb-subset.h): glyph numbers stay
# those of the whole font, so the page's text needs no renumbering; no hinting, like WeasyPrint.
_SUBSET_FLAGS = 0x1 | 0x2 | 0x40


class Glyph(NamedTuple):
    gid: int
    advance: int  # in font units, kerning included
    text: str  # the characters this glyph stands for (empty for the 2nd glyph of a cluster)


class Font:
    """One TrueType font file: shaping, default advances, metrics and subsets."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        self.name = path.stem
        self._blob = _harfbuzz.hb_blob_create(
            self.data, len(self.data), _DUPLICATE, _ffi.NULL, _ffi.NULL
        )
        self._face = _harfbuzz.hb_face_create(self._blob, 0)
        self._font = _harfbuzz.hb_font_create(self._face)
        self.upem = _harfbuzz.hb_face_get_upem(self._face)
        self._buffer = _harfbuzz.hb_buffer_create()
        self._lock = threading.Lock()
        head = _table(self.data, b"head")
        hhea = _table(self.data, b"hhea")
        os2 = _table(self.data, b"OS/2")
        self.bbox = struct.unpack(">4h", head[36:44])
        self.ascent, self.descent = struct.unpack(">hh", hhea[4:8])
        self.cap_height = struct.unpack(">h", os2[88:90])[0] if len(os2) >= 90 else self.ascent
        self._widths: dict[int, int] = {}

    def shape(self, text: str) -> list[Glyph]:
        """The glyphs of a run of text with their advances (font units), as HarfBuzz sets them."""
        encoded = text.encode()
        with self._lock:
            buffer = self._buffer
            _harfbuzz.hb_buffer_clear_contents(buffer)
            _harfbuzz.hb_buffer_add_utf8(buffer, encoded, len(encoded), 0, len(encoded))
            _harfbuzz.hb_buffer_guess_segment_properties(buffer)
            _harfbuzz.hb_shape(self._font, buffer, _ffi.NULL, 0)
            count = _ffi.new("unsigned int *")
            infos = _harfbuzz.hb_buffer_get_glyph_infos(buffer, count)
            positions = _harfbuzz.hb_buffer_get_glyph_positions(buffer, count)
            raw = [
                (infos[i].codepoint, infos[i].cluster, positions[i].x_advance)
                for i in range(count[0])
            ]
        # A cluster is the text from its start to the next cluster's (left to right text).
        starts = sorted({cluster for _, cluster, _ in raw})
        ends = dict(zip(starts, [*starts[1:], len(encoded)], strict=True))
        glyphs = []
        previous = None
        for gid, cluster, advance in raw:
            chars = encoded[cluster : ends[cluster]].decode() if cluster != previous else ""
            glyphs.append(Glyph(gid, advance, chars))
            previous = cluster
        return glyphs

    def width(self, gid: int) -> int:
        """The glyph's own advance (the font's hmtx), what a PDF reader assumes unless told."""
        if gid not in self._widths:
            self._widths[gid] = _harfbuzz.hb_font_get_glyph_h_advance(self._font, gid)
        return self._widths[gid]

    def subset(self, gids: set[int]) -> bytes:
        """The font file cut down to these glyphs, glyph numbers kept."""
        subset_input = _subset.hb_subset_input_create_or_fail()
        try:
            glyph_set = _subset.hb_subset_input_glyph_set(subset_input)
            for gid in sorted(gids | {0}):
                _harfbuzz.hb_set_add(glyph_set, gid)
            _subset.hb_subset_input_set_flags(subset_input, _SUBSET_FLAGS)
            face = _subset.hb_subset_or_fail(self._face, subset_input)
            if face == _ffi.NULL:
                raise RuntimeError(f"HarfBuzz could not subset {self.name}")
            blob = _harfbuzz.hb_face_reference_blob(face)
            length = _ffi.new("unsigned int *")
            data = _ffi.buffer(_harfbuzz.hb_blob_get_data(blob, length), length[0])[:]
            _harfbuzz.hb_blob_destroy(blob)
            _harfbuzz.hb_face_destroy(face)
            return data
        finally:
            _subset.hb_subset_input_destroy(subset_input)


def _table(data: bytes, tag: bytes) -> bytes:
    """One table of a TrueType file, found through its table directory."""
    (count,) = struct.unpack(">H", data[4:6])
    for i in range(count):
        record = data[12 + 16 * i : 28 + 16 * i]
        if record[:4] == tag:
            offset, length = struct.unpack(">II", record[8:16])
            return data[offset : offset + length]
    return b""


@cache
def font(path: Path) -> Font:
    """A font, loaded once per process."""
    return Font(path)
