"""Column helpers shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, String, func


def utcnow() -> datetime:
    return datetime.now(UTC)


# How far ahead of the server a phone's clock may run (visits, registrations, reports).
CLOCK_SKEW = timedelta(minutes=5)


def area_code_column(*, nullable: bool = False, index: bool = False, **kw: Any) -> Column[str]:
    """Area codes compare byte-wise (COLLATE "C") so a prefix LIKE uses a plain btree index."""
    return Column(String(12, collation="C"), nullable=nullable, index=index, **kw)


def county_code_column(**kw: Any) -> Column[str]:
    """The first six digits of the area code: the distribution key of child-linked tables."""
    return Column(String(6, collation="C"), nullable=False, **kw)


def created_at_column() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


def updated_at_column() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


def tz_column(*, nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable, index=index)
