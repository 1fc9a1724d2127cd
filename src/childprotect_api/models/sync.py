"""The change log the offline sync feed reads (GET /api/v1/sync/changes).

`sync_changes` is filled by database triggers on children, visits, agreements and reports
(migration 0010sync): one row per inserted or changed row, in the same transaction as the
change, so no code path can forget it. A row whose area changed also gets a tombstone ('T')
row for the area it left. Rows are never updated; the pruning job deletes rows older than
`sync_log_days`, and the closed-children job adds 'T' rows for records closed longer than
the app keeps them (services/sync/feed.py).

`txid` is the writing (top-level) transaction's id: the feed serves only rows whose
transaction ended before every snapshot it could still race with — see services/sync/feed.py
for why ordering by (txid, seq) under that horizon never skips a change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    Identity,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import area_code_column, county_code_column, created_at_column


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (`xid8`, from pg_current_xact_id()). Queries cast
    it to text when they read it; Python code never binds it directly."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "XID8"


# Reflection (and so the migrations-vs-models comparison) knows the type by name.
ischema_names.setdefault("xid8", Xid8)


class SyncOp:
    upsert = "U"
    tombstone = "T"


class SyncChange(SQLModel, table=True):
    __tablename__ = "sync_changes"
    __table_args__ = (
        # The feed's scoped read: county first (the distribution key), the village prefix,
        # then the log order.
        Index("ix_sync_changes_scope", "county_code", "area_code", "txid", "seq"),
        # The caller's own reports.
        Index(
            "ix_sync_changes_filer",
            "filer_id",
            "txid",
            "seq",
            postgresql_where=text("filer_id IS NOT NULL"),
        ),
        # The push merge rule: what changed on an entity since a base version.
        Index("ix_sync_changes_entity", "entity_type", "entity_id", "version"),
        # The pruning job (rows older than sync_log_days): the log is appended in time order,
        # so a BRIN index is tiny and enough.
        Index("ix_sync_changes_changed_at", "changed_at", postgresql_using="brin"),
        CheckConstraint("op IN ('U', 'T')", name="ck_sync_changes_op"),
        CheckConstraint(
            "entity_type IN ('child', 'visit', 'agreement', 'report', 'pairing', 'case', 'alert', "
            "'activity', 'site', 'category_application')",
            name="ck_sync_changes_entity_type",
        ),
    )

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, Identity(always=True), primary_key=True),
    )
    txid: int | None = Field(
        default=None,
        sa_column=Column(Xid8(), nullable=False, server_default=text("pg_current_xact_id()")),
    )
    county_code: str = Field(sa_column=county_code_column())
    area_code: str = Field(sa_column=area_code_column())
    entity_type: str = Field(sa_column=Column(String(32), nullable=False))
    entity_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    op: str = Field(sa_column=Column(CHAR(1), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(32)))
    version: int | None = Field(default=None, sa_column=Column(Integer))
    changed_fields: list[str] | None = Field(default=None, sa_column=Column(ARRAY(Text)))
    changed_at: datetime | None = Field(default=None, sa_column=created_at_column())
    filer_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid))
