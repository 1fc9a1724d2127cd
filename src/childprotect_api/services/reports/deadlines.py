"""Time limits of mandatory reports: each county's policy (accept within 24 hours, a first
referral within 72, unless the county says otherwise), a report's deadlines, the overdue rule
(for one report in Python, for lists in SQL that the partial indexes serve), and the job
that announces each overdue deadline once in the outbox.

A deadline is met up to and including its instant: a report is overdue only after it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import outbox
from childprotect_api.models.care import AlertKind
from childprotect_api.models.report import (
    DEFAULT_ACCEPT_WITHIN_HOURS,
    DEFAULT_FIRST_REFERRAL_WITHIN_HOURS,
    Report,
    ReportEventKind,
    ReportPolicy,
    ReportStatus,
)
from childprotect_api.services.duties.alerts import raise_alert
from childprotect_api.services.reports.timeline import add_event

log = logging.getLogger(__name__)

OVERDUE_CHECK_SECONDS = 60.0
OVERDUE_BATCH = 500

# Literals, not bound parameters, so that the planner can match the partial indexes
# (ix_reports_accept_due, ix_reports_referral_due) whatever plan it caches.
_SUBMITTED: ColumnElement[str] = literal_column("'submitted'")
_ACCEPTED: ColumnElement[str] = literal_column("'accepted'")
AWAITING_REFERRAL = (ReportStatus.submitted.value, ReportStatus.accepted.value)


async def policy_hours(session: AsyncSession, county_code: str) -> tuple[int, int]:
    """(accept within, first referral within) in hours for a county."""
    policy = await session.get(ReportPolicy, county_code)
    if policy is None:
        return DEFAULT_ACCEPT_WITHIN_HOURS, DEFAULT_FIRST_REFERRAL_WITHIN_HOURS
    return policy.accept_within_hours, policy.first_referral_within_hours


async def deadlines_for(
    session: AsyncSession, county_code: str, received_at: datetime
) -> tuple[datetime, datetime]:
    """(accept by, first referral by): both limits run from when the report reached the
    system."""
    accept_h, referral_h = await policy_hours(session, county_code)
    return received_at + timedelta(hours=accept_h), received_at + timedelta(hours=referral_h)


def accept_overdue(report: Report, now: datetime) -> bool:
    return report.status == ReportStatus.submitted and now > report.accept_deadline


def referral_overdue(report: Report, now: datetime) -> bool:
    return report.status in AWAITING_REFERRAL and now > report.first_referral_deadline


def is_overdue(report: Report, now: datetime) -> bool:
    return accept_overdue(report, now) or referral_overdue(report, now)


def accept_overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(col(Report.status) == _SUBMITTED, col(Report.accept_deadline) < now)


def referral_overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(
        col(Report.status).in_([_SUBMITTED, _ACCEPTED]),
        col(Report.first_referral_deadline) < now,
    )


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """The SQL twin of `is_overdue`."""
    return or_(accept_overdue_clause(now), referral_overdue_clause(now))


async def emit_overdue_reports(
    session: AsyncSession, now: datetime, *, batch: int = OVERDUE_BATCH
) -> int:
    """Record `report.overdue` in the outbox (and on the timeline) for every deadline passed
    and not yet announced; remember it on the report so it is announced once. Safe to run
    in several processes at once (rows another run holds are skipped). Answers the count."""
    count = 0
    checks: list[tuple[str, ColumnElement[bool], Any, str]] = [
        ("accept", accept_overdue_clause(now), Report.accept_overdue_at, "accept_deadline"),
        (
            "first_referral",
            referral_overdue_clause(now),
            Report.referral_overdue_at,
            "first_referral_deadline",
        ),
    ]
    for deadline, clause, mark, deadline_attr in checks:
        stmt = (
            select(Report)
            .where(clause, col(mark).is_(None))
            .order_by(col(getattr(Report, deadline_attr)))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        for report in (await session.execute(stmt)).scalars():
            setattr(report, mark.key, now)
            await outbox.emit(
                session,
                "report.overdue",
                resource_type="report",
                resource_id=report.id,
                area_code=report.area_code,
                payload={
                    "report_id": str(report.id),
                    "situation": report.situation,
                    "status": report.status,
                    "deadline": deadline,
                    "deadline_at": getattr(report, deadline_attr).isoformat(),
                },
            )
            await add_event(
                session, report, ReportEventKind.overdue, None, data={"deadline": deadline}, at=now
            )
            # The county officers' inbox (once per deadline, as the outbox event).
            await raise_alert(
                session,
                AlertKind.report_overdue,
                report.area_code,
                child_id=report.child_id,
                source_id=report.id,
            )
            count += 1
    await session.flush()
    return count
