"""A register's workbook (XLSX), written row by row as the records arrive: one worksheet,
a bold header, text as inline strings, numbers as numbers.

Why not openpyxl's write-only workbook: it makes a Cell object and an XML element per value
(about 20 Python calls a cell): a year of a county's visits (300,000 rows of 25 columns)
took 3-4 times as long as the CSV of the same rows. Here a row is one string built by a few
`str.translate`/`join` calls, and the worksheet goes straight into the zip as it is written
(a deflate stream: constant memory, whatever the number of rows).

Cells (core/cells.py, issue #18): a text is always written as an inline string
(`t="inlineStr"`), never as a formula, whatever it starts with (`=`, `+`, `-`, `@`); numbers
(int, float, Decimal) as numbers; None as no cell. Characters XML 1.0 cannot carry (control
characters other than tab and newline) are dropped; a carriage return is kept (`&#13;`)."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import IO, Any
from xml.sax.saxutils import quoteattr

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    _DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OOXML}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_OOXML}.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _DECL + f'<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Style 0: the default; style 1: bold (the header).
_STYLES = (
    _DECL + f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

# One translate per text: the XML escapes, and the characters XML 1.0 cannot carry dropped.
_TEXT = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\r": "&#13;",
        **{chr(c): None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)},
        "\ufffe": None,
        "\uffff": None,
    }
)


FLUSH = 100  # rows


def column_letter(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def text(value: str) -> str:
    """A text as XML character data. (Lone surrogates, which UTF-8 cannot carry, never come
    from the database: PostgreSQL holds valid UTF-8.)"""
    return value.translate(_TEXT)


class SheetWriter:
    """`header()` once, then `rows()` per batch, then `close()`; the file is a valid XLSX
    only once closed. Writes to `f` (a seekable binary file: the zip's directory)."""

    def __init__(self, f: IO[bytes], title: str, width: int) -> None:
        self._zip = zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self._zip.writestr("_rels/.rels", _ROOT_RELS)
        self._zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.writestr(
            "xl/workbook.xml",
            _DECL + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            f'<sheet name={quoteattr(title[:31])} sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>",
        )
        # No ZIP64 (not every reader takes it): zipfile refuses an entry past 2 GB, a size no
        # county's register comes near (a year of a 50,000-child county's visits: ~100 MB).
        self._sheet = self._zip.open("xl/worksheets/sheet1.xml", "w")
        self._sheet.write(
            (_DECL + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetData>').encode()
        )
        self._letters = [column_letter(i) for i in range(width)]
        self._row = 0

    def header(self, values: Sequence[str]) -> None:
        self._write([values], style=' s="1"')

    def rows(self, batch: Iterable[Sequence[Any]]) -> None:
        self._write(batch, style="")

    def _write(self, batch: Iterable[Sequence[Any]], style: str) -> None:
        parts: list[str] = []
        add = parts.append
        letters = self._letters
        table = _TEXT
        n = self._row
        for values in batch:
            n += 1
            row = str(n)
            add(f'<row r="{row}">')
            for letter, v in zip(letters, values, strict=False):
                if v is None:
                    continue
                if isinstance(v, str):
                    add(
                        f'<c r="{letter}{row}"{style} t="inlineStr"><is><t xml:space="preserve">'
                        f"{v.translate(table)}</t></is></c>"
                    )
                elif isinstance(v, bool):  # before int: a bool is an int
                    add(f'<c r="{letter}{row}"{style} t="b"><v>{int(v)}</v></c>')
                elif isinstance(v, int) or (isinstance(v, float | Decimal) and math.isfinite(v)):
                    add(f'<c r="{letter}{row}"{style}><v>{v}</v></c>')
                else:  # anything else (a NaN, a date a column forgot to format): as text
                    add(
                        f'<c r="{letter}{row}"{style} t="inlineStr"><is><t xml:space="preserve">'
                        f"{str(v).translate(table)}</t></is></c>"
                    )
            add("</row>")
            if n % FLUSH == 0:  # a few hundred kB at a time, whatever the batch
                self._sheet.write("".join(parts).encode())
                parts.clear()
        self._row = n
        self._sheet.write("".join(parts).encode())

    def close(self) -> None:
        self._sheet.write(b"</sheetData></worksheet>")  # the header alone if no rows
        self._sheet.close()
        self._zip.close()
