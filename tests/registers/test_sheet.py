"""The registers' workbook writer (services/registers/sheet.py): a valid XLSX that openpyxl
reads back cell for cell, text never a formula, numbers as numbers, gaps kept in place."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

from openpyxl import load_workbook

from childprotect_api.services.registers.sheet import SheetWriter, column_letter


def _write(title: str, header: list[str], *batches: list[list[object]]) -> bytes:
    f = io.BytesIO()
    sheet = SheetWriter(f, title, len(header))
    sheet.header(header)
    for batch in batches:
        sheet.rows(batch)
    sheet.close()
    return f.getvalue()


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"
    ]  # fmt: skip


def test_cells_read_back_as_written() -> None:
    header = [f"列{i}" for i in range(30)]
    row: list[object] = [None] * 30
    row[0] = '=HYPERLINK("https://evil.example","点击")'
    row[1] = "+1"
    row[2] = "-2"
    row[3] = "@SUM(A1)"
    row[4] = "a & b <c> \"d\" 'e'"
    row[5] = "第一行\n第二行\r\n第三行\t制表"
    row[6] = "bell\x07 and nul\x00 dropped"
    row[7] = 42
    row[8] = Decimal("1050.00")
    row[9] = 2.5
    row[10] = float("nan")  # not a number a workbook can hold: as text
    row[11] = True
    row[12] = "#N/A"
    row[13] = "  leading and trailing  "
    row[29] = "最后一列"
    data = _write("补贴发放台账", header, [row], [[1, None, "x"]])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "补贴发放台账"
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == header
    assert all(c.font.b for c in rows[0])
    cells = rows[1]
    assert not cells[7].font.b
    for i in (0, 1, 2, 3, 12):
        assert (cells[i].value, cells[i].data_type) == (row[i], "s")
    assert cells[4].value == row[4]
    assert cells[5].value == "第一行\n第二行\r\n第三行\t制表"
    assert cells[6].value == "bell and nul dropped"
    assert (cells[7].value, cells[7].data_type) == (42, "n")
    assert cells[8].value == 1050
    assert cells[9].value == 2.5
    assert (cells[10].value, cells[10].data_type) == ("nan", "s")
    assert cells[11].value is True
    assert cells[13].value == "  leading and trailing  "
    assert [c.value for c in cells[14:29]] == [None] * 15
    assert cells[29].value == "最后一列"
    assert [c.value for c in rows[2][:3]] == [1, None, "x"]
    assert ws.max_row == 3


def test_an_empty_register_is_its_header_and_the_title_is_cut_to_31() -> None:
    data = _write("台账<&>" + "长" * 40, ["序号", "姓名"])
    ws = load_workbook(io.BytesIO(data)).active
    assert ws.title == ("台账<&>" + "长" * 40)[:31]
    assert [[c.value for c in r] for r in ws.iter_rows()] == [["序号", "姓名"]]
