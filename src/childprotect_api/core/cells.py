"""Cells of the files the API writes (CSV, XLSX): text is always text (issue #18).

A spreadsheet takes a cell that starts with `=`, `+`, `-` or `@` as a formula, and a tab or
carriage return can smuggle one in: an area or school named `=HYPERLINK(...)` would become a
live link in an officer's workbook. So (OWASP, "CSV injection"):
- CSV: a text cell starting with one of FORMULA_PREFIXES gets a leading single quote, which
  spreadsheets show as the text itself;
- XLSX: a text cell is written with the string type, never as a formula (the text is kept
  as it is: a workbook cell typed as a string is never evaluated).
Numbers, dates and empty cells are left as they are. Every export, register or report file
writes its cells through `csv_row` / `xlsx_cell` (or `xlsx_row`), except the registers'
workbooks, written by services/registers/sheet.py with every text an inline string."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would read as a formula is quoted with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_text(v) for v in values]


def xlsx_cell(ws: WriteOnlyWorksheet, value: Any) -> Cell:
    """A workbook cell; text is typed as text whatever it starts with."""
    if isinstance(value, Cell):
        return as_text(value)
    return as_text(WriteOnlyCell(ws, value=value))


def as_text(cell: Cell) -> Cell:
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell


# openpyxl types a plain text value as text unless it starts with `=` (a formula) or is an
# error code such as `#N/A`: only those (and anything a formula prefix starts) need a cell
# of their own, which costs a third of a register's writing time when made for every value.
_NEEDS_CELL = (*FORMULA_PREFIXES, "#")


def xlsx_row(ws: WriteOnlyWorksheet, values: Iterable[Any]) -> list[Any]:
    """A line for `ws.append`: every text value typed as text."""
    return [
        xlsx_cell(ws, v)
        if isinstance(v, Cell) or (isinstance(v, str) and v.startswith(_NEEDS_CELL))
        else v
        for v in values
    ]
