"""children registry: history of transfers and closing, create fingerprint, checks, indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Guards the application also enforces, so that no other writer (a script, a later module)
# can store a record the API could not read back. Autogenerate does not see these.
CHILD_CHECKS = {
    "ck_children_county_of_area": "county_code = left(area_code, 6)",
    "ck_children_village_code": "area_code ~ '^[0-9]{12}$'",
    "ck_children_gender": "gender IN ('male', 'female')",
    "ck_children_risk_level": "risk_level IN ('blue', 'yellow', 'orange', 'red')",
    "ck_children_status": "status IN ('active', 'closed')",
    "ck_children_closed_reason": "status = 'active' OR closed_reason IS NOT NULL",
}


def upgrade() -> None:
    op.create_table(
        "child_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("closed_reason", sa.String(length=30), nullable=True),
        sa.Column("from_area_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("to_area_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("by", sa.Uuid(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "kind IN ('transferred', 'closed', 'reopened')", name="ck_child_events_kind"
        ),
    )
    op.create_index("ix_child_events_child", "child_events", ["child_id", "id"], unique=False)
    op.create_index("ix_child_events_from", "child_events", ["from_area_code", "id"], unique=False)
    op.create_index(
        "ix_child_events_scope",
        "child_events",
        ["county_code", "area_code", "id"],
        unique=False,
    )
    op.create_index("ix_audit_log_county_recent", "audit_log", ["county_code", "id"], unique=False)
    op.add_column("children", sa.Column("create_fingerprint", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_children_active_birth_date",
        "children",
        ["birth_date"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    for name, condition in CHILD_CHECKS.items():
        op.create_check_constraint(name, "children", condition)


def downgrade() -> None:
    for name in CHILD_CHECKS:
        op.drop_constraint(name, "children", type_="check")
    op.drop_index(
        "ix_children_active_birth_date",
        table_name="children",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_column("children", "create_fingerprint")
    op.drop_index("ix_audit_log_county_recent", table_name="audit_log")
    op.drop_index("ix_child_events_scope", table_name="child_events")
    op.drop_index("ix_child_events_from", table_name="child_events")
    op.drop_index("ix_child_events_child", table_name="child_events")
    op.drop_table("child_events")
