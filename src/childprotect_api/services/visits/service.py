"""Visits: logged from the phone (idempotent by the client's id), corrected as new versions
that keep the old ones, reviewed by supervisors, with attachments. Every write moves the
child's last visit and due date in the same transaction, under the child's row lock."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids, outbox
from childprotect_api.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
)
from childprotect_api.models.base import CLOCK_SKEW, utcnow
from childprotect_api.models.child import Child, ChildStatus
from childprotect_api.models.visit import Visit, VisitStatus
from childprotect_api.schemas.visit import (
    ReviewDecision,
    VisitContent,
    VisitCorrection,
    VisitCreate,
    VisitReview,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children import schedule as visit_schedule

# How far in the future a phone's clock may put a visit.


# --- helpers ------------------------------------------------------------------------------


def content_hash(data: VisitContent, **extra: str) -> str:
    """SHA-256 of what the visitor recorded, in a canonical form (the time in UTC), so a
    retry with the same content is recognised whatever offset the phone wrote it with."""
    payload: dict[str, Any] = data.model_dump(mode="json", exclude={"id"})
    payload["visited_at"] = data.visited_at.astimezone(UTC).isoformat()
    payload.update(extra)
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def etag(visit: Visit) -> str:
    return f'"{visit.version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired("send If-Match with the visit's ETag", code="if_match_required")
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" not in tags and f'"{version}"' not in tags:
        raise PreconditionFailed("the visit changed since you read it", code="version_mismatch")


def _content_fields(data: VisitContent) -> dict[str, Any]:
    return {
        "visited_at": data.visited_at,
        "kind": data.kind.value,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "accuracy_m": data.accuracy_m,
        "checklist": data.checklist.model_dump(mode="json"),
        "notes": data.notes,
        "suggested_risk_level": (
            data.suggested_risk_level.value if data.suggested_risk_level else None
        ),
        "follow_up_actions": [a.model_dump(mode="json") for a in data.follow_up_actions],
    }


def _scoped(scope: Scope) -> Select[Visit]:
    return select(Visit).where(in_scope(scope, col(Visit.area_code), col(Visit.county_code)))


async def _find(
    session: AsyncSession, scope: Scope, visit_id: uuid.UUID, *, lock: bool = False
) -> Visit | None:
    stmt = _scoped(scope).where(col(Visit.id) == visit_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def _existing(session: AsyncSession, scope: Scope, visit_id: uuid.UUID) -> Visit | None:
    """The visit under a client's new id when the caller can see it (a retry, or 409); an id
    taken by a visit out of scope answers the same 409 at once (core/client_ids.py)."""
    visit = await _find(session, scope, visit_id)
    if visit is None and await session.get(Visit, visit_id) is not None:
        raise client_ids.IdTaken()
    return visit


async def load_visit(
    session: AsyncSession, scope: Scope, visit_id: uuid.UUID, *, lock: bool = False
) -> Visit:
    visit = await _find(session, scope, visit_id, lock=lock)
    if visit is None:
        raise NotFound("no such visit")
    return visit


async def _lock_child(session: AsyncSession, scope: Scope, child_id: uuid.UUID) -> Child:
    """The child, in scope, with its row locked until the request commits: visits of one
    child are applied one at a time, so its last visit and due date never race."""
    stmt = (
        select(Child)
        .where(
            col(Child.id) == child_id,
            in_scope(scope, col(Child.area_code), col(Child.county_code)),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child", code="child_not_found")
    return child


def _check_visited_at(visited_at: datetime, child: Child) -> None:
    if visited_at > utcnow() + CLOCK_SKEW:
        raise Unprocessable.field("visited_at", "is in the future", code="visited_in_future")
    if child.created_at is not None and visited_at < child.created_at:
        raise Unprocessable.field(
            "visited_at", "is before the child was registered", code="visited_before_registration"
        )


async def _replay(session: AsyncSession, scope: Scope, existing: Visit, digest: str) -> Visit:
    """A retry: the stored visit when the content is the same, else a conflict."""
    if existing.content_hash != digest:
        raise client_ids.IdTaken()
    await audit.record(session, scope, "read", "visit", existing.id, existing.area_code)
    return existing


async def _insert(session: AsyncSession, visit: Visit) -> None:
    session.add(visit)
    try:
        await session.flush()
    except IntegrityError as e:
        # The id is taken by a visit outside the caller's scope (or a racing retry of
        # another child's visit): the request rolls back as a whole.
        if getattr(e.orig, "sqlstate", None) == "23505":
            raise client_ids.IdTaken() from e
        raise


# --- logging, reading ---------------------------------------------------------------------


async def create_visit(
    session: AsyncSession,
    scope: Scope,
    visit_id: uuid.UUID,
    data: VisitCreate,
    *,
    known_new: bool = False,
    locked_child: Child | None = None,
) -> tuple[Visit, bool]:
    """Record a visit under the phone's id. Answers (visit, created).

    For a batch (the sync push), which looks its ids up and locks its children in one query
    each: `known_new` says no visit had this id when the caller looked, so the lookup before
    the child's lock is skipped. With `locked_child` too (the child's row already locked by
    the caller before it looked), the lookup after the lock is skipped as well: a retry of
    this visit needs the same lock, and an id taken since by another child's visit makes the
    insert fail (409, as any id conflict)."""
    scope.require(Action.visit_log)
    assert scope.user_id is not None
    client_ids.check(visit_id, "visit_id")
    digest = content_hash(data)
    if known_new and locked_child is not None and locked_child.id == data.child_id:
        child = locked_child
    else:
        existing = None if known_new else await _find(session, scope, visit_id)
        if existing is not None:
            return await _replay(session, scope, existing, digest), False
        # The child first: a child the caller cannot see answers 404 whether the id is free
        # or taken out of scope (and only then does a taken id answer 409).
        child = await _lock_child(session, scope, data.child_id)
        # A retry running alongside may have committed while this request waited for the lock.
        existing = await _existing(session, scope, visit_id)
        if existing is not None:
            return await _replay(session, scope, existing, digest), False
    if child.status != ChildStatus.active:
        raise Conflict("the child's record is closed", code="child_closed")
    _check_visited_at(data.visited_at, child)
    visit = Visit(
        id=visit_id,
        original_id=visit_id,
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        visitor_id=scope.user_id,
        content_hash=digest,
        **_content_fields(data),
    )
    # The child's row first: it then holds the new latest visit (`stats_visited_at`) when the
    # visits' statistics trigger runs on the insert, which so writes the child no second time.
    await visit_schedule.record_visit(session, child, visit.visited_at, scope.user_id)
    await _insert(session, visit)
    await audit.record(session, scope, "create", "visit", visit.id, visit.area_code)
    await outbox.emit(
        session,
        "visit.created",
        resource_type="visit",
        resource_id=visit.id,
        area_code=visit.area_code,
        payload={"child_id": str(child.id)},
    )
    return visit, True


async def get_visit(session: AsyncSession, scope: Scope, visit_id: uuid.UUID) -> Visit:
    scope.require(Action.visit_log)
    visit = await load_visit(session, scope, visit_id)
    await audit.record(session, scope, "read", "visit", visit.id, visit.area_code)
    return visit


async def list_visits(
    session: AsyncSession,
    scope: Scope,
    *,
    child_id: uuid.UUID | None,
    visitor_id: uuid.UUID | None,
    from_: datetime | None,
    to: datetime | None,
    status: VisitStatus | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Visit]:
    """Current versions, newest visit first."""
    scope.require(Action.visit_log)
    stmt = _scoped(scope).where(col(Visit.is_current))
    if child_id is not None:
        stmt = stmt.where(col(Visit.child_id) == child_id)
    if visitor_id is not None:
        stmt = stmt.where(col(Visit.visitor_id) == visitor_id)
    if from_ is not None:
        stmt = stmt.where(col(Visit.visited_at) >= from_)
    if to is not None:
        stmt = stmt.where(col(Visit.visited_at) < to)
    if status is not None:
        stmt = stmt.where(col(Visit.status) == status.value)
    if after is not None:
        stmt = stmt.where(tuple_(col(Visit.visited_at), col(Visit.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Visit.visited_at).desc(), col(Visit.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    if child_id is not None:
        await audit.record(session, scope, "list_visits", "child", child_id, scope.area_code)
    else:
        await audit.record(session, scope, "list", "visit", None, scope.area_code or None)
    return rows


async def list_versions(session: AsyncSession, scope: Scope, visit_id: uuid.UUID) -> list[Visit]:
    """Every version of the visit that `visit_id` belongs to, oldest first."""
    scope.require(Action.visit_log)
    visit = await load_visit(session, scope, visit_id)
    stmt = (
        _scoped(scope)
        .where(col(Visit.original_id) == visit.original_id)
        .order_by(col(Visit.revision))
    )
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "read", "visit", visit.original_id, visit.area_code)
    return rows


# --- corrections and review ---------------------------------------------------------------


async def correct_visit(
    session: AsyncSession,
    scope: Scope,
    visit_id: uuid.UUID,
    data: VisitCorrection,
    if_match: str | None,
) -> tuple[Visit, bool]:
    """A new version of the visit (by its visitor); the corrected one is kept, superseded.
    Answers (new version, created); a retry with the same content answers the stored one."""
    scope.require(Action.visit_log)
    digest = content_hash(data, corrects=str(visit_id))
    existing = await _find(session, scope, data.id)
    if existing is not None:
        return await _replay(session, scope, existing, digest), False
    target = await load_visit(session, scope, visit_id)
    if target.visitor_id != scope.user_id:
        raise Forbidden("only the visitor may correct a visit", code="not_visitor")
    if data.child_id != target.child_id:
        raise Unprocessable.field(
            "child_id", "a correction cannot move a visit to another child", code="child_mismatch"
        )
    check_if_match(if_match, target.version)
    child = await _lock_child(session, scope, target.child_id)
    target = await load_visit(session, scope, visit_id, lock=True)
    if not target.is_current:
        raise Conflict("this version was already corrected", code="visit_superseded")
    check_if_match(if_match, target.version)
    _check_visited_at(data.visited_at, child)
    if await _existing(session, scope, data.id) is not None:  # a retry raced this one
        raise client_ids.IdTaken()

    now = utcnow()
    # Order matters: one current version per visit (a unique index), and superseded_by
    # points at a row that must exist.
    target.is_current = False
    target.version += 1
    target.updated_at = now
    await session.flush()
    new = Visit(
        id=data.id,
        original_id=target.original_id,
        revision=target.revision + 1,
        correction_reason=data.correction_reason,
        child_id=target.child_id,
        county_code=target.county_code,
        area_code=target.area_code,
        visitor_id=target.visitor_id,
        content_hash=digest,
        **_content_fields(data),
    )
    await _insert(session, new)
    target.superseded_by = new.id
    await session.flush()
    await visit_schedule.recompute_last_visit(session, child, scope.user_id)
    await audit.record(session, scope, "correct", "visit", new.id, new.area_code)
    await outbox.emit(
        session,
        "visit.corrected",
        resource_type="visit",
        resource_id=new.id,
        area_code=new.area_code,
        payload={"child_id": str(child.id), "supersedes": str(target.id)},
    )
    return new, True


async def review_visit(
    session: AsyncSession,
    scope: Scope,
    visit_id: uuid.UUID,
    data: VisitReview,
    if_match: str | None,
) -> Visit:
    """Accept a submitted visit (optionally setting the child's risk level) or return it to
    its visitor with a comment. Only the current version of a submitted visit is reviewed."""
    scope.require(Action.visit_review)
    visit = await load_visit(session, scope, visit_id)
    if visit.visitor_id == scope.user_id:
        raise Forbidden("a visit is reviewed by someone else", code="own_visit")
    check_if_match(if_match, visit.version)
    # Locks in the same order as corrections (child, then visit).
    child = await _lock_child(session, scope, visit.child_id) if data.risk_level else None
    visit = await load_visit(session, scope, visit_id, lock=True)
    check_if_match(if_match, visit.version)
    if not visit.is_current:
        raise Conflict(
            "this version was corrected; review the current one", code="visit_superseded"
        )
    if visit.status != VisitStatus.submitted:
        raise Conflict(
            f"a visit that is {visit.status} cannot be reviewed", code="invalid_transition"
        )
    accepted = data.decision == ReviewDecision.accept
    now = utcnow()
    visit.status = VisitStatus.accepted if accepted else VisitStatus.returned
    visit.review_comment = data.comment
    visit.reviewed_by = scope.user_id
    visit.reviewed_at = now
    visit.version += 1
    visit.updated_at = now
    await session.flush()
    if child is not None and data.risk_level is not None:
        if child.status != ChildStatus.active:
            raise Conflict("the child's record is closed", code="child_closed")
        change = await visit_schedule.set_risk_level(
            session,
            child,
            data.risk_level.value,
            data.comment or f"visit of {visit.visited_at:%Y-%m-%d} reviewed",
            set_by=scope.user_id,
            source="visit_review",
            source_id=visit.id,
        )
        if change is not None:
            # For whoever alerts on levels (red: the county's officers).
            await outbox.emit(
                session,
                "child.risk_level_changed",
                resource_type="child",
                resource_id=child.id,
                area_code=child.area_code,
                payload={"from": change.old_level, "to": change.new_level, "source": "visit"},
            )
    await audit.record(session, scope, "review", "visit", visit.id, visit.area_code)
    await outbox.emit(
        session,
        "visit.reviewed",
        resource_type="visit",
        resource_id=visit.id,
        area_code=visit.area_code,
        payload={"status": visit.status, "visitor_id": str(visit.visitor_id)},
    )
    return visit
