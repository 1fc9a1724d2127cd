"""What makes retries safe beyond each resource's own client id: the answers given to
requests sent with an `Idempotency-Key` header, and the offline updates applied by
POST /sync/push (so that a batch sent again answers `unchanged` instead of a conflict with
itself).

Both are written in the transaction of the work they record, so there is never work without
its record nor a record without its work. Both are pruned by a periodic job."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, SmallInteger, String, Uuid
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class IdempotencyKey(SQLModel, table=True):
    """One answered request per (principal, key). The answer (status, the few headers that
    matter, the body) is encrypted with the data key: bodies hold names, phone numbers and, for
    integration clients and webhooks, secrets shown once."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    # A user's or an integration client's id (uuids: the two never collide).
    principal_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    principal_type: str = Field(sa_column=Column(String(8), nullable=False))
    # Keyed hash (HMAC) of method, path, query and body: the body holds personal data.
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int = Field(sa_column=Column(SmallInteger, nullable=False))
    response_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # What a replay is audited as (the record the answer shows, when it shows one).
    resource_type: str = Field(sa_column=Column(String(32), nullable=False))
    resource_id: uuid.UUID | None = Field(default=None, sa_column=Column(Uuid, nullable=True))
    # The shown record's area (or the caller's), and its county: the distribution key.
    county_code: str | None = Field(
        default=None, sa_column=Column(String(6, collation="C"), nullable=True)
    )
    area_code: str | None = Field(
        default=None, sa_column=Column(String(12, collation="C"), nullable=True)
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SyncPushOp(SQLModel, table=True):
    """An offline update applied by POST /sync/push, by the phone's operation id. Creates need
    no row here: the record's own client-generated id already makes them idempotent."""

    __tablename__ = "sync_push_ops"
    __table_args__ = (Index("ix_sync_push_ops_created_at", "created_at"),)

    principal_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    client_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    op: str = Field(sa_column=Column(String(24), nullable=False))
    entity_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False))
    # Keyed hash of the operation (op, id, base version, data): the same client id with other
    # content is refused.
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
