"""schooling (dropout) columns on children; the jobs table (bulk imports)

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor_type", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
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
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_jobs_status"
        ),
        sa.CheckConstraint(
            "processed <= total AND created + duplicates + invalid = processed",
            name="ck_jobs_progress",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_actor", "jobs", ["actor_id", "created_at"], unique=False)
    op.create_index("ix_jobs_area", "jobs", ["area_code", "id"], unique=False)
    op.add_column("children", sa.Column("dropout_risk", sa.Boolean(), nullable=True))
    op.add_column("children", sa.Column("dropout_reported_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("children", "dropout_reported_on")
    op.drop_column("children", "dropout_risk")
    op.drop_index("ix_jobs_area", table_name="jobs")
    op.drop_index("ix_jobs_actor", table_name="jobs")
    op.drop_table("jobs")
