"""The statistics as a file a county officer pastes into the self-assessment report: the
summary and the breakdowns one and two levels down, from one computation (so the file holds
the same figures as the JSON endpoints, suppression included).

- XLSX (openpyxl): a sheet 汇总 (the area, the period, then one line per figure: section,
  Chinese label, value, metric name), and one sheet per breakdown level (按乡镇（街道）, 按村（居）
  ...: one line per area, one column per figure under its Chinese label, the area's total
  last).
- CSV: one table, UTF-8 with a byte-order mark so that Excel reads the Chinese: 区划代码, 名称,
  层级, 本级 (whether the line holds what is recorded at that area itself), then one column per
  figure; the first line is the area's total, then each breakdown level in turn."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from childprotect_api.core import cells
from childprotect_api.models.area import AreaLevel
from childprotect_api.schemas import stats as s
from childprotect_api.services.children.rules import CHINA_TZ
from childprotect_api.services.enums import ENUM_LABELS
from childprotect_api.services.stats.figures import Figure
from childprotect_api.services.stats.metrics import DEFS, METRICS, MetricKind

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"

SECTIONS = {
    "children": "儿童",
    "visits": "探访",
    "agreements": "委托照护协议",
    "reports": "强制报告",
    "workforce": "工作队伍",
    "subsidies": "补贴",
    "care": "结对帮扶与干预",
    "cases": "个案",
    "measures": "帮扶措施",
    "duties": "帮扶责任",
    "decisions": "认定",
    "removals": "减员",
    "payments": "救助金发放",
    "visited": "探访对象",
    "visitors": "探访人员",
    "activities": "关爱服务活动",
    "training": "业务培训",
    "staff": "专业资格",
    "sites": "阵地建设",
}
NOTE = (
    "说明：为保护儿童隐私，监督检查人员查看时，村（居）级少于5名儿童的数字显示为“<5”，"
    "可据以推算出此类数字的其他数字显示为“suppressed”。"
)


@dataclass
class Export:
    summary: s.StatsSummary
    values: dict[str, Figure]  # the summary's figures by metric name
    breakdowns: list[tuple[AreaLevel, list[s.BreakdownRow]]]
    total: s.BreakdownRow


def _level(level: str) -> str:
    return ENUM_LABELS["area_level"][level][0]


def _cell_value(value: Figure | s.MetricFigure) -> Figure:
    if isinstance(value, s.MetricFigure):  # a breakdown row's figure: the marker or number
        value = value.shown()
    return "" if value is None else value


def _styled(
    ws: WriteOnlyWorksheet, value: Figure | s.MetricFigure, metric: str | None = None
) -> WriteOnlyCell:
    if isinstance(value, s.MetricFigure):
        value = value.shown()
    cell = cells.xlsx_cell(ws, _cell_value(value))
    if metric and isinstance(value, float):
        kind = DEFS[metric].kind
        if kind == MetricKind.rate:
            cell.number_format = "0.00%"
        elif kind in (MetricKind.amount, MetricKind.spent):
            cell.number_format = "#,##0.00"
    return cell


def _bold(ws: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    cell = cells.xlsx_cell(ws, value)
    cell.font = Font(bold=True)
    return cell


def _as_of(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _append(ws: WriteOnlyWorksheet, values: list[Any]) -> None:
    """A line whose every text cell is text, never a formula (core/cells.py)."""
    ws.append(cells.xlsx_row(ws, values))


def xlsx(e: Export) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("汇总")
    a, p = e.summary.area, e.summary.period
    _append(ws, [_bold(ws, "统计区域"), f"{a.name}（{a.code}）"])
    _append(ws, [_bold(ws, "统计期间"), f"{p.from_.isoformat()} 至 {p.to.isoformat()}"])
    _append(ws, [_bold(ws, "统计时间"), _as_of(e.summary.as_of)])
    if e.summary.suppressed:
        _append(ws, [NOTE])
    _append(ws, [])
    _append(ws, [_bold(ws, h) for h in ("类别", "指标", "数值", "指标代码")])
    for m in METRICS:
        section = SECTIONS[m.split(".", 1)[0]]
        _append(ws, [section, DEFS[m].label_zh, _styled(ws, e.values[m], m), m])
    for level, rows in e.breakdowns:
        sheet = wb.create_sheet(f"按{_level(level)}")
        _append(sheet, [_bold(sheet, h) for h in ("区划代码", "名称", "层级", *_labels())])
        for row in [*rows, e.total]:
            name = row.name if row is not e.total else f"{row.name}（合计）"
            _append(
                sheet,
                [
                    row.area_code,
                    name,
                    _level(row.level),
                    *(_styled(sheet, row.values[m], m) for m in METRICS),  # type: ignore[index]
                ],
            )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _labels() -> list[str]:
    return [DEFS[m].label_zh for m in METRICS]


def csv_bytes(e: Export) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(cells.csv_row(["区划代码", "名称", "层级", "本级", *_labels()]))

    def line(row: s.BreakdownRow) -> list[object]:
        return [
            row.area_code,
            row.name,
            _level(row.level),
            "是" if row.remainder else "",
            *(_cell_value(row.values[m]) for m in METRICS),  # type: ignore[index]
        ]

    writer.writerow(cells.csv_row(line(e.total)))
    for _, rows in e.breakdowns:
        for row in rows:
            writer.writerow(cells.csv_row(line(row)))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
