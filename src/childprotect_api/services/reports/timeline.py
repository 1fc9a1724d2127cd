"""The report timeline: every step of a report as an immutable event (who, when, what), and
its free-text remarks kept beside it (see models/report.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.base import utcnow
from childprotect_api.models.report import Report, ReportEvent, ReportEventKind, ReportNote
from childprotect_api.security.scope import Scope

SYSTEM_ROLE = "system"


async def add_event(
    session: AsyncSession,
    report: Report,
    kind: ReportEventKind,
    scope: Scope | None,
    *,
    data: dict[str, Any] | None = None,
    referral_id: uuid.UUID | None = None,
    note: str | None = None,
    note_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> ReportEvent:
    """Append an event (and its remark, if any). `scope` None is the system itself."""
    event = ReportEvent(
        report_id=report.id,
        county_code=report.county_code,
        area_code=report.area_code,
        kind=kind.value,
        actor_id=scope.actor_id if scope else None,
        actor_role=scope.role if scope else SYSTEM_ROLE,
        referral_id=referral_id,
        data=data or {},
        at=at or utcnow(),
    )
    session.add(event)
    await session.flush()
    if note:
        assert event.id is not None
        session.add(
            ReportNote(
                id=note_id or uuid.uuid4(),
                report_id=report.id,
                county_code=report.county_code,
                area_code=report.area_code,
                event_id=event.id,
                referral_id=referral_id,
                body=note,
                author_id=scope.actor_id if scope else None,
                created_at=event.at,
            )
        )
        await session.flush()
    return event


async def events_of(
    session: AsyncSession, report_id: uuid.UUID, *, after: int | None, limit: int
) -> list[tuple[ReportEvent, str | None]]:
    """A page of a report's events in order, each with its remark."""
    stmt = (
        select(ReportEvent, col(ReportNote.body))
        .outerjoin(ReportNote, col(ReportNote.event_id) == col(ReportEvent.id))
        .where(col(ReportEvent.report_id) == report_id)
    )
    if after is not None:
        stmt = stmt.where(col(ReportEvent.id) > after)
    stmt = stmt.order_by(col(ReportEvent.id)).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
