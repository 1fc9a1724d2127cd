"""What the statistics read besides the records themselves: two rollups of visit counts, the
counties' snapshots for city and province figures, and the covering indexes of the live
figures (services/stats/service.py says why).

The rollups are kept by a trigger on `visits` (see the migration `0012stats`), in the
transaction of each change: every visit that becomes current adds a row +1, every one that
stops being current (a correction, a transfer of its child) a row -1. Rows are only ever
inserted by the trigger, so concurrent visits never wait on one another; a periodic job
(`services/stats/rollup.py`) folds them into one `compacted` row per key. Readers sum every
row of a key, compacted or not, so the figures are exact at any moment.

The same trigger keeps each child's latest current visit (`children.stats_visited_at`,
migration `0024visited`): the children visited in a period are read from the children's index,
not from the period's visits.

What they cost the writes: two small inserts per visit recorded (and per correction or
transfer of a child's visits), one more index entry per change of a child's row
(`ix_children_stats` covers `last_visit_at` and `next_visit_due`, which every visit moves; the
worklist's indexes already make those updates non-HOT), and one more update of the child's
row when a visit becomes its latest or its latest stops being current."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Identity,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from childprotect_api.models.agreement import Agreement
from childprotect_api.models.base import area_code_column, county_code_column, tz_column
from childprotect_api.models.child import Child
from childprotect_api.models.visit import Visit


class VisitDayCount(SQLModel, table=True):
    """Current visits per county, China day and kind: county, city and province figures."""

    __tablename__ = "stats_visit_days"
    __table_args__ = (
        Index(
            "ix_stats_visit_days_county",
            "county_code",
            "day",
            postgresql_include=["kind", "visits"],
        ),
        Index(
            "uq_stats_visit_days_compacted",
            "county_code",
            "day",
            "kind",
            unique=True,
            postgresql_where=text("compacted"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    county_code: str = Field(sa_column=county_code_column())
    day: date = Field(sa_column=Column(Date, nullable=False))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    visits: int = Field(sa_column=Column(Integer, nullable=False))
    compacted: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


class VisitMonthCount(SQLModel, table=True):
    """Current visits per village, China month and kind: township and village figures and
    breakdowns (whole months; the days of a partial month are counted from `visits`)."""

    __tablename__ = "stats_visit_months"
    __table_args__ = (
        Index(
            "ix_stats_visit_months_scope",
            "county_code",
            "area_code",
            "month",
            postgresql_include=["kind", "visits", "visitor_id"],
        ),
        Index(
            "uq_stats_visit_months_compacted",
            "county_code",
            "area_code",
            "month",
            "kind",
            "visitor_id",
            unique=True,
            postgresql_where=text("compacted"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True)
    )
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    month: date = Field(sa_column=Column(Date, nullable=False))
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    # Who made the visits (visits by the visitor's role, as the role is now: migration
    # 0024visited).
    visitor_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    visits: int = Field(sa_column=Column(Integer, nullable=False))
    compacted: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


# The children's figures in one index-only pass over the area's range: every column the
# statistics read is in the index, so a county reads its own slice of it and not one heap page.
_children = Child.__table__  # type: ignore[attr-defined]
STATS_CHILDREN_INDEX = Index(
    "ix_children_stats",
    _children.c.county_code,
    _children.c.area_code,
    postgresql_include=[
        "status",
        "risk_level",
        "categories",
        "created_at",
        "closed_at",
        "closed_reason",
        "last_visit_at",
        "next_visit_due",
        "id",
        "stats_visited_at",
    ],
)
# The children visited in a period and who visited them (statistics `visited`, `visitors`):
# an index-only read of the area's current visits in the span (migration 0022benef).
_visits = Visit.__table__  # type: ignore[attr-defined]
STATS_VISITED_INDEX = Index(
    "ix_visits_stats_visited",
    _visits.c.county_code,
    _visits.c.visited_at,
    postgresql_include=["area_code", "child_id", "visitor_id"],
    postgresql_where=text("is_current"),
)
# The children who receive subsidies, with their grants (an index-only read).
STATS_SUBSIDISED_INDEX = Index(
    "ix_children_subsidised",
    _children.c.county_code,
    _children.c.area_code,
    postgresql_include=["id", "subsidies"],
    postgresql_where=text("status = 'active' AND subsidies <> '[]'::jsonb"),
)
# Active agreements by area with the child they cover (agreement coverage, counts).
_agreements = Agreement.__table__  # type: ignore[attr-defined]
STATS_AGREEMENTS_INDEX = Index(
    "ix_agreements_stats",
    _agreements.c.county_code,
    _agreements.c.area_code,
    postgresql_include=["child_id", "ends_on"],
    postgresql_where=text("status = 'active'"),
)


class CountySnapshot(SQLModel, table=True):
    """A county's figures that do not depend on the period (children by category and level,
    visit coverage, agreements, subsidies) as of `computed_at`, and the days its children were
    registered and closed: city and province figures add these up instead of reading a million
    children (services/stats/snapshots.py refreshes them every few minutes)."""

    __tablename__ = "stats_county_snapshots"

    county_code: str = Field(sa_column=Column(String(6, collation="C"), primary_key=True))
    computed_at: datetime = Field(sa_column=tz_column(nullable=False))
    # metric -> value
    figures: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # China day -> children registered that day
    registered: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    # China day -> {closed reason -> records closed that day (and still closed)}
    closed: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class CountyPeriodFigures(SQLModel, table=True):
    """A county's figures of one period-dependent group of distinct children (`visited`:
    children visited and visits by the visitor's role; `reach`: children reached by
    activities) over one window of China days [day_from, day_to), as of `computed_at`.
    Distinct children are additive over counties (a child lives in one county), so city and
    province figures add these up instead of reading the province's period of visits
    (services/stats/periods.py: refreshed by a job for the periods asked most, stored by a
    request that had to compute one, pruned once older than the age they may be used at)."""

    __tablename__ = "stats_county_periods"

    county_code: str = Field(sa_column=Column(String(6, collation="C"), primary_key=True))
    figure_group: str = Field(sa_column=Column(String(16), primary_key=True))
    day_from: date = Field(sa_column=Column(Date, primary_key=True))
    day_to: date = Field(sa_column=Column(Date, primary_key=True))
    computed_at: datetime = Field(sa_column=tz_column(nullable=False))
    # metric -> value
    figures: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
