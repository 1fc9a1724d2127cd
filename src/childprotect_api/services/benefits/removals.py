"""Removals (减员): a county officer ends a child's benefit category with a reason and a date;
the category leaves the record in the same transaction and the removal is kept."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.errors import Conflict, Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import BenefitCategory, CategoryRemoval, RemovalReason
from childprotect_api.schemas.benefit import CategoryRemovalCreate
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.benefits.common import digest, load_child, set_categories

RESOURCE = "category_removal"


async def create_removal(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, data: CategoryRemovalCreate
) -> tuple[CategoryRemoval, bool]:
    scope.require(Action.category_remove)
    print_ = digest({"child_id": str(child_id), **data.model_dump(mode="json")})
    existing = await session.get(CategoryRemoval, data.id)
    if existing is not None:
        if existing.content_hash != print_ or not scope.covers(existing.area_code):
            raise Conflict("this id is already in use", code="id_conflict")
        return existing, False
    child = await load_child(session, scope, child_id, lock=True)
    # A phone's date may run a day ahead of the server's UTC date (China is UTC+8).
    if (data.removed_on - utcnow().date()).days > 1:
        raise Unprocessable.field("removed_on", "is in the future", code="removed_in_future")
    category = data.category.value
    if category not in child.categories:
        raise Conflict("the child does not hold this category", code="category_not_held")
    removal = CategoryRemoval(
        id=data.id,
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        category=category,
        reason=data.reason.value,
        removed_on=data.removed_on,
        note=data.note,
        content_hash=print_,
        created_by=scope.user_id,
    )
    try:
        async with session.begin_nested():
            session.add(removal)
    except IntegrityError:
        session.expunge(removal)
        raise Conflict("this id is already in use", code="id_conflict") from None
    set_categories(child, [c for c in child.categories if c != category], scope.user_id)
    await audit.record(session, scope, "child.update", "child", child.id, child.area_code)
    await audit.record(session, scope, "create", RESOURCE, removal.id, removal.area_code)
    await session.refresh(removal)
    return removal, True


async def list_removals(
    session: AsyncSession,
    scope: Scope,
    *,
    category: BenefitCategory | None,
    reason: RemovalReason | None,
    child_id: uuid.UUID | None,
    from_: date | None,
    to: date | None,
    area: str | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[CategoryRemoval]:
    """Removals in scope, latest first."""
    scope.require(Action.category_read)
    within = scope.narrowed(area) if area else scope
    R = CategoryRemoval
    stmt = select(R).where(in_scope(within, col(R.area_code), col(R.county_code)))
    if category is not None:
        stmt = stmt.where(col(R.category) == category.value)
    if reason is not None:
        stmt = stmt.where(col(R.reason) == reason.value)
    if child_id is not None:
        stmt = stmt.where(col(R.child_id) == child_id)
    if from_ is not None:
        stmt = stmt.where(col(R.removed_on) >= from_)
    if to is not None:
        stmt = stmt.where(col(R.removed_on) <= to)
    if after is not None:
        stmt = stmt.where(tuple_(col(R.removed_on), col(R.id)) < tuple_(*after))
    stmt = stmt.order_by(col(R.removed_on).desc(), col(R.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "list", RESOURCE, None, within.area_code or None)
    return rows
