"""statistics: visit count rollups kept by a trigger, county snapshots, covering indexes

Revision ID: 0012stats
Revises: 0011idem
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012stats"
down_revision: str | None = "0011idem"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# China's calendar: the statistics count days and months in Asia/Shanghai.
_DAY = "({v}.visited_at AT TIME ZONE 'Asia/Shanghai')::date"
_MONTH = "date_trunc('month', {v}.visited_at AT TIME ZONE 'Asia/Shanghai')::date"


def _add(v: str, sign: str) -> str:
    return f"""
        INSERT INTO stats_visit_days (county_code, day, kind, visits)
        VALUES ({v}.county_code, {_DAY.format(v=v)}, {v}.kind, {sign}1);
        INSERT INTO stats_visit_months (county_code, area_code, month, kind, visits)
        VALUES ({v}.county_code, {v}.area_code, {_MONTH.format(v=v)}, {v}.kind, {sign}1);"""


def upgrade() -> None:
    op.create_table(
        "stats_visit_days",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("compacted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_stats_visit_days_county",
        "stats_visit_days",
        ["county_code", "day"],
        postgresql_include=["kind", "visits"],
    )
    op.create_index(
        "uq_stats_visit_days_compacted",
        "stats_visit_days",
        ["county_code", "day", "kind"],
        unique=True,
        postgresql_where=sa.text("compacted"),
    )
    op.create_table(
        "stats_visit_months",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("compacted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_stats_visit_months_scope",
        "stats_visit_months",
        ["county_code", "area_code", "month"],
        postgresql_include=["kind", "visits"],
    )
    op.create_index(
        "uq_stats_visit_months_compacted",
        "stats_visit_months",
        ["county_code", "area_code", "month", "kind"],
        unique=True,
        postgresql_where=sa.text("compacted"),
    )
    op.create_table(
        "stats_county_snapshots",
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("registered", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("closed", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("county_code"),
    )
    op.create_index(
        "ix_children_stats",
        "children",
        ["county_code", "area_code"],
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
        ],
    )
    op.create_index(
        "ix_children_subsidised",
        "children",
        ["county_code", "area_code"],
        postgresql_include=["id", "subsidies"],
        postgresql_where=sa.text("status = 'active' AND subsidies <> '[]'::jsonb"),
    )
    op.create_index(
        "ix_agreements_stats",
        "agreements",
        ["county_code", "area_code"],
        postgresql_include=["child_id", "ends_on"],
        postgresql_where=sa.text("status = 'active'"),
    )
    # Every visit that becomes current counts +1, every one that stops being current -1
    # (corrections mark the old version not current; transfers move a child's visits).
    op.execute(
        f"""
        CREATE FUNCTION stats_count_visit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.is_current THEN {_add("OLD", "-")}
            END IF;
            IF NEW.is_current THEN {_add("NEW", "")}
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER visits_stats_insert AFTER INSERT ON visits "
        "FOR EACH ROW EXECUTE FUNCTION stats_count_visit()"
    )
    op.execute(
        "CREATE TRIGGER visits_stats_update "
        "AFTER UPDATE OF is_current, county_code, area_code, visited_at, kind ON visits "
        "FOR EACH ROW WHEN (OLD.is_current IS DISTINCT FROM NEW.is_current "
        "OR OLD.county_code IS DISTINCT FROM NEW.county_code "
        "OR OLD.area_code IS DISTINCT FROM NEW.area_code "
        "OR OLD.visited_at IS DISTINCT FROM NEW.visited_at "
        "OR OLD.kind IS DISTINCT FROM NEW.kind) "
        "EXECUTE FUNCTION stats_count_visit()"
    )
    # The visits already recorded, as compacted rows.
    op.execute(
        f"""
        INSERT INTO stats_visit_days (county_code, day, kind, visits, compacted)
        SELECT v.county_code, {_DAY.format(v="v")}, v.kind, count(*), true
        FROM visits v WHERE v.is_current GROUP BY 1, 2, 3
        """
    )
    op.execute(
        f"""
        INSERT INTO stats_visit_months (county_code, area_code, month, kind, visits, compacted)
        SELECT v.county_code, v.area_code, {_MONTH.format(v="v")}, v.kind, count(*), true
        FROM visits v WHERE v.is_current GROUP BY 1, 2, 3, 4
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER visits_stats_update ON visits")
    op.execute("DROP TRIGGER visits_stats_insert ON visits")
    op.execute("DROP FUNCTION stats_count_visit()")
    op.drop_index("ix_agreements_stats", table_name="agreements")
    op.drop_index("ix_children_subsidised", table_name="children")
    op.drop_index("ix_children_stats", table_name="children")
    op.drop_table("stats_county_snapshots")
    op.drop_table("stats_visit_months")
    op.drop_table("stats_visit_days")
