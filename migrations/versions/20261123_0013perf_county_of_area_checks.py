"""county_code agrees with area_code on every child-linked table

The county code is the distribution key (Citus) or partition key of every child-linked table
and leads its scope indexes; a row whose county disagreed with its village would be invisible
to the scope filter (county = ... AND area ...) and land on the wrong shard. `children` and
`reports` already refuse such rows; this adds the same CHECK to the other tables. Added NOT
VALID and then validated, so existing rows are checked without blocking reads or writes.
tests/test_distribution_keys.py requires the CHECK on every child-linked table.

Revision ID: 0013perf
Revises: 0012stats
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013perf"
down_revision: str | None = "0012stats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "visits",
    "agreements",
    "agreement_status_changes",
    "child_events",
    "child_risk_changes",
    "report_referrals",
    "report_events",
    "report_notes",
    "attachments",
    "outbox_events",
    "audit_log",
    "sync_changes",
)


def upgrade() -> None:
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
