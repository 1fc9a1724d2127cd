from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from childprotect_api.core import audit
from childprotect_api.core.db import LONG_STATEMENTS, ReadSessionDep, SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.models.area import AreaLevel
from childprotect_api.schemas.stats import (
    Metric,
    StatsBreakdown,
    StatsFormat,
    StatsInterval,
    StatsSummary,
    StatsTrend,
)
from childprotect_api.security.rate_limit import RateLimit
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.stats import export as stats_export
from childprotect_api.services.stats import service as stats_service
from childprotect_api.services.stats.metrics import TRENDABLE

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

_P: dict[str, object] = {"model": Problem}
ERRORS: dict[int | str, dict[str, object]] = {401: _P, 403: _P, 404: _P, 422: _P, 429: _P}

AREA_PATTERN = r"^\d{2}(\d{2}(\d{2}(\d{3}(\d{3})?)?)?)?$"
AreaParam = Annotated[
    str | None,
    Query(
        pattern=AREA_PATTERN,
        description="Area code (2, 4, 6, 9 or 12 digits) in the caller's scope; the caller's "
        "own area by default. An area outside the scope answers 404.",
    ),
]
FromParam = Annotated[
    date | None,
    Query(
        alias="from",
        description="First day of the period (China's calendar); 1 January of `to`'s year "
        "by default.",
    ),
]
ToParam = Annotated[
    date | None,
    Query(
        description=f"Last day of the period, included; today by default. At most "
        f"{stats_service.MAX_PERIOD_DAYS} days from `from`.",
    ),
]

_SUPPRESSION = (
    'For auditors, a figure about fewer than 5 children in a village is the string `"<5"`, '
    "and a figure that would let one compute such a figure (a rate, an amount, a median, or "
    'a term of a sum whose other terms are shown) is `"suppressed"`; other callers get '
    "numbers only."
)
_PERIOD = (
    "Figures *in the period* (registrations, closings, visits made, reports filed) count what "
    "happened between `from` and `to`; the others are as of the request (`as_of`)."
)


SUMMARY_DOC = f"""Every figure of the self-assessment for an area: children by category and risk
level (active; registered and closed in the period, with reasons); visit coverage (children
visited within their required interval / children due, overall and per risk level: a child is
*due* when active and either visited at least once or past its first due date after
registration; *covered* when its next visit is not yet due; *overdue* when that date has
passed); visits made in the period by kind; agreement coverage (left-behind children with an
active agreement / left-behind children) and agreements ending within 30 days; mandatory
reports filed in the period by situation and status, the shares accepted and referred within
the county's time limits, the median hours to acceptance; the workforce (active village
directors and township supervisors, villages without a director); subsidies running today
(children per kind, monthly totals). {_PERIOD} {_SUPPRESSION}"""


@router.get(
    "/summary",
    operation_id="getStatsSummary",
    response_model=StatsSummary,
    responses=ERRORS,
    dependencies=[Depends(RateLimit("stats"))],
    description=SUMMARY_DOC,
)
async def get_summary(
    scope: CurrentScope,
    session: ReadSessionDep,
    area: AreaParam = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> StatsSummary:
    t = await stats_service.target(session, scope, area)
    return await stats_service.summary(session, t, stats_service.period(from_, to))


@router.get(
    "/breakdown",
    operation_id="getStatsBreakdown",
    response_model=StatsBreakdown,
    responses=ERRORS,
    dependencies=[Depends(RateLimit("stats"))],
)
async def get_breakdown(
    scope: CurrentScope,
    session: ReadSessionDep,
    area: AreaParam = None,
    by: Annotated[
        AreaLevel | None,
        Query(description="One or two levels below the area; one level by default."),
    ] = None,
    metric: Annotated[
        list[Metric] | None,
        Query(description="The figures to answer (repeat the parameter); all by default."),
    ] = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> StatsBreakdown:
    """The summary's figures for each area one (or two) levels down, and the area's total.
    Counts, amounts, workforce, activity and site figures of the rows add up to the total;
    rows marked `remainder` hold what is recorded at a higher area itself (a report filed for
    a township, its supervisors, an activity the township or county held itself, its sites).
    Distinct children reached are counted where each child lives, so they add up without a
    remainder. For auditors, suppression as in the summary, computed over the whole
    county so that no village figure below 5 follows from the total and the other rows."""
    t = await stats_service.target(session, scope, area)
    p = stats_service.period(from_, to)
    wanted = list(dict.fromkeys(m.value for m in metric)) if metric else None
    return await stats_service.breakdown(session, t, p, by, wanted)


@router.get(
    "/trend",
    operation_id="getStatsTrend",
    response_model=StatsTrend,
    responses=ERRORS,
    dependencies=[Depends(RateLimit("stats"))],
)
async def get_trend(
    scope: CurrentScope,
    session: ReadSessionDep,
    metric: Annotated[
        Metric, Query(description="A figure with a history: " + ", ".join(TRENDABLE) + ".")
    ],
    area: AreaParam = None,
    interval: StatsInterval = StatsInterval.month,
) -> StatsTrend:
    """A figure month by month over the last twelve months (China's calendar; the current
    month so far last). Figures with a history only: registrations, closings, active
    children at each month's end (from registration and closing dates), visits made, the
    reports' figures by filing month, and care activities held (sessions, participants,
    children served, amount spent, by the day held); others answer 422
    `metric_not_trendable`."""
    t = await stats_service.target(session, scope, area)
    return await stats_service.trend(session, t, metric.value)


@router.get(
    "/export",
    operation_id="exportStats",
    response_class=Response,
    responses={
        200: {
            "description": "The workbook (xlsx) or table (csv) as an attachment.",
            "content": {
                stats_export.XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **ERRORS,
    },
    dependencies=[LONG_STATEMENTS, Depends(RateLimit("export"))],
)
async def export_stats(
    scope: CurrentScope,
    session: SessionDep,
    read: ReadSessionDep,
    area: AreaParam = None,
    from_: FromParam = None,
    to: ToParam = None,
    format: StatsFormat = StatsFormat.xlsx,
) -> Response:
    """The summary and the breakdowns one and two levels down as a file for the
    self-assessment report. xlsx: a sheet 汇总 (one line per figure: section, Chinese label,
    value, metric name) and a sheet per breakdown level (one line per area, one column per
    figure, the total last). csv: one table in UTF-8 with a byte-order mark (for Excel):
    区划代码, 名称, 层级, 本级, then one column per figure; the area's total first, then the
    rows of each level. Suppression as in the summary. The export is recorded in the audit
    log (who, which area)."""
    t = await stats_service.target(read, scope, area)
    p = stats_service.period(from_, to)
    data = await stats_service.export(read, t, p)
    await audit.record(session, scope, "stats.export", "stats", None, t.code)
    stem = f"stats_{t.code}_{p.from_.isoformat()}_{p.to.isoformat()}"
    if format == StatsFormat.csv:
        body, media, name = stats_export.csv_bytes(data), stats_export.CSV, f"{stem}.csv"
    else:
        body, media, name = stats_export.xlsx(data), stats_export.XLSX, f"{stem}.xlsx"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
