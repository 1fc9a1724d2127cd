"""Writes to the append-only audit log, in the transaction of the change they record (the
scoped read is services/audit.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, case, func, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from childprotect_api.core import write_buffer
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.audit import AuditEvent
from childprotect_api.security.scope import Scope


def _row(
    scope: Scope,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None,
    row_count: int | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    return {
        "actor_id": scope.actor_id,
        "actor_role": scope.role,
        "client_id": scope.actor_id if scope.is_client else None,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "county_code": area_code[:6] if area_code and len(area_code) >= 6 else None,
        "area_code": area_code,
        "request_id": scope.request_id,
        "row_count": row_count,
        "purpose": purpose,
    }


_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
COLUMNS = (
    "actor_id",
    "actor_role",
    "client_id",
    "action",
    "resource_type",
    "resource_id",
    "county_code",
    "area_code",
    "request_id",
    "row_count",
    "purpose",
)
# Written on every read of personal data: a prepared INSERT on the driver (rawsql).
_INSERT = Raw(
    insert(AuditEvent.__table__)  # type: ignore[attr-defined]
    .values({name: bindparam(name) for name in COLUMNS})
    .inline()  # nothing to answer: no RETURNING of the new id
)


# A read's audit row: every column but an export's `row_count` and `purpose`.
READ_COLUMNS = COLUMNS[: COLUMNS.index("request_id") + 1]


def insert_from(rows: Select[Any]) -> Any:
    """INSERT of the audit rows a SELECT makes, its columns in `READ_COLUMNS` order: for a
    statement that reads and audits at once (a data-modifying CTE; services/children)."""
    return insert(_TABLE).from_select(list(READ_COLUMNS), rows)


def county_of(area_code: Any) -> Any:
    """The audit row's county_code from its area_code, as `_row` makes it."""
    return case((func.length(area_code) >= 6, func.left(area_code, 6)))


async def record(
    session: AsyncSession,
    scope: Scope,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None = None,
    *,
    row_count: int | None = None,
    purpose: str | None = None,
) -> None:
    # Whatever the caller has pending goes first, as an ORM flush of the event would do.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    row = _row(scope, action, resource_type, resource_id, area_code, row_count, purpose)
    if (buffer := write_buffer.active(session)) is not None:
        buffer.add(_TABLE, row)  # a batch writes its rows in one statement at its end
        return
    await _INSERT.execute(session, row)


async def record_many(
    session: AsyncSession,
    scope: Scope,
    action: str,
    resource_type: str,
    resources: Sequence[tuple[uuid.UUID, str]],
) -> None:
    """One row per (resource id, area code), in one statement (e.g. the children of a list
    page)."""
    if not resources:
        return
    if session.new or session.dirty or session.deleted:
        await session.flush()
    await _INSERT.executemany(
        session, [_row(scope, action, resource_type, rid, area) for rid, area in resources]
    )


async def record_apart(
    engine: AsyncEngine,
    scope: Scope,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None = None,
) -> None:
    """A row in a transaction of its own, committed at once: for what must stay on record
    though the request is refused and its own transaction rolled back (a registry probe)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(_TABLE).values(_row(scope, action, resource_type, resource_id, area_code))
        )
