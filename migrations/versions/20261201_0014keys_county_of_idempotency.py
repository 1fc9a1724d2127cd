"""Idempotency answers carry the county code of their area, and the county CHECK on the
tables made after 0013perf (idempotency_keys, stats_visit_months).

Revision ID: 0014keys
Revises: 0013perf
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014keys"
down_revision: str | None = "0013perf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("idempotency_keys", "stats_visit_months")


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=True),
    )
    op.execute("UPDATE idempotency_keys SET county_code = left(area_code, 6)")
    for table in TABLES:
        name = f"ck_{table}_county_of_area"
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} "
            "CHECK (county_code = left(area_code, 6)) NOT VALID"
        )
        op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_county_of_area")
    op.drop_column("idempotency_keys", "county_code")
