"""What the decisions and payments share: the child they are about (found in the caller's
scope, or not at all) and the digest that recognises a retry."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import Conflict, NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildStatus
from childprotect_api.security.scope import Scope, in_scope


def digest(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


async def find_child(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, *, lock: bool = False
) -> Child | None:
    stmt = select(Child).where(
        col(Child.id) == child_id,
        in_scope(scope, col(Child.area_code), col(Child.county_code)),
        col(Child.anonymised_at).is_(None),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def load_child(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, *, lock: bool = False
) -> Child:
    child = await find_child(session, scope, child_id, lock=lock)
    if child is None:
        raise NotFound("no such child")
    return child


def require_active(child: Child) -> None:
    if child.status != ChildStatus.active:
        raise Conflict("the record is closed; reopen it first", code="child_closed")


def set_categories(child: Child, categories: list[str], by: uuid.UUID | None) -> None:
    """Change the child's categories as a write of the record (a new version for the ETag
    and the sync feed)."""
    child.categories = categories
    child.version += 1
    child.updated_at = utcnow()
    child.updated_by = by
