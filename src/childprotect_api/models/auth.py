"""Refresh-token families (rotation, reuse detection, logout) and login throttling."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Uuid
from sqlmodel import Field, SQLModel

from childprotect_api.models.base import created_at_column


class TokenFamily(SQLModel, table=True):
    """One login session. Every access token names its family (`sid`), so revoking the
    family (logout, refresh-token reuse) stops its access tokens at once."""

    __tablename__ = "token_families"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("users.id"), nullable=False, index=True)
    )
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    revoked_reason: str | None = Field(default=None, sa_column=Column(String(32)))


class RefreshToken(SQLModel, table=True):
    """An opaque refresh token, stored as its SHA-256; used once, then rotated."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_column=Column(Uuid, primary_key=True))
    family_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("token_families.id"), nullable=False, index=True)
    )
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class LoginThrottle(SQLModel, table=True):
    """Failed logins per login name (keyed by an HMAC of the name, existing or not, so the
    lockout reveals nothing about which accounts exist)."""

    __tablename__ = "login_throttle"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_failure_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
