"""What pairings and cases share: the child in scope, keyset pages, If-Match."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.errors import Conflict, NotFound, Unprocessable
from childprotect_api.core.pagination import decode_cursor, encode_cursor
from childprotect_api.models.child import Child, ChildStatus
from childprotect_api.security.scope import Scope, apply_scope


async def child_in_scope(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, *, lock: bool = False
) -> Child:
    stmt = apply_scope(
        select(Child).where(col(Child.id) == child_id),
        scope,
        col(Child.area_code),
        col(Child.county_code),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    return child


def require_active(child: Child) -> None:
    if child.status != ChildStatus.active.value:
        raise Conflict("the record is closed; reopen it first", code="child_closed")


def after_id(cursor: str | None) -> uuid.UUID | None:
    after = decode_cursor(cursor, 1)
    if after is None:
        return None
    try:
        return uuid.UUID(str(after[0]))
    except ValueError as e:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor") from e


def next_cursor(rows: list[Any], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    return encode_cursor([str(rows[-1].id)])
