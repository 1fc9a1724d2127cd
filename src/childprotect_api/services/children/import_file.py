"""Reading a screening (摸排) file: CSV (UTF-8 or GBK, as Excel saves it) or XLSX, and each
row turned into a ChildCreate or into the reasons it cannot be one (the columns and the words
accepted in cells are in child_import_columns). No database here: the registry's rules run
when the row is created."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from childprotect_api.core.errors import (
    AppError,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from childprotect_api.models.child import ParentSituation
from childprotect_api.schemas.child import ChildCreate
from childprotect_api.schemas.child_import import RowError
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.import_columns import (
    CATEGORIES,
    ENROLMENT,
    GENDER,
    NO,
    PARENT,
    RISK,
    YES,
    map_columns,
    norm,
)

MAX_ROWS = 20_000
MAX_COLUMNS = 64
# A workbook is a zip: refuse one that unpacks to more than this (a zip bomb).
MAX_XLSX_UNPACKED = 200 * 1024 * 1024

_SEPARATORS = re.compile(r"[;；、,，]+")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


@dataclass
class Table:
    """The header and the data rows: (row number as a spreadsheet shows it, cells)."""

    header: list[str]
    rows: list[tuple[int, list[Any]]]


@dataclass
class ParsedRow:
    row: int
    data: ChildCreate | None = None
    errors: list[RowError] = field(default_factory=list)


# --- the file ---------------------------------------------------------------------------


def read_table(raw: bytes) -> Table:
    """CSV or XLSX by content (names and media types are often wrong on uploads)."""
    if raw.startswith(b"PK\x03\x04"):
        return _read_xlsx(raw)
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedMediaType(
            "old .xls workbooks are not read: save the sheet as .xlsx or CSV",
            code="unsupported_file_type",
        )
    if b"\x00" in raw[:4096]:
        raise UnsupportedMediaType("the file must be CSV or XLSX", code="unsupported_file_type")
    return _read_csv(_decode(raw))


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unprocessable.field("file", "must be UTF-8 or GBK text", code="bad_encoding")


def _keep(rows: list[tuple[int, list[Any]]], number: int, cells: list[Any]) -> None:
    if any(c is not None and str(c).strip() for c in cells):
        if len(rows) >= MAX_ROWS:
            raise Unprocessable.field(
                "file", f"has more than {MAX_ROWS} rows: split it", code="too_many_rows"
            )
        rows.append((number, cells[:MAX_COLUMNS]))


def _read_csv(text: str) -> Table:
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, None)
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in enumerate(reader, start=2):
            _keep(rows, number, list(cells))
    except csv.Error as e:
        raise Unprocessable.field("file", "is not valid CSV", code="bad_csv") from e
    if not header:
        raise Unprocessable.field("file", "is empty", code="empty_file")
    return Table([str(h) for h in header[:MAX_COLUMNS]], rows)


def _read_xlsx(raw: bytes) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as e:
        raise _bad_workbook() from e
    if unpacked > MAX_XLSX_UNPACKED:
        raise PayloadTooLarge("the workbook unpacks to too much data", code="file_too_large")
    try:
        header, rows = _sheet_rows(raw)
    except AppError:
        raise
    except Exception as e:  # any parser failure on an uploaded file is the file's fault
        raise _bad_workbook() from e
    if not header or not any(h is not None for h in header):
        raise Unprocessable.field("file", "is empty", code="empty_file")
    return Table(["" if h is None else str(h) for h in header], rows)


def _bad_workbook() -> Unprocessable:
    return Unprocessable.field("file", "is not a readable XLSX workbook", code="bad_workbook")


def _sheet_rows(raw: bytes) -> tuple[Any, list[tuple[int, list[Any]]]]:
    """The first sheet's header and non-blank rows (openpyxl, read-only; defusedxml parses)."""
    from openpyxl import load_workbook  # imported when needed: it is slow to import

    book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    try:
        it = book.worksheets[0].iter_rows(values_only=True, max_col=MAX_COLUMNS)
        header = next(it, None)
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in enumerate(it, start=2):
            _keep(rows, number, list(cells))
        return header, rows
    finally:
        book.close()


# --- a row ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # codes typed as numbers in a spreadsheet
    text = str(value).strip()
    return text or None


def _date(value: Any) -> date | str:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(_text(value))
    m = _DATE.match(text)
    if m is None and len(text) == 8 and text.isdigit():
        m = re.match(r"(\d{4})(\d{2})(\d{2})", text)
    if m is not None:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    return text  # left for the schema to reject with its own message


# Columns whose text is converted (the others go to ChildCreate as they are).
_CONVERTED = frozenset(
    {
        "birth_date",
        "gender",
        "categories",
        "enrolment_status",
        "risk_level",
        "boarding",
        "father_situation",
        "father_work_place",
        "mother_situation",
        "mother_work_place",
    }
)


class _RowErrors(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors


def _code(table: dict[str, str], value: str, fieldname: str, what: str) -> str:
    code = table.get(norm(value))
    if code is None:
        raise _RowErrors([RowError(field=fieldname, code="unknown_value", message=f"not a {what}")])
    return code


def _categories(value: str) -> list[str]:
    out = []
    for i, item in enumerate(p for p in _SEPARATORS.split(value) if p.strip()):
        code = CATEGORIES.get(norm(item))
        if code is None:
            raise _RowErrors(
                [
                    RowError(
                        field="categories",
                        code="unknown_category",
                        message=f"item {i + 1} is not a known category",
                    )
                ]
            )
        out.append(code)
    return out


def _parent(cells: dict[str, str], who: str) -> dict[str, Any] | None:
    situation = cells.get(f"{who}_situation")
    work_place = cells.get(f"{who}_work_place")
    if situation is None and work_place is None:
        return None
    code = (
        _code(PARENT, situation, f"{who}.situation", "known situation")
        if situation
        else ParentSituation.working_away.value
    )
    return {"situation": code, "work_place": work_place}


def _values(cells: dict[str, Any]) -> dict[str, Any]:
    """Cell values -> ChildCreate input (raises _RowErrors for values it cannot read)."""
    texts: dict[str, str] = {}
    for name, value in cells.items():
        text = _text(value)
        if text is not None:
            texts[name] = text
    out: dict[str, Any] = {k: v for k, v in texts.items() if k not in _CONVERTED}
    if "birth_date" in texts:
        out["birth_date"] = _date(cells["birth_date"])
    if "gender" in texts:
        out["gender"] = _code(GENDER, texts["gender"], "gender", "gender (男/女)")
    if "categories" in texts:
        out["categories"] = _categories(texts["categories"])
    if "enrolment_status" in texts:
        out["enrolment_status"] = _code(
            ENROLMENT, texts["enrolment_status"], "enrolment_status", "known enrolment status"
        )
    if "risk_level" in texts:
        out["risk_level"] = _code(RISK, texts["risk_level"], "risk_level", "risk level")
    if "boarding" in texts:
        flag = norm(texts["boarding"])
        if flag not in YES | NO:
            error = RowError(field="boarding", code="unknown_value", message="not 是/否")
            raise _RowErrors([error])
        out["boarding"] = flag in YES
    for who in ("father", "mother"):
        parent = _parent(texts, who)
        if parent is not None:
            out[who] = parent
    _from_id_number(out)
    return out


def _from_id_number(out: dict[str, Any]) -> None:
    """A blank birth date or gender is read from a valid ID number."""
    if "id_number" not in out or ("birth_date" in out and "gender" in out):
        return
    try:
        info = id_numbers.parse(str(out["id_number"]))
    except ValueError:
        return  # the registry's rules name the problem
    out.setdefault("birth_date", info.birth_date)
    out.setdefault("gender", info.gender)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "row"


def parse_row(number: int, cells: list[Any], columns: dict[int, str]) -> ParsedRow:
    values = {name: cells[i] for i, name in columns.items() if i < len(cells)}
    try:
        data = ChildCreate.model_validate(_values(values))
    except _RowErrors as e:
        return ParsedRow(number, errors=e.errors)
    except ValidationError as e:
        # Pydantic's messages state the rule, not the value (`input` is left out).
        errors = [
            RowError(field=_field(err["loc"]), code=err["type"], message=err["msg"])
            for err in e.errors(include_url=False, include_input=False)
        ]
        return ParsedRow(number, errors=errors)
    return ParsedRow(number, data=data)


def parse_rows(table: Table) -> tuple[list[ParsedRow], list[str]]:
    columns, ignored = map_columns(table.header)
    return [parse_row(n, cells, columns) for n, cells in table.rows], ignored
