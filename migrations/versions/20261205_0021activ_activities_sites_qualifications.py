"""Care work: activities (关爱服务/活动台账), sites (阵地) and users' qualifications; both new
tables carried by the sync feed (change-log triggers as in 0010sync).

Revision ID: 0021activ
Revises: 0020cases
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021activ"
down_revision: str | None = "0020cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The change-log trigger function of 0010sync, unchanged (see there): one per table.
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


TRACKED = [("activities", "activity"), ("sites", "site")]
ENTITY_TYPES_BEFORE = ("child", "visit", "agreement", "report", "pairing", "case", "alert")
ENTITY_TYPES = (*ENTITY_TYPES_BEFORE, "activity", "site")

ACTIVITY_KINDS = (
    "publicity",
    "law_education",
    "safety_education",
    "training",
    "care_visit",
    "family_education",
    "counselling",
    "school_aid",
    "goods",
    "children_home_activity",
    "joint_meeting",
    "other",
)
ORGANISER_KINDS = (
    "government",
    "school",
    "social_organisation",
    "volunteers",
    "enterprise",
    "other",
)
SITE_KINDS = ("children_home", "protection_station", "parent_school", "care_centre", "other")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _code(length: int) -> sa.String:
    return sa.String(length=length, collation="C")


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "qualifications",
            postgresql.ARRAY(sa.String(length=32)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(_in("kind", SITE_KINDS), name="ck_sites_kind"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_sites_status"),
        sa.CheckConstraint("county_code = left(area_code, 6)", name="ck_sites_county_of_area"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sites_scope", "sites", ["county_code", "area_code", "id"])
    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("county_code", _code(6), nullable=False),
        sa.Column("area_code", _code(12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("site_id", sa.Uuid(), nullable=True),
        sa.Column("organiser", sa.String(length=200), nullable=True),
        sa.Column("organiser_kind", sa.String(length=24), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("children_served", sa.Integer(), nullable=False),
        sa.Column(
            "child_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column(
            "staff_ids",
            postgresql.ARRAY(sa.Uuid()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("goods", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(_in("kind", ACTIVITY_KINDS), name="ck_activities_kind"),
        sa.CheckConstraint(
            _in("organiser_kind", ORGANISER_KINDS), name="ck_activities_organiser_kind"
        ),
        sa.CheckConstraint(
            "participants >= 0 AND children_served >= 0", name="ck_activities_counts"
        ),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="ck_activities_amount"),
        sa.CheckConstraint("county_code = left(area_code, 6)", name="ck_activities_county_of_area"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_activities_scope", "activities", ["county_code", "area_code", "held_on", "id"]
    )
    op.create_index("ix_activities_county_held", "activities", ["county_code", "held_on", "kind"])
    op.create_index("ix_activities_site", "activities", ["site_id", "held_on"])
    op.create_index("ix_activities_staff", "activities", ["staff_ids"], postgresql_using="gin")

    op.drop_constraint("ck_sync_changes_entity_type", "sync_changes", type_="check")
    op.create_check_constraint(
        "ck_sync_changes_entity_type", "sync_changes", _in("entity_type", ENTITY_TYPES)
    )
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
    op.execute("DELETE FROM sync_changes WHERE entity_type IN ('activity', 'site')")
    op.drop_constraint("ck_sync_changes_entity_type", "sync_changes", type_="check")
    op.create_check_constraint(
        "ck_sync_changes_entity_type", "sync_changes", _in("entity_type", ENTITY_TYPES_BEFORE)
    )
    op.drop_index("ix_activities_staff", table_name="activities", postgresql_using="gin")
    op.drop_index("ix_activities_site", table_name="activities")
    op.drop_index("ix_activities_county_held", table_name="activities")
    op.drop_index("ix_activities_scope", table_name="activities")
    op.drop_table("activities")
    op.drop_index("ix_sites_scope", table_name="sites")
    op.drop_table("sites")
    op.drop_column("users", "qualifications")
