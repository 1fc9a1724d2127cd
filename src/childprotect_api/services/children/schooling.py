"""Schooling (控辍保学) and subsidies of a child, written by the education and civil-affairs
systems or by staff, and the lookup of a child by ID number.

Decisions recorded here:
- A child reported `dropped_out`, or with `dropout_risk`, gets the `dropout_risk` category and
  its next visit is due now at the latest, so it comes up in the worklist (ordered by due
  date). This happens when the report is new: the child was not at risk before, or the report
  carries a later `dropout_reported_on`. The same report sent again (systems of record resend
  their state) changes nothing, so a visit made since is not undone.
- A child back in school keeps the `dropout_risk` category until staff remove it (PATCH
  categories): whether the risk is over is the director's judgement after a visit, not the
  school's.
- `If-Match`: staff must send it (their app edits a record it has shown, like PATCH); for
  integration clients it is optional, since they are the system of record for these fields
  and overwrite them with their current state. When sent, a stale version answers 412.
- A PUT that changes nothing does not bump the version; it is audited all the same."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Conflict, NotFound, Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Category, Child, ChildStatus, EnrolmentStatus
from childprotect_api.schemas.child_schooling import ChildSchoolingSet, ChildSubsidiesSet
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services.children import id_numbers, rules
from childprotect_api.services.children.registry import RESOURCE, load_for_write

_SCHOOLING_FIELDS = (
    "school",
    "grade",
    "enrolment_status",
    "boarding",
    "dropout_risk",
    "dropout_reported_on",
)


def _at_risk(enrolment_status: str | None, dropout_risk: bool | None) -> bool:
    return bool(dropout_risk) or enrolment_status == EnrolmentStatus.dropped_out


def _touch(child: Child, scope: Scope) -> None:
    child.version += 1
    child.updated_at = utcnow()
    child.updated_by = scope.user_id


async def _load(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    action: Action,
    expected_version: int | None,
) -> Child:
    child = await load_for_write(session, scope, child_id, action)
    check_version(child.version, expected_version)
    if child.status != ChildStatus.active:
        raise Conflict("the record is closed; reopen it first", code="child_closed")
    return child


def _reported_on(child: Child, data: ChildSchoolingSet, at_risk: bool, today: date) -> date | None:
    """The date of the dropout report: as sent; else the stored one while the child stays at
    risk; else today for a new report."""
    if data.dropout_reported_on is not None:
        if data.dropout_reported_on > today:
            raise Unprocessable.field(
                "dropout_reported_on", "is in the future", code="date_in_future"
            )
        return data.dropout_reported_on
    if not at_risk:
        return None
    if _at_risk(child.enrolment_status, child.dropout_risk) and child.dropout_reported_on:
        return child.dropout_reported_on
    return today


def _raise_dropout(child: Child) -> bool:
    """Add the category and bring the next visit to now; answer whether the category was new."""
    now = utcnow()
    if child.next_visit_due is None or child.next_visit_due > now:
        child.next_visit_due = now
    if Category.dropout_risk in child.categories:
        return False
    child.categories = [*child.categories, Category.dropout_risk.value]
    return True


async def set_schooling(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: ChildSchoolingSet,
    expected_version: int | None,
) -> tuple[Child, bool]:
    """Replace the schooling fields; answer the child and whether `dropout_risk` was added."""
    child = await _load(session, scope, child_id, Action.schooling_write, expected_version)
    at_risk = _at_risk(data.enrolment_status, data.dropout_risk)
    was_at_risk = _at_risk(child.enrolment_status, child.dropout_risk)
    reported_on = _reported_on(child, data, at_risk, rules.today())
    newer_report = (
        data.dropout_reported_on is not None
        and child.dropout_reported_on is not None
        and data.dropout_reported_on > child.dropout_reported_on
    )
    new: dict[str, Any] = {
        "school": data.school,
        "grade": data.grade,
        "enrolment_status": data.enrolment_status.value,
        "boarding": data.boarding,
        "dropout_risk": data.dropout_risk,
        "dropout_reported_on": reported_on,
    }
    changed = any(getattr(child, name) != new[name] for name in _SCHOOLING_FIELDS)
    for name in _SCHOOLING_FIELDS:
        setattr(child, name, new[name])
    added = False
    if at_risk and (not was_at_risk or newer_report):
        added = _raise_dropout(child)
        changed = True
    if changed:
        _touch(child, scope)
        await session.flush()
    await audit.record(session, scope, "child.schooling_set", RESOURCE, child.id, child.area_code)
    return child, added


def _check_overlaps(data: ChildSubsidiesSet) -> None:
    """Two grants of the same kind may not run over the same days."""
    far = date.max
    for i, a in enumerate(data.subsidies):
        for b in data.subsidies[:i]:
            if a.kind == b.kind and a.from_ <= (b.to or far) and b.from_ <= (a.to or far):
                raise Unprocessable.field(
                    f"subsidies.{i}",
                    f"overlaps another {a.kind.value} grant in the same period",
                    code="overlapping_subsidies",
                )


def _stored(data: ChildSubsidiesSet) -> list[dict[str, Any]]:
    return [
        {
            "kind": s.kind.value,
            # JSON numbers (as the record has always stored them); two decimals are exact.
            "monthly_amount": float(s.monthly_amount),
            "from": s.from_.isoformat(),
            "to": s.to.isoformat() if s.to else None,
        }
        for s in data.subsidies
    ]


async def set_subsidies(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: ChildSubsidiesSet,
    expected_version: int | None,
) -> Child:
    """Replace the list of subsidies."""
    child = await _load(session, scope, child_id, Action.subsidies_write, expected_version)
    _check_overlaps(data)
    stored = _stored(data)
    if stored != child.subsidies:
        child.subsidies = stored
        _touch(child, scope)
        await session.flush()
    await audit.record(session, scope, "child.subsidies_set", RESOURCE, child.id, child.area_code)
    return child


async def lookup(session: AsyncSession, scope: Scope, data_key: str, id_number: str) -> Child:
    """The child with this ID number, if it lies in the caller's scope; 404 otherwise, so a
    lookup never tells whether a child is registered elsewhere."""
    scope.require(Action.children_read)
    info = rules.parse_id_number(id_number)
    stmt = apply_scope(
        select(Child).where(
            col(Child.id_number_hash) == id_numbers.hash_of(data_key, info.normalized)
        ),
        scope,
        col(Child.area_code),
        col(Child.county_code),
    )
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    await audit.record(session, scope, "child.lookup", RESOURCE, child.id, child.area_code)
    return child
