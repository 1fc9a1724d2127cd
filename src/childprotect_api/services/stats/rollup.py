"""The visit rollups' upkeep (models/stats.py): the periodic job that folds the +1/-1 rows
the trigger inserts into one compacted row per key, and a full rebuild from the visits (for
data loaded with triggers off, such as the benchmark datasets).

Compaction moves the rows its snapshot sees into the compacted rows in one statement per
table; rows inserted meanwhile wait for the next run. One runner at a time across API
processes (a transaction-scoped advisory lock), so compacted rows are only ever written here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK_KEY = 0x43505354  # "CPST"
INTERVAL_SECONDS = 60.0

_COMPACT_DAYS = text(
    """
    WITH moved AS (
        DELETE FROM stats_visit_days WHERE NOT compacted
        RETURNING county_code, day, kind, visits
    ), summed AS (
        SELECT county_code, day, kind, sum(visits)::int AS visits, count(*) AS n
        FROM moved GROUP BY county_code, day, kind
    ), folded AS (
        INSERT INTO stats_visit_days (county_code, day, kind, visits, compacted)
        SELECT county_code, day, kind, visits, true FROM summed
        ON CONFLICT (county_code, day, kind) WHERE compacted
        DO UPDATE SET visits = stats_visit_days.visits + EXCLUDED.visits
    )
    SELECT coalesce(sum(n), 0) FROM summed
    """
)
_COMPACT_MONTHS = text(
    """
    WITH moved AS (
        DELETE FROM stats_visit_months WHERE NOT compacted
        RETURNING county_code, area_code, month, kind, visitor_id, visits
    ), summed AS (
        SELECT county_code, area_code, month, kind, visitor_id, sum(visits)::int AS visits,
               count(*) AS n
        FROM moved GROUP BY county_code, area_code, month, kind, visitor_id
    ), folded AS (
        INSERT INTO stats_visit_months
            (county_code, area_code, month, kind, visitor_id, visits, compacted)
        SELECT county_code, area_code, month, kind, visitor_id, visits, true FROM summed
        ON CONFLICT (county_code, area_code, month, kind, visitor_id) WHERE compacted
        DO UPDATE SET visits = stats_visit_months.visits + EXCLUDED.visits
    )
    SELECT coalesce(sum(n), 0) FROM summed
    """
)


async def compact(session: AsyncSession, now: datetime | None = None) -> int:
    """Fold the pending rows; answer how many were folded (0 when another process runs)."""
    locked = (
        await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    ).scalar_one()
    if not locked:
        return 0
    days = (await session.execute(_COMPACT_DAYS)).scalar_one()
    months = (await session.execute(_COMPACT_MONTHS)).scalar_one()
    return int(days) + int(months)


REBUILD = (
    "TRUNCATE stats_visit_days, stats_visit_months",
    """
    INSERT INTO stats_visit_days (county_code, day, kind, visits, compacted)
    SELECT county_code, (visited_at AT TIME ZONE 'Asia/Shanghai')::date, kind, count(*), true
    FROM visits WHERE is_current GROUP BY 1, 2, 3
    """,
    """
    INSERT INTO stats_visit_months
        (county_code, area_code, month, kind, visitor_id, visits, compacted)
    SELECT county_code, area_code,
           date_trunc('month', visited_at AT TIME ZONE 'Asia/Shanghai')::date, kind, visitor_id,
           count(*), true
    FROM visits WHERE is_current GROUP BY 1, 2, 3, 4, 5
    """,
    # Each child's latest current visit (children.stats_visited_at): rows are written only
    # where it differs.
    """
    UPDATE children c SET stats_visited_at = NULL
    WHERE stats_visited_at IS NOT NULL
      AND NOT EXISTS (SELECT FROM visits v WHERE v.child_id = c.id AND v.is_current)
    """,
    """
    UPDATE children c SET stats_visited_at = m.at
    FROM (
        SELECT child_id, max(visited_at) AS at FROM visits WHERE is_current GROUP BY child_id
    ) m
    WHERE c.id = m.child_id AND c.stats_visited_at IS DISTINCT FROM m.at
    """,
)


async def rebuild(session: AsyncSession) -> None:
    """Recount both rollups and the children's latest visits from the visits (run with
    writes to visits stopped)."""
    for sql in REBUILD:
        await session.execute(text(sql))
