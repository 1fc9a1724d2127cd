"""statistics: the children visited in a period and the visits by visitor role without reading
the period's visits: each child's latest current visit (kept by the visits' trigger, covered
by `ix_children_stats`), and the visitor in the village-month rollup.

Revision ID: 0024visited
Revises: 0022regs
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024visited"
down_revision: str | None = "0022regs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# China's calendar: the statistics count days and months in Asia/Shanghai.
_DAY = "({v}.visited_at AT TIME ZONE 'Asia/Shanghai')::date"
_MONTH = "date_trunc('month', {v}.visited_at AT TIME ZONE 'Asia/Shanghai')::date"

_CHILDREN_INCLUDE = [
    "status",
    "risk_level",
    "categories",
    "created_at",
    "closed_at",
    "closed_reason",
    "last_visit_at",
    "next_visit_due",
    "id",
]

# Each child's latest current visit, from the visits in the order of their child index (a
# streamed aggregate: a hashed one over a province's children spills to disk). The column is
# new, so the children without a current visit keep NULL.
LATEST = """
    UPDATE children c SET stats_visited_at = m.at
    FROM (
        SELECT child_id, max(visited_at) AS at FROM visits WHERE is_current GROUP BY child_id
    ) m
    WHERE c.id = m.child_id
"""


def _function(months: str, latest: bool) -> str:
    def add(v: str, sign: str) -> str:
        return f"""
        INSERT INTO stats_visit_days (county_code, day, kind, visits)
        VALUES ({v}.county_code, {_DAY.format(v=v)}, {v}.kind, {sign}1);
        INSERT INTO stats_visit_months ({months})
        VALUES ({v}.county_code, {v}.area_code, {_MONTH.format(v=v)}, {v}.kind,
                {"" if not latest else f"{v}.visitor_id, "}{sign}1);"""

    gone = (
        """
        -- the child's latest current visit may be gone or earlier now
        UPDATE children c SET stats_visited_at = latest.at
        FROM (SELECT max(v.visited_at) AS at FROM visits v
              WHERE v.child_id = OLD.child_id AND v.is_current) latest
        WHERE c.id = OLD.child_id AND c.stats_visited_at IS DISTINCT FROM latest.at;"""
        if latest
        else ""
    )
    came = (
        """
        UPDATE children SET stats_visited_at = NEW.visited_at
        WHERE id = NEW.child_id
          AND (stats_visited_at IS NULL OR stats_visited_at < NEW.visited_at);"""
        if latest
        else ""
    )
    return f"""
        CREATE OR REPLACE FUNCTION stats_count_visit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.is_current THEN {add("OLD", "-")}{gone}
            END IF;
            IF NEW.is_current THEN {add("NEW", "")}{came}
            END IF;
            RETURN NULL;
        END $$
        """


def _update_trigger(columns: list[str]) -> str:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    return (
        f"CREATE TRIGGER visits_stats_update AFTER UPDATE OF {', '.join(columns)} ON visits "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION stats_count_visit()"
    )


_OLD_COLUMNS = ["is_current", "county_code", "area_code", "visited_at", "kind"]
_NEW_COLUMNS = [*_OLD_COLUMNS, "visitor_id", "child_id"]


def _months_indexes(with_visitor: bool) -> None:
    extra = ["visitor_id"] if with_visitor else []
    op.create_index(
        "ix_stats_visit_months_scope",
        "stats_visit_months",
        ["county_code", "area_code", "month"],
        postgresql_include=["kind", "visits", *extra],
    )
    op.create_index(
        "uq_stats_visit_months_compacted",
        "stats_visit_months",
        ["county_code", "area_code", "month", "kind", *extra],
        unique=True,
        postgresql_where=sa.text("compacted"),
    )


def _recount_months(with_visitor: bool) -> None:
    v = ", visitor_id" if with_visitor else ""
    op.execute("TRUNCATE stats_visit_months")
    op.execute(
        f"""
        INSERT INTO stats_visit_months (county_code, area_code, month, kind{v}, visits, compacted)
        SELECT county_code, area_code, {_MONTH.format(v="visits")}, kind{v}, count(*), true
        FROM visits WHERE is_current GROUP BY 1, 2, 3, 4{", 5" if with_visitor else ""}
        """
    )


# A change of `stats_visited_at` alone is no change a device syncs (the sync log's trigger
# on children, migration 0010sync, would log one per visit and one per child on the
# backfill): its changed fields leave the column out, and a row with no other change logs
# nothing. A later migration that writes sync_log_children() anew must keep that.
_FIELDS = "WHERE k.value IS DISTINCT FROM j.oj -> k.key"
_FIELDS_BUT_LATEST = f"{_FIELDS} AND k.key <> ''stats_visited_at''"


def _sync_log(old: str, new: str) -> str:
    return f"""
        DO $$
        DECLARE src text := pg_get_functiondef('sync_log_children'::regproc);
        BEGIN
            IF position('{old}' in src) = 0 THEN
                RAISE EXCEPTION 'sync_log_children() is not the one expected';
            END IF;
            EXECUTE replace(src, '{old}', '{new}');
        END $$
        """


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing; the backfill below fills it.
    op.add_column(
        "children", sa.Column("stats_visited_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("DROP TRIGGER visits_stats_update ON visits")
    op.execute(_function("county_code, area_code, month, kind, visitor_id, visits", True))
    op.execute(_update_trigger(_NEW_COLUMNS))

    op.drop_index("uq_stats_visit_months_compacted", table_name="stats_visit_months")
    op.drop_index("ix_stats_visit_months_scope", table_name="stats_visit_months")
    op.add_column("stats_visit_months", sa.Column("visitor_id", sa.Uuid(), nullable=True))
    _recount_months(True)
    op.alter_column("stats_visit_months", "visitor_id", nullable=False)
    _months_indexes(True)

    op.execute(_sync_log(_FIELDS, _FIELDS_BUT_LATEST))
    # Without the index that covers the new column while every child's row is rewritten, and
    # without the sync log (nothing a device sees changes).
    op.drop_index("ix_children_stats", table_name="children")
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute("ALTER TABLE children DISABLE TRIGGER sync_log_children_update")
    op.execute(LATEST)
    op.execute("ALTER TABLE children ENABLE TRIGGER sync_log_children_update")
    op.create_index(
        "ix_children_stats",
        "children",
        ["county_code", "area_code"],
        postgresql_include=[*_CHILDREN_INCLUDE, "stats_visited_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_children_stats", table_name="children")
    op.create_index(
        "ix_children_stats",
        "children",
        ["county_code", "area_code"],
        postgresql_include=_CHILDREN_INCLUDE,
    )
    op.execute("DROP TRIGGER visits_stats_update ON visits")
    op.execute(_function("county_code, area_code, month, kind, visits", False))
    op.execute(_update_trigger(_OLD_COLUMNS))
    op.drop_index("uq_stats_visit_months_compacted", table_name="stats_visit_months")
    op.drop_index("ix_stats_visit_months_scope", table_name="stats_visit_months")
    op.drop_column("stats_visit_months", "visitor_id")
    _recount_months(False)
    _months_indexes(False)
    op.drop_column("children", "stats_visited_at")
    op.execute(_sync_log(_FIELDS_BUT_LATEST, _FIELDS))
