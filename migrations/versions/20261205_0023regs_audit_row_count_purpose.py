"""Registers (台账): the audit row of an export says how many rows it held and, when a
county officer had ID numbers shown in full, the purpose they stated.

Revision ID: 0022regs
Revises: 0022benef
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022regs"
down_revision: str | None = "0022benef"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing (the log is append-only and large).
    op.add_column("audit_log", sa.Column("row_count", sa.Integer(), nullable=True))
    op.add_column("audit_log", sa.Column("purpose", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "purpose")
    op.drop_column("audit_log", "row_count")
