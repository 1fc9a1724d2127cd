"""Activities and sites: created under the client's id (a retry answers the stored record),
edited against their ETag, listed with keyset pages, every read and write audited.

Scope: the record's area (a village, township or county) must lie in the caller's scope; the
children, staff and site it names too. Anything named that is unknown or outside the scope
answers the same 422, so a request never reveals what exists elsewhere."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import NotFound, Unprocessable
from childprotect_api.models.activity import Activity, ActivityKind, Site, SiteKind, SiteStatus
from childprotect_api.models.area import Area
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.schemas.activity import (
    ActivityCreate,
    ActivityUpdate,
    SiteCreate,
    SiteUpdate,
)
from childprotect_api.security.scope import Action, Scope, in_scope

ACTIVITY = "activity"
SITE = "site"
# Area levels an activity or a site may belong to: county, township, village.
_LEVEL_LENGTHS = (6, 9, 12)


def _digest(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _amount(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


async def check_area(session: AsyncSession, scope: Scope, field: str, area_code: str) -> None:
    """A county, township or village in the caller's scope: 404 outside the scope (as if it
    did not exist, like a child's village), 422 for a code that is not one in the scope."""
    if not scope.covers(area_code):
        raise NotFound("no such area")
    if len(area_code) not in _LEVEL_LENGTHS:
        raise Unprocessable.field(
            field, "is not a county, township or village in your scope", code="area_not_in_scope"
        )
    if await session.get(Area, area_code) is None:
        raise Unprocessable.field(
            field, "is not a county, township or village in your scope", code="area_not_in_scope"
        )


async def _check_children(session: AsyncSession, scope: Scope, ids: list[uuid.UUID]) -> None:
    if not ids:
        return
    found = set(
        (
            await session.execute(
                select(col(Child.id)).where(
                    col(Child.id).in_(ids),
                    in_scope(scope, col(Child.area_code), col(Child.county_code)),
                )
            )
        ).scalars()
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise Unprocessable.field(
            "child_ids", f"unknown children: {', '.join(missing)}", code="unknown_children"
        )


async def _check_staff(session: AsyncSession, scope: Scope, ids: list[uuid.UUID]) -> None:
    if not ids:
        return
    found = set(
        (
            await session.execute(
                select(col(User.id)).where(
                    col(User.id).in_(ids), in_scope(scope, col(User.area_code))
                )
            )
        ).scalars()
    )
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise Unprocessable.field(
            "staff_ids", f"unknown users: {', '.join(missing)}", code="unknown_staff"
        )


async def _check_site(session: AsyncSession, scope: Scope, site_id: uuid.UUID | None) -> None:
    if site_id is None:
        return
    if await _find_site(session, scope, site_id) is None:
        raise Unprocessable.field("site_id", "is not a site in your scope", code="unknown_site")


def _check_held_on(held_on: date) -> None:
    # A phone's date may run a day ahead of the server's UTC date (China is UTC+8).
    if (held_on - utcnow().date()).days > 1:
        raise Unprocessable.field("held_on", "is in the future", code="held_in_future")


# --- activities ---------------------------------------------------------------------------


async def _find_activity(
    session: AsyncSession, scope: Scope, activity_id: uuid.UUID, *, lock: bool = False
) -> Activity | None:
    stmt = select(Activity).where(
        col(Activity.id) == activity_id,
        in_scope(scope, col(Activity.area_code), col(Activity.county_code)),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def load_activity(
    session: AsyncSession, scope: Scope, activity_id: uuid.UUID, *, lock: bool = False
) -> Activity:
    activity = await _find_activity(session, scope, activity_id, lock=lock)
    if activity is None:
        raise NotFound("no such activity")
    return activity


async def _validate_activity(
    session: AsyncSession,
    scope: Scope,
    area_code: str,
    site_id: uuid.UUID | None,
    child_ids: list[uuid.UUID],
    staff_ids: list[uuid.UUID],
    held_on: date,
) -> None:
    await check_area(session, scope, "area_code", area_code)
    _check_held_on(held_on)
    await _check_site(session, scope, site_id)
    await _check_children(session, scope, child_ids)
    await _check_staff(session, scope, staff_ids)


async def create_activity(
    session: AsyncSession, scope: Scope, data: ActivityCreate
) -> tuple[Activity, bool]:
    """Record an activity under the client's id; answers (activity, created). A retry with
    the same content answers the stored one; the same id with other content is 409."""
    scope.require(Action.activity_log)
    digest = _digest(data.model_dump(mode="json"))
    existing = await session.get(Activity, data.id)
    if existing is not None:
        if existing.content_hash != digest or not scope.covers(existing.area_code):
            raise client_ids.IdTaken()
        await audit.record(session, scope, "read", ACTIVITY, existing.id, existing.area_code)
        return existing, False
    await _validate_activity(
        session,
        scope,
        data.area_code,
        data.site_id,
        data.child_ids,
        data.staff_ids,
        data.held_on,
    )
    fields = data.model_dump(exclude={"id", "amount"})
    activity = Activity(
        id=data.id,
        county_code=data.area_code[:6],
        amount=_amount(data.amount),
        content_hash=digest,
        created_by=scope.user_id,
        updated_by=scope.user_id,
        **fields,
    )
    try:
        async with session.begin_nested():
            session.add(activity)
    except IntegrityError:
        # The same id created concurrently (a retry racing the first call).
        session.expunge(activity)
        existing = await session.get(Activity, data.id)
        if existing is None or existing.content_hash != digest:
            raise client_ids.IdTaken() from None
        return existing, False
    await audit.record(session, scope, "create", ACTIVITY, activity.id, activity.area_code)
    await session.refresh(activity)
    return activity, True


async def update_activity(
    session: AsyncSession,
    scope: Scope,
    activity_id: uuid.UUID,
    data: ActivityUpdate,
    expected_version: int,
) -> Activity:
    scope.require(Action.activity_log)
    activity = await load_activity(session, scope, activity_id, lock=True)
    check_version(activity.version, expected_version)
    fields = data.model_fields_set
    for required in ("area_code", "kind", "title", "held_on", "organiser_kind"):
        if required in fields and getattr(data, required) is None:
            raise Unprocessable.field(required, "may not be null")
    for counted in ("participants", "children_served", "child_ids", "staff_ids"):
        if counted in fields and getattr(data, counted) is None:
            raise Unprocessable.field(counted, "may not be null")
    changes: dict[str, Any] = {}
    for name in fields:
        value = getattr(data, name)
        if name == "amount":
            value = _amount(value)
        elif name in ("child_ids", "staff_ids"):
            value = list(dict.fromkeys(value))
        elif hasattr(value, "value"):
            value = value.value
        if getattr(activity, name) != value:
            changes[name] = value
    if not changes:
        return activity  # a write that changes nothing keeps the version
    if "area_code" in changes:
        await check_area(session, scope, "area_code", changes["area_code"])
    if "held_on" in changes:
        _check_held_on(changes["held_on"])
    if changes.get("site_id") is not None:
        await _check_site(session, scope, changes["site_id"])
    # Only the ids added are checked: one already named may have moved away since.
    if "child_ids" in changes:
        added = [i for i in changes["child_ids"] if i not in activity.child_ids]
        await _check_children(session, scope, added)
    if "staff_ids" in changes:
        added = [i for i in changes["staff_ids"] if i not in activity.staff_ids]
        await _check_staff(session, scope, added)
    for name, value in changes.items():
        setattr(activity, name, value)
    activity.county_code = activity.area_code[:6]
    activity.version += 1
    activity.updated_at = utcnow()
    activity.updated_by = scope.user_id
    await session.flush()
    await audit.record(session, scope, "update", ACTIVITY, activity.id, activity.area_code)
    await session.refresh(activity)
    return activity


async def get_activity(session: AsyncSession, scope: Scope, activity_id: uuid.UUID) -> Activity:
    scope.require(Action.activity_log)
    activity = await load_activity(session, scope, activity_id)
    await audit.record(session, scope, "read", ACTIVITY, activity.id, activity.area_code)
    return activity


async def list_activities(
    session: AsyncSession,
    scope: Scope,
    *,
    kind: ActivityKind | None,
    from_: date | None,
    to: date | None,
    area: str | None,
    site_id: uuid.UUID | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[Activity]:
    """Activities in scope (and under `area` when given), latest first."""
    scope.require(Action.activity_log)
    within = scope.narrowed(area) if area else scope
    stmt = select(Activity).where(
        in_scope(within, col(Activity.area_code), col(Activity.county_code))
    )
    if kind is not None:
        stmt = stmt.where(col(Activity.kind) == kind.value)
    if from_ is not None:
        stmt = stmt.where(col(Activity.held_on) >= from_)
    if to is not None:
        stmt = stmt.where(col(Activity.held_on) <= to)
    if site_id is not None:
        stmt = stmt.where(col(Activity.site_id) == site_id)
    if after is not None:
        stmt = stmt.where(tuple_(col(Activity.held_on), col(Activity.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Activity.held_on).desc(), col(Activity.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "list", ACTIVITY, None, within.area_code or None)
    return rows


# --- sites --------------------------------------------------------------------------------


async def _find_site(
    session: AsyncSession, scope: Scope, site_id: uuid.UUID, *, lock: bool = False
) -> Site | None:
    stmt = select(Site).where(
        col(Site.id) == site_id, in_scope(scope, col(Site.area_code), col(Site.county_code))
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def load_site(
    session: AsyncSession, scope: Scope, site_id: uuid.UUID, *, lock: bool = False
) -> Site:
    site = await _find_site(session, scope, site_id, lock=lock)
    if site is None:
        raise NotFound("no such site")
    return site


async def create_site(session: AsyncSession, scope: Scope, data: SiteCreate) -> tuple[Site, bool]:
    scope.require(Action.site_manage)
    digest = _digest(data.model_dump(mode="json"))
    existing = await session.get(Site, data.id)
    if existing is not None:
        if existing.content_hash != digest or not scope.covers(existing.area_code):
            raise client_ids.IdTaken()
        return existing, False
    await check_area(session, scope, "area_code", data.area_code)
    site = Site(
        id=data.id,
        county_code=data.area_code[:6],
        area_code=data.area_code,
        kind=data.kind.value,
        name=data.name,
        opened_on=data.opened_on,
        notes=data.notes,
        status=SiteStatus.open.value,
        content_hash=digest,
        created_by=scope.user_id,
        updated_by=scope.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(site)
    except IntegrityError:
        session.expunge(site)
        existing = await session.get(Site, data.id)
        if existing is None or existing.content_hash != digest:
            raise client_ids.IdTaken() from None
        return existing, False
    await audit.record(session, scope, "create", SITE, site.id, site.area_code)
    await session.refresh(site)
    return site, True


async def update_site(
    session: AsyncSession, scope: Scope, site_id: uuid.UUID, data: SiteUpdate, expected: int
) -> Site:
    """Rename, reclassify, or open/close a site. Closing it keeps its activities."""
    scope.require(Action.site_manage)
    site = await load_site(session, scope, site_id, lock=True)
    check_version(site.version, expected)
    fields = data.model_fields_set
    for required in ("kind", "name", "status"):
        if required in fields and getattr(data, required) is None:
            raise Unprocessable.field(required, "may not be null")
    changes: dict[str, Any] = {}
    for name in fields:
        value = getattr(data, name)
        if isinstance(value, SiteKind | SiteStatus):
            value = value.value
        if getattr(site, name) != value:
            changes[name] = value
    if changes.get("status") == SiteStatus.closed and "closed_on" not in fields:
        changes["closed_on"] = utcnow().date()
    if changes.get("status") == SiteStatus.open and "closed_on" not in fields:
        changes["closed_on"] = None
    if not changes:
        return site
    for name, value in changes.items():
        setattr(site, name, value)
    if site.status == SiteStatus.open and site.closed_on is not None:
        raise Unprocessable.field("closed_on", "an open site has no closing date")
    site.version += 1
    site.updated_at = utcnow()
    site.updated_by = scope.user_id
    await session.flush()
    await audit.record(session, scope, "update", SITE, site.id, site.area_code)
    await session.refresh(site)
    return site


async def get_site(session: AsyncSession, scope: Scope, site_id: uuid.UUID) -> Site:
    scope.require(Action.site_read)
    return await load_site(session, scope, site_id)


async def list_sites(
    session: AsyncSession,
    scope: Scope,
    *,
    kind: SiteKind | None,
    status: SiteStatus | None,
    area: str | None,
    limit: int,
    after: uuid.UUID | None,
) -> list[Site]:
    scope.require(Action.site_read)
    within = scope.narrowed(area) if area else scope
    stmt = select(Site).where(in_scope(within, col(Site.area_code), col(Site.county_code)))
    if kind is not None:
        stmt = stmt.where(col(Site.kind) == kind.value)
    if status is not None:
        stmt = stmt.where(col(Site.status) == status.value)
    if after is not None:
        stmt = stmt.where(col(Site.id) > after)
    return list((await session.execute(stmt.order_by(col(Site.id)).limit(limit))).scalars())


async def count_activities(session: AsyncSession, site_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(col(Activity.site_id) == site_id)
    return int((await session.execute(stmt)).scalar_one())
