"""The audit log's scoped read (county officers, auditors, admins). The writer is
core/audit.py: every change records its event in its own transaction.

What each reader sees (README "Security"):

- County officers: every row about records in their county, as written.
- Admins: the same rows in their scope, except that rows about mandatory reports (and the
  linking of a report to a child) never say who acted: no actor, client, role or request id,
  and the time only to the day (China's calendar), so that they cannot be joined with other
  rows to name a filer. `?user_id=` never matches such rows. Only county officers of the
  report's area (and the filer, through the report itself) learn who filed it.
- Auditors: the log's use of data, at county grain and no finer: no actor, client, resource
  or request id, the area only to the county, the time only to the day. They cannot filter
  by user or child; rows about reports withhold the role as well. An auditor whose area is
  below a county sees only their own actions: counting rows in a village would otherwise
  count its children and reports, which the statistics suppress as "<5"
  (docs/statistics.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import ColumnElement, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import Forbidden
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.user import Role
from childprotect_api.schemas.audit import AuditEventRead
from childprotect_api.security.scope import Action, Scope, apply_scope

CHINA = timezone(timedelta(hours=8))
WITHHELD_ROLE = "withheld"
COUNTY_LENGTH = 6


def _about_report() -> ColumnElement[bool]:
    """Rows whose actor could be a report's filer: any row about a report, and the linking of
    a report to a child (written in the filing request when the child is named at intake)."""
    return or_(col(AuditEvent.resource_type) == "report", col(AuditEvent.action) == "link_report")


def _is_about_report(row: AuditEvent) -> bool:
    return row.resource_type == "report" or row.action == "link_report"


def _day(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)


def _county_of(area_code: str | None) -> str | None:
    if area_code is None:
        return None
    return area_code[:COUNTY_LENGTH]


def _as_read(row: AuditEvent, scope: Scope) -> AuditEventRead:
    item = AuditEventRead.model_validate(row)
    if scope.role != Role.county_officer and item.purpose is not None:
        # A stated purpose is free text about a county's own work: its officers read it.
        item = item.model_copy(update={"purpose": None})
    if scope.role == Role.auditor:
        return item.model_copy(
            update={
                "at": _day(row.at),
                "actor_id": None,
                "client_id": None,
                "resource_id": None,
                "request_id": None,
                "area_code": _county_of(row.area_code),
                **({"actor_role": WITHHELD_ROLE} if _is_about_report(row) else {}),
            }
        )
    if scope.role != Role.county_officer and _is_about_report(row):
        return item.model_copy(
            update={
                "at": _day(row.at),
                "actor_id": None,
                "client_id": None,
                "actor_role": WITHHELD_ROLE,
                "request_id": None,
            }
        )
    return item


async def list_events(
    session: AsyncSession,
    scope: Scope,
    *,
    resource_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
    before_id: int | None,
) -> tuple[list[AuditEventRead], int | None]:
    """Newest first, in the caller's scope (by the area of the record each row is about),
    shown as the module's docstring says. Answers the rows and the id of the last one (the
    next page's cursor)."""
    scope.require(Action.audit_read)
    stmt = select(AuditEvent)
    if scope.role == Role.auditor:
        if resource_id is not None or actor_id is not None:
            raise Forbidden(
                "auditors see the audit log by county and day, not per user or record",
                code="audit_filter_forbidden",
            )
        if len(scope.area_code) > COUNTY_LENGTH:
            # Below a county, counts of rows would be counts of children: own actions only.
            stmt = stmt.where(col(AuditEvent.actor_id) == scope.actor_id)
        else:
            stmt = apply_scope(stmt, scope, col(AuditEvent.area_code), col(AuditEvent.county_code))
            if not scope.area_code:
                # Rows about the system or an area above counties still need a county grain.
                stmt = stmt.where(col(AuditEvent.county_code).is_not(None))
    else:
        stmt = apply_scope(stmt, scope, col(AuditEvent.area_code), col(AuditEvent.county_code))
    if resource_id is not None:
        stmt = stmt.where(col(AuditEvent.resource_id) == resource_id)
    if actor_id is not None:
        stmt = stmt.where(col(AuditEvent.actor_id) == actor_id)
        if scope.role != Role.county_officer:
            stmt = stmt.where(not_(_about_report()))
    if since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= since)
    if before_id is not None:
        stmt = stmt.where(col(AuditEvent.id) < before_id)
    stmt = stmt.order_by(col(AuditEvent.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    return [_as_read(r, scope) for r in rows], (rows[-1].id if rows else None)
