"""Per-caller request counters for expensive endpoints (statistics, exports, sync, imports).

Kept in PostgreSQL so every API process behind the load balancer shares one count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, String
from sqlmodel import Field, SQLModel


class RateLimitCounter(SQLModel, table=True):
    __tablename__ = "rate_limit_counters"

    key: str = Field(sa_column=Column(String(120), primary_key=True))
    window_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    count: int = Field(default=0, sa_column=Column(Integer, nullable=False))
