"""children: the child record (一人一档)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "children",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=6), nullable=False),
        sa.Column("ethnicity", sa.String(length=32), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("household_registration", sa.String(length=200), nullable=True),
        sa.Column("residence", sa.String(length=200), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.String(length=40)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("family_situation", sa.Text(), nullable=True),
        sa.Column("main_income_source", sa.String(length=100), nullable=True),
        sa.Column("father", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("mother", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("school", sa.String(length=100), nullable=True),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("enrolment_status", sa.String(length=20), nullable=True),
        sa.Column("boarding", sa.Boolean(), nullable=True),
        sa.Column("health_notes", sa.Text(), nullable=True),
        sa.Column("disability_notes", sa.Text(), nullable=True),
        sa.Column(
            "subsidies",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("assigned_director_id", sa.Uuid(), nullable=True),
        sa.Column("pairing_helper_name", sa.String(length=64), nullable=True),
        sa.Column("pairing_helper_phone", sa.String(length=20), nullable=True),
        sa.Column("risk_level", sa.String(length=10), nullable=False),
        sa.Column("risk_reason", sa.Text(), nullable=True),
        sa.Column("risk_set_by", sa.Uuid(), nullable=True),
        sa.Column("risk_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closed_reason", sa.String(length=30), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_visit_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_director_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_children_categories", "children", ["categories"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_children_scope", "children", ["county_code", "area_code", "id"], unique=False
    )
    op.create_index(
        "uq_children_id_number_hash",
        "children",
        ["id_number_hash"],
        unique=True,
        postgresql_where=sa.text("id_number_hash IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_children_id_number_hash",
        table_name="children",
        postgresql_where=sa.text("id_number_hash IS NOT NULL"),
    )
    op.drop_index("ix_children_scope", table_name="children")
    op.drop_index("ix_children_categories", table_name="children", postgresql_using="gin")
    op.drop_table("children")
