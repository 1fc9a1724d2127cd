"""agreements: entrusted-care agreements (委托照护协议) and their status history

At most one active agreement per child is enforced by the partial unique index
uq_agreements_one_active_per_child (child_id WHERE status = 'active').

Revision ID: 0005
Revises: 0003a
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("guardian_name", sa.String(length=64), nullable=False),
        sa.Column("guardian_relation", sa.String(length=20), nullable=False),
        sa.Column("guardian_phone", sa.String(length=20), nullable=True),
        sa.Column("guardian_id_number_enc", sa.LargeBinary(), nullable=True),
        sa.Column("guardian_id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("guardian_id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("guardian_work_place", sa.String(length=200), nullable=True),
        sa.Column("guardian_away_since", sa.Date(), nullable=True),
        sa.Column("caregiver_name", sa.String(length=64), nullable=False),
        sa.Column("caregiver_relation", sa.String(length=30), nullable=False),
        sa.Column("caregiver_phone", sa.String(length=20), nullable=True),
        sa.Column("caregiver_id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("caregiver_id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("caregiver_id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("caregiver_birth_date", sa.Date(), nullable=False),
        sa.Column("caregiver_address", sa.String(length=200), nullable=True),
        sa.Column(
            "checklist",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("school_notified_on", sa.Date(), nullable=True),
        sa.Column("village_committee_notified_on", sa.Date(), nullable=True),
        sa.Column("times_per_week_child", sa.Integer(), nullable=False),
        sa.Column("times_per_week_caregiver", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("guardian_signed_on", sa.Date(), nullable=True),
        sa.Column("guardian_witnessed_by", sa.Uuid(), nullable=True),
        sa.Column("caregiver_signed_on", sa.Date(), nullable=True),
        sa.Column("caregiver_witnessed_by", sa.Uuid(), nullable=True),
        sa.Column("village_committee_signed_on", sa.Date(), nullable=True),
        sa.Column("village_committee_signed_by", sa.Uuid(), nullable=True),
        sa.Column("township_signed_on", sa.Date(), nullable=True),
        sa.Column("township_signed_by", sa.Uuid(), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_reason", sa.String(length=20), nullable=True),
        sa.Column("termination_note", sa.Text(), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("terminated_by", sa.Uuid(), nullable=True),
        sa.Column("expiring_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_fingerprint", sa.String(length=64), nullable=False),
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
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'expired', 'terminated')", name="ck_agreements_status"
        ),
        sa.CheckConstraint("ends_on > starts_on", name="ck_agreements_dates"),
        sa.CheckConstraint(
            "times_per_week_child >= 1 AND times_per_week_caregiver >= 1",
            name="ck_agreements_contact_weekly",
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_witnessed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["children.id"],
        ),
        sa.ForeignKeyConstraint(
            ["guardian_witnessed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["township_signed_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_committee_signed_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_agreements_active_ends",
        "agreements",
        ["ends_on"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_agreements_child", "agreements", ["child_id", "starts_on", "id"], unique=False
    )
    op.create_index(
        "ix_agreements_county_ends", "agreements", ["county_code", "ends_on", "id"], unique=False
    )
    op.create_index(
        "ix_agreements_scope", "agreements", ["county_code", "area_code", "id"], unique=False
    )
    op.create_index(
        "uq_agreements_one_active_per_child",
        "agreements",
        ["child_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "agreement_status_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("county_code", sa.String(length=6, collation="C"), nullable=False),
        sa.Column("area_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("old_status", sa.String(length=12), nullable=True),
        sa.Column("new_status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_agreement_status_changes_agreement",
        "agreement_status_changes",
        ["agreement_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_agreement_status_changes_scope",
        "agreement_status_changes",
        ["county_code", "area_code", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_agreement_status_changes_scope", table_name="agreement_status_changes")
    op.drop_index("ix_agreement_status_changes_agreement", table_name="agreement_status_changes")
    op.drop_table("agreement_status_changes")
    op.drop_index(
        "uq_agreements_one_active_per_child",
        table_name="agreements",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index("ix_agreements_scope", table_name="agreements")
    op.drop_index("ix_agreements_county_ends", table_name="agreements")
    op.drop_index("ix_agreements_child", table_name="agreements")
    op.drop_index(
        "ix_agreements_active_ends",
        table_name="agreements",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("agreements")
