"""The report timeline stays append-only, except that a row's village may change (a child's
transfer moves everything about the child, issue #18): an UPDATE that changes anything but
`county_code` and `area_code` is still refused, as are DELETE and TRUNCATE.

Revision ID: 0017secin
Revises: 0014keys
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017secin"
down_revision: str | None = "0014keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION report_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE'
               AND to_jsonb(NEW) - 'county_code' - 'area_code'
                   = to_jsonb(OLD) - 'county_code' - 'area_code' THEN
                RETURN NEW;  -- the child's transfer: only the village changes
            END IF;
            RAISE EXCEPTION 'report_events is append-only';
        END $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION report_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'report_events is append-only';
        END $$
        """
    )
