"""The non-compliance list as a PDF for the official file, fast enough for tens of thousands of rows.

Measured (bench/noncompliance_pdf.py, bench/RESULTS-noncompliance.md): WeasyPrint lays out a plain
HTML table at 8-14 ms of CPU per row and keeps the whole layout in memory (10,000 rows: 1.3-1.6
GB). This renderer, on the same rows in the same run, takes about a quarter of the CPU time and a
fifth of the memory, and runs on every core:

1. A light layout. Each establishment is one paragraph of two lines (number, name and legal name;
   then RUC, region, category, reason, days overdue and signature status), split by a line feed
   under `white-space: pre-line`, with no inline element: WeasyPrint pays for every paragraph and
   every inline box (the same entry with two `<b>` and a `<br>` cost twice as much), and a table
   costs it column widths on top. Long names wrap like any text (`overflow-wrap: break-word`; `anywhere`
   is several times slower), never cut off.
2. Chunks rendered by a pool of lean processes. A list of more than `SINGLE_DOCUMENT_ROWS` is cut
   into chunks of `CHUNK_ROWS`; this process renders each chunk's HTML (Jinja and gettext are
   cheap) and a worker (app/noncompliance/render_worker.py, which imports WeasyPrint and nothing of
   the portal: ~55 MB against ~120 MB with the app) lays it out with fonts and stylesheets parsed
   once per worker. Layouts run on every core, each worker holds one chunk's layout only, and the
   chunks are joined in order with pypdf. A shorter list is one document rendered here.

"Page N of M" must count the whole document, which no chunk knows while it is laid out. So the
chunks are rendered without page labels; once every chunk's page count is known, the labels are
rendered (as pages carrying nothing but their label, in the strip of the bottom margin, by the same
pool) and stamped onto the pages. A list rendered in one go has its labels from CSS page counters.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
)

from app import i18n
from app.noncompliance import render_worker
from app.noncompliance.service import Row, reason_label, signature_status_label
from app.web import templates

#: Up to this many rows, the list is one document rendered here: starting a pool costs about a
#: second of CPU per worker, more than it saves, and the layout of 1,000 entries takes ~25 MB.
SINGLE_DOCUMENT_ROWS = 1000
#: Rows per chunk: large enough that the per-document cost (page setup, font subsets) is small,
#: small enough that a worker's memory stays low (~70 MB). About 11 pages.
CHUNK_ROWS = 200
#: Page labels rendered per job.
LABEL_PAGES = 250
MAX_WORKERS = 4


@dataclass(frozen=True)
class Heading:
    """What the first page says above the list, already in the reader's language."""

    issuer: str
    directorate: str
    title: str
    running_title: str  # at the top of every page
    facts: tuple[tuple[str, str], ...]  # (label, value): period, generated on, filters
    totals: tuple[tuple[str, int], ...]  # (reason, count), the last one the total
    notes: tuple[str, ...]


def css_string(value: str) -> str:
    """A CSS string literal (the page header and labels are written in the stylesheet).

    Safe inside a <style> element too: no quote, backslash, line break or angle bracket is left.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ")
    escaped = escaped.replace("<", "\\3C ").replace(">", "\\3E ")
    return f'"{escaped}"'


def _page_label_content() -> str:
    """'Page N of M' as CSS `content` with page counters, from the one translated sentence."""
    text = i18n._("Page %(page)s of %(pages)s", page="\x00page\x00", pages="\x00pages\x00")
    parts = []
    for index, piece in enumerate(text.split("\x00")):
        if index % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(css_string(piece))
    return " ".join(parts)


def _chunk_html(
    heading: Heading, rows: Sequence[Row], first_number: int, with_page_labels: bool
) -> str:
    """One chunk of the list as HTML (the heading on the first chunk only), in the current locale."""
    first = first_number == 1
    return templates.get_template("pdf/noncompliance.html").render(
        heading=heading if first else None,
        rows=rows,
        first_number=first_number,
        page_label=_page_label_content() if with_page_labels else None,
        css_string=css_string,
        reason_label=reason_label,
        signature_status_label=signature_status_label,
        running_title=heading.running_title,
    )


def _labels_html(first_page: int, last_page: int, pages: int) -> str:
    """Pages that carry only their 'Page N of M' label, stamped over the pages of the list."""
    labels = [
        i18n._("Page %(page)s of %(pages)s", page=n, pages=pages)
        for n in range(first_page, last_page + 1)
    ]
    return templates.get_template("pdf/noncompliance_labels.html").render(
        labels=labels, css_string=css_string
    )


def _chunks(heading: Heading, rows: Sequence[Row], size: int) -> Iterator[str]:
    for start in range(0, len(rows), size):
        yield _chunk_html(heading, rows[start : start + size], start + 1, False)


def noncompliance_pdf(
    *,
    heading: Heading,
    rows: Sequence[Row],
    locale: str,
    chunk_rows: int = CHUNK_ROWS,
    single_document_rows: int = SINGLE_DOCUMENT_ROWS,
    workers: int | None = None,
) -> bytes:
    """The list as one PDF: a short list in one go, a long one in chunks by a process pool."""
    count = len(rows)
    with i18n.use_locale(locale):
        if count <= max(single_document_rows, chunk_rows):
            return render_worker.render(_chunk_html(heading, rows, 1, True))
        workers = workers or min(MAX_WORKERS, os.cpu_count() or 1, -(-count // chunk_rows))
        # spawn: the web server runs threads, and forking a threaded process is unsafe.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            return _render_in_chunks(pool, heading, rows, chunk_rows)


def _render_in_chunks(
    pool: Executor, heading: Heading, rows: Sequence[Row], chunk_rows: int
) -> bytes:
    writer = PdfWriter()
    for part in pool.map(render_worker.render, _chunks(heading, rows, chunk_rows)):
        for page in PdfReader(io.BytesIO(part)).pages:
            writer.add_page(page)
    total = len(writer.pages)
    jobs = (
        _labels_html(first, min(first + LABEL_PAGES - 1, total), total)
        for first in range(1, total + 1, LABEL_PAGES)
    )
    index = 0
    save, restore = (
        writer._add_object(_stream(b"q\n")),
        writer._add_object(_stream(b"\nQ\n")),
    )
    for labels in pool.map(render_worker.render, jobs):
        for label_page in PdfReader(io.BytesIO(labels)).pages:
            _stamp(writer, writer.pages[index], label_page, save, restore)
            index += 1
    assert index == total, (index, total)
    writer.add_metadata({"/Title": heading.title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stream(data: bytes) -> DecodedStreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return stream


def _stamp(
    writer: PdfWriter,
    page: PageObject,
    label_page: PageObject,
    save: IndirectObject,
    restore: IndirectObject,
) -> None:
    """Draw the label page's content over the page.

    Not pypdf's merge_page: that rewrites every page's content stream uncompressed (ten times the
    file size) and is slow. Here the page's own content is wrapped in q/Q (so its graphics state
    does not leak) and the label's content stream is appended, with its resources (the font, the
    same object for every page) added under their own names.
    """
    resources = page["/Resources"].get_object()
    renamed: dict[bytes, bytes] = {}
    for category, entries in label_page["/Resources"].get_object().items():
        if category == "/ProcSet":
            continue
        if category not in resources:
            resources[NameObject(category)] = DictionaryObject()
        target = resources[category].get_object()
        for name, value in entries.get_object().items():
            # WeasyPrint names fonts the same way in every document: give the label's its own names.
            new_name = "/NCLabel" + name[1:]
            renamed[name[1:].encode()] = new_name[1:].encode()
            target[NameObject(new_name)] = value.clone(writer) if hasattr(value, "clone") else value
    label = label_page["/Contents"].get_object()
    parts = label if isinstance(label, ArrayObject) else [label]
    data = b"\n".join(part.get_object().get_data() for part in parts)
    if renamed:
        names = b"|".join(re.escape(name) for name in renamed)
        data = re.sub(
            rb"/(" + names + rb")(?![^\s/\[\]<>()%])", lambda m: b"/" + renamed[m[1]], data
        )
    stamp = writer._add_object(_stream(data).flate_encode())
    contents = page["/Contents"]
    own = (
        list(contents.get_object())
        if isinstance(contents.get_object(), ArrayObject)
        else [contents]
    )
    page[NameObject("/Contents")] = ArrayObject([save, *own, restore, stamp])
