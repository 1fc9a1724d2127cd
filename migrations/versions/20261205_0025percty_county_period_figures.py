"""Statistics: the counties' figures of distinct children per period window (children
visited, visits by the visitor's role, children reached by activities), which city and
province figures add up (services/stats/periods.py).

Revision ID: 0025percty
Revises: 0024visited
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025percty"
down_revision: str | None = "0024visited"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_county_periods",
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("figure_group", sa.String(length=16), nullable=False),
        sa.Column("day_from", sa.Date(), nullable=False),
        sa.Column("day_to", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("county_code", "figure_group", "day_from", "day_to"),
    )


def downgrade() -> None:
    op.drop_table("stats_county_periods")
