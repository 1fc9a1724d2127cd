"""Care work: category applications (认定) with their timeline, removals (减员) and benefit
payments (发放). The benefit categories children already hold are recorded as granted before
the record (an approved application with source `pre_existing` and a `recorded` event).
Applications are carried by the sync feed (directors file them): change-log trigger as in
0021activ; the log's entity type grows to 32 characters for the name.

Revision ID: 0022benef
Revises: 0021activ
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022benef"
down_revision: str | None = "0021activ"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The change-log trigger function of 0010sync, unchanged (see there).
_FUNCTION = """
CREATE FUNCTION sync_log_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sync_changes
            (county_code, area_code, entity_type, entity_id, op, version, filer_id)
        SELECT n.county_code, n.area_code, '{entity}', n.id, 'U', n.version, {filer}
        FROM n;
    ELSE
        WITH d AS (
            SELECT o.county_code AS old_county, o.area_code AS old_area,
                   n.county_code, n.area_code, n.id, n.version, {filer} AS filer_id,
                   f.fields
            FROM o
            JOIN n ON n.id = o.id
            CROSS JOIN LATERAL (SELECT to_jsonb(o) AS oj, to_jsonb(n) AS nj) j
            CROSS JOIN LATERAL (
                SELECT array_agg(k.key ORDER BY k.key) AS fields
                FROM jsonb_each(j.nj) k
                WHERE k.value IS DISTINCT FROM j.oj -> k.key
            ) f
            WHERE f.fields IS NOT NULL
        )
        INSERT INTO sync_changes
            (county_code, area_code, entity_type, entity_id, op, reason, version,
             changed_fields, filer_id)
        SELECT old_county, old_area, '{entity}', id, 'T', 'transferred', version, fields,
               filer_id
        FROM d
        WHERE old_area <> area_code AND '{entity}' <> 'report'
        UNION ALL
        SELECT county_code, area_code, '{entity}', id, 'U', NULL, version, fields, filer_id
        FROM d;
    END IF;
    RETURN NULL;
END $$
"""

TRACKED = [("category_applications", "category_application")]
ENTITY_TYPES_BEFORE = (
    "child",
    "visit",
    "agreement",
    "report",
    "pairing",
    "case",
    "alert",
    "activity",
    "site",
)
ENTITY_TYPES = (*ENTITY_TYPES_BEFORE, "category_application")
TABLES = (
    "category_applications",
    "category_application_events",
    "category_removals",
    "benefit_payments",
)
BENEFIT_CATEGORIES = ("orphan", "de_facto_unsupported", "low_income_disabled_or_ill", "low_income")
STATUSES = ("submitted", "agreed", "returned", "approved", "rejected")
SOURCES = ("application", "pre_existing", "county_import")
REASONS = (
    "turned_18",
    "parent_returned",
    "adopted",
    "moved_away",
    "deceased",
    "no_longer_eligible",
    "other",
)
PAYMENT_KINDS = (
    "orphan_allowance",
    "de_facto_allowance",
    "low_income",
    "education_grant",
    "temporary_assistance",
    "other",
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The categories held today were granted before decisions were recorded: written down as such
# (before the trigger exists, so the feed's initial load serves them, not the log).
# tests/benefits/test_category_removals.py runs these on a child.
BACKFILL = (
    f"""
    INSERT INTO category_applications
        (id, child_id, county_code, area_code, category, status, source, content_hash,
         version, created_at, updated_at)
    SELECT gen_random_uuid(), c.id, c.county_code, c.area_code, cat, 'approved',
           'pre_existing', '', 1, now(), now()
    FROM children c CROSS JOIN LATERAL unnest(c.categories) AS cat
    WHERE {_in("cat", BENEFIT_CATEGORIES)}
    """,
    """
    INSERT INTO category_application_events (application_id, county_code, area_code, kind)
    SELECT id, county_code, area_code, 'recorded'
    FROM category_applications
    WHERE source = 'pre_existing'
    """,
)


def _code(length: int) -> sa.String:
    return sa.String(length=length, collation="C")


def _times() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "category_applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_times(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            _in("category", BENEFIT_CATEGORIES), name="ck_category_applications_category"
        ),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_category_applications_status"),
        sa.CheckConstraint(_in("source", SOURCES), name="ck_category_applications_source"),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_category_applications_scope",
        "category_applications",
        ["county_code", "area_code", "id"],
    )
    op.create_index(
        "ix_category_applications_child", "category_applications", ["child_id", "created_at"]
    )
    op.create_index(
        "ix_category_applications_decided", "category_applications", ["county_code", "decided_at"]
    )
    op.create_table(
        "category_application_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("by", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["category_applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_category_application_events_scope",
        "category_application_events",
        ["county_code", "area_code", "id"],
    )
    op.create_index(
        "ix_category_application_events_application",
        "category_application_events",
        ["application_id", "id"],
    )
    op.create_table(
        "category_removals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *_times(),
        sa.CheckConstraint(
            _in("category", BENEFIT_CATEGORIES), name="ck_category_removals_category"
        ),
        sa.CheckConstraint(_in("reason", REASONS), name="ck_category_removals_reason"),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_category_removals_scope", "category_removals", ["county_code", "area_code", "id"]
    )
    op.create_index("ix_category_removals_child", "category_removals", ["child_id", "removed_on"])
    op.create_index(
        "ix_category_removals_county_on", "category_removals", ["county_code", "removed_on"]
    )
    op.create_table(
        "benefit_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_by_client", sa.Uuid(), nullable=True),
        *_times(),
        sa.CheckConstraint(_in("kind", PAYMENT_KINDS), name="ck_benefit_payments_kind"),
        sa.CheckConstraint("amount > 0", name="ck_benefit_payments_amount"),
        sa.CheckConstraint(
            "(period IS NULL) <> (paid_on IS NULL)", name="ck_benefit_payments_period_or_paid_on"
        ),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_benefit_payments_scope", "benefit_payments", ["county_code", "area_code", "month", "id"]
    )
    op.create_index("ix_benefit_payments_child", "benefit_payments", ["child_id", "month"])
    op.create_index(
        "ix_benefit_payments_county_month", "benefit_payments", ["county_code", "month", "kind"]
    )
    # The statistics' children visited in a period (an index-only read of the span).
    op.create_index(
        "ix_visits_stats_visited",
        "visits",
        ["county_code", "visited_at"],
        postgresql_include=["area_code", "child_id", "visitor_id"],
        postgresql_where=sa.text("is_current"),
    )
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_county_of_area "
            "CHECK (county_code = left(area_code, 6))"
        )

    op.alter_column(
        "sync_changes",
        "entity_type",
        type_=sa.String(length=32),
        existing_type=sa.String(length=16),
        existing_nullable=False,
    )
    op.drop_constraint("ck_sync_changes_entity_type", "sync_changes", type_="check")
    op.create_check_constraint(
        "ck_sync_changes_entity_type", "sync_changes", _in("entity_type", ENTITY_TYPES)
    )
    # The categories held today were granted before decisions were recorded: written down as
    # such (before the trigger exists, so the feed's initial load serves them, not the log).
    for statement in BACKFILL:
        op.execute(statement)
    for table, entity in TRACKED:
        op.execute(_FUNCTION.format(table=table, entity=entity, filer="NULL::uuid"))
        op.execute(
            f"CREATE TRIGGER sync_log_{table}_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS n "
            f"FOR EACH STATEMENT EXECUTE FUNCTION sync_log_{table}()"
        )
        op.execute(
            f"CREATE TRIGGER sync_log_{table}_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS o NEW TABLE AS n "
            f"FOR EACH STATEMENT EXECUTE FUNCTION sync_log_{table}()"
        )


def downgrade() -> None:
    for table, _ in TRACKED:
        op.execute(f"DROP TRIGGER sync_log_{table}_update ON {table}")
        op.execute(f"DROP TRIGGER sync_log_{table}_insert ON {table}")
        op.execute(f"DROP FUNCTION sync_log_{table}()")
    op.execute("DELETE FROM sync_changes WHERE entity_type = 'category_application'")
    op.drop_constraint("ck_sync_changes_entity_type", "sync_changes", type_="check")
    op.create_check_constraint(
        "ck_sync_changes_entity_type", "sync_changes", _in("entity_type", ENTITY_TYPES_BEFORE)
    )
    op.alter_column(
        "sync_changes",
        "entity_type",
        type_=sa.String(length=16),
        existing_type=sa.String(length=32),
        existing_nullable=False,
    )
    op.drop_index("ix_visits_stats_visited", table_name="visits")
    for table in reversed(TABLES):
        op.drop_table(table)
