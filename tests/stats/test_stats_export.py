"""GET /api/v1/stats/export: the workbook and the CSV hold the figures of the JSON endpoints,
and the export is recorded in the audit log."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from childprotect_api.services.stats.metrics import DEFS, METRICS
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.stats import stats_support as data

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def county(session, settings, world):  # type: ignore[no-untyped-def]
    await data.build(session, settings, world)
    return world


async def _export(client, actor, **params: Any):  # type: ignore[no-untyped-def]
    r = await client.get(f"{data.STATS}/export", params=params, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r


def _same(cell: Any, value: Any) -> bool:
    if value is None:
        return cell in (None, "")
    if isinstance(value, float) or isinstance(cell, float):
        return cell == pytest.approx(value)
    return bool(cell == value)


async def _breakdowns(client, actor, area: str, levels: list[str]) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    out = {}
    for level in levels:
        body = await data.get(client, actor, "breakdown", area=area, by=level, **data.period())
        out[level] = body
    return out


@pytest.mark.parametrize("actor", ["officer", "auditor"])
async def test_the_workbook_holds_the_json_figures(client, county, actor):
    who = county[actor]
    r = await _export(client, who, area=COUNTY, **data.period())
    assert r.headers["content-type"] == XLSX
    p = data.period()
    assert (
        f'filename="stats_{COUNTY}_{p["from"]}_{p["to"]}.xlsx"' in r.headers["content-disposition"]
    )
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总", "按乡镇（街道）", "按村（居）"]

    json = await _breakdowns(client, who, COUNTY, ["township", "village"])
    total = json["township"]["total"]["values"]
    summary = await data.get(client, who, "summary", area=COUNTY, **data.period())
    assert summary["children"]["active"] == total["children.active"]

    sheet = wb["汇总"]
    assert sheet["B1"].value == f"民乐县（{COUNTY}）"
    figures = {row[3]: row[2] for row in sheet.iter_rows(values_only=True) if row[3] in DEFS}
    assert set(figures) == set(METRICS)
    for m in METRICS:
        assert _same(figures[m], total[m]), m

    for level, sheet_name in (("township", "按乡镇（街道）"), ("village", "按村（居）")):
        rows = list(wb[sheet_name].iter_rows(values_only=True))
        header, lines = rows[0], rows[1:]
        assert header[:3] == ("区划代码", "名称", "层级")
        assert list(header[3:]) == [DEFS[m].label_zh for m in METRICS]
        expected = {row["area_code"]: row["values"] for row in json[level]["rows"]}
        assert lines[-1][1].endswith("（合计）")
        assert {line[0] for line in lines[:-1]} == set(expected)
        for line in lines[:-1]:
            for m, cell in zip(METRICS, line[3:], strict=True):
                assert _same(cell, expected[line[0]][m]), (line[0], m)


async def test_auditors_get_the_same_markers_in_the_workbook(client, county):
    r = await _export(client, county["auditor"], area=TOWNSHIP, **data.period())
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总", "按村（居）"]
    cells = [c for row in wb["按村（居）"].iter_rows(values_only=True) for c in row]
    assert "<5" in cells and "suppressed" in cells
    assert any(
        "少于5名儿童" in str(c) for row in wb["汇总"].iter_rows(values_only=True) for c in row
    )


async def test_the_csv_holds_the_json_figures(client, county):
    r = await _export(client, county["officer"], area=COUNTY, format="csv", **data.period())
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header, rows = lines[0], lines[1:]
    assert header[:4] == ["区划代码", "名称", "层级", "本级"]
    assert header[4:] == [DEFS[m].label_zh for m in METRICS]
    json = await _breakdowns(client, county["officer"], COUNTY, ["township", "village"])
    expected = [json["township"]["total"]] + json["township"]["rows"] + json["village"]["rows"]
    assert [row[0] for row in rows] == [e["area_code"] for e in expected]
    for row, e in zip(rows, expected, strict=True):
        assert row[3] == ("是" if e.get("remainder") else "")
        for m, cell in zip(METRICS, row[4:], strict=True):
            value = e["values"][m]
            if value is None:
                assert cell == "", m
            elif isinstance(value, str):
                assert cell == value
            else:
                assert float(cell) == pytest.approx(value), (e["area_code"], m)


async def test_a_village_export_is_the_summary_only(client, county, session):
    r = await _export(client, county["director"], format="xlsx")
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总"]
    events = (
        (await session.execute(select(AuditEvent).where(AuditEvent.action == "stats.export")))
        .scalars()
        .all()
    )
    assert [(e.actor_id, e.area_code, e.resource_type) for e in events] == [
        (county["director"].id, VILLAGE, "stats")
    ]
