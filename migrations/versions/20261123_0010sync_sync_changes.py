"""sync_changes: the change log of the offline sync feed, filled by triggers

Revision ID: 0010sync
Revises: 0004v
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from childprotect_api.models.sync import Xid8

revision: str = "0010sync"
down_revision: str | None = "0004v"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tracked tables: (table, entity type, the column naming the filing user or NULL).
TRACKED = [
    ("children", "child", "NULL::uuid"),
    ("visits", "visit", "NULL::uuid"),
    ("agreements", "agreement", "NULL::uuid"),
    ("reports", "report", "n.reporter_user_id"),
]

# One statement-level function per table (set-based: a bulk UPDATE such as a transfer moving
# a child's visits, or the retention job, costs one INSERT ... SELECT, not one per row).
# - INSERT: one 'U' row per new row, changed_fields NULL.
# - UPDATE: the names of the columns whose value differs (to_jsonb(OLD) vs to_jsonb(NEW));
#   nothing is written for a row whose values did not change. A row whose area_code changed
#   also gets a 'T' row (reason 'transferred') for the area it left, so the feed can tell
#   that area's phones to drop it. Reports are read by their filer, not by area: they get no
#   'T' rows (linking a report to a child moves its area but not its filer).
# txid defaults to pg_current_xact_id(): the top-level transaction id, also inside the
# savepoints of a batch push.
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


def upgrade() -> None:
    op.create_table(
        "sync_changes",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("txid", Xid8(), server_default=sa.text("pg_current_xact_id()"), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("op", sa.CHAR(length=1), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("changed_fields", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("filer_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("op IN ('U', 'T')", name="ck_sync_changes_op"),
        sa.CheckConstraint(
            "entity_type IN ('child', 'visit', 'agreement', 'report')",
            name="ck_sync_changes_entity_type",
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(
        "ix_sync_changes_scope",
        "sync_changes",
        ["county_code", "area_code", "txid", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_sync_changes_filer",
        "sync_changes",
        ["filer_id", "txid", "seq"],
        unique=False,
        postgresql_where=sa.text("filer_id IS NOT NULL"),
    )
    op.create_index(
        "ix_sync_changes_entity",
        "sync_changes",
        ["entity_type", "entity_id", "version"],
        unique=False,
    )
    op.create_index(
        "ix_sync_changes_changed_at",
        "sync_changes",
        ["changed_at"],
        unique=False,
        postgresql_using="brin",
    )
    for table, entity, filer in TRACKED:
        op.execute(_FUNCTION.format(table=table, entity=entity, filer=filer))
        # Transition tables need one trigger per event.
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
    for table, _, _ in TRACKED:
        op.execute(f"DROP TRIGGER sync_log_{table}_update ON {table}")
        op.execute(f"DROP TRIGGER sync_log_{table}_insert ON {table}")
        op.execute(f"DROP FUNCTION sync_log_{table}()")
    op.drop_index("ix_sync_changes_changed_at", table_name="sync_changes", postgresql_using="brin")
    op.drop_index("ix_sync_changes_entity", table_name="sync_changes")
    op.drop_index(
        "ix_sync_changes_filer",
        table_name="sync_changes",
        postgresql_where=sa.text("filer_id IS NOT NULL"),
    )
    op.drop_index("ix_sync_changes_scope", table_name="sync_changes")
    op.drop_table("sync_changes")
