"""Moving a child to another village: the only write that takes a record out of the writer's
scope, so it needs scope over both ends (a village director or supervisor who covers both,
or a county officer of the county that holds both).

Every table that holds the child's data carries the child's village (`county_code`,
`area_code`), so that scope is one prefix filter: the transfer moves all of them in the same
transaction, found from the metadata (a table added later by another module moves with the
child without being listed here):
- child-linked tables: those with a `child_id` (visits, agreements, reports, events, ...);
- their dependents: tables with a foreign key to a child-linked table (an agreement's status
  changes, a report's referrals, timeline and notes, ...);
- rows owned through `owner_type`/`owner_id` (attachments) by a child-linked row, the owner
  type being the owner table's name in the singular (`visit`, `agreement`).
The report timeline stays append-only: its trigger lets a row's village change, nothing
else (migration 0017secin). The log tables (audit, outbox, sync changes) keep where things
happened. The old village's users get 404 afterwards; the move is kept in `child_events`
(from/to) and announced in the outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from childprotect_api.core import audit, outbox
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildEvent, ChildEventKind, ChildStatus
from childprotect_api.models.user import User
from childprotect_api.schemas.child import ChildTransfer
from childprotect_api.security.scope import Scope
from childprotect_api.services.children import rules
from childprotect_api.services.children.registry import RESOURCE, load_for_write
from childprotect_api.services.children.schedule import refresh_due

_AREA_COLUMNS = {"county_code", "area_code"}
_LINK_COLUMNS = {"child_id", *_AREA_COLUMNS}
_OWNER_COLUMNS = {"owner_type", "owner_id", *_AREA_COLUMNS}


def child_linked_tables() -> list[Table]:
    """Tables whose rows belong to one child and carry its village."""
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if _LINK_COLUMNS <= set(t.columns.keys()) and t.name != Child.__tablename__
    ]


def dependent_tables() -> list[tuple[Table, Column[Any], Table]]:
    """(table, its foreign key column, the child-linked table it points to) for the tables
    that carry a village and hang off a child-linked row without a `child_id` of their own."""
    linked = child_linked_tables()
    out = []
    for t in SQLModel.metadata.sorted_tables:
        if t in linked or t.name == Child.__tablename__ or not _AREA_COLUMNS <= set(t.c.keys()):
            continue
        for fk in sorted(t.foreign_keys, key=lambda f: f.parent.name):
            if fk.column.table in linked and fk.column.name == "id":
                out.append((t, fk.parent, fk.column.table))
                break
    return out


def owned_tables() -> list[Table]:
    """Tables whose rows belong to another row through `owner_type`/`owner_id`."""
    return [t for t in SQLModel.metadata.sorted_tables if _OWNER_COLUMNS <= set(t.c.keys())]


def owner_type(table: Table) -> str:
    return table.name.removesuffix("s")


async def _move_all(session: AsyncSession, child_id: uuid.UUID, county: str, area: str) -> None:
    linked = child_linked_tables()
    values = {"county_code": county, "area_code": area}
    for table in linked:
        await session.execute(update(table).where(table.c.child_id == child_id).values(values))
    for table, fk, parent in dependent_tables():
        rows = select(parent.c.id).where(parent.c.child_id == child_id)
        await session.execute(update(table).where(fk.in_(rows)).values(values))
    for table in owned_tables():
        for parent in linked:
            if parent.c.id.type.python_type is not table.c.owner_id.type.python_type:
                continue  # ids of another kind (numbered events) own nothing here
            rows = select(parent.c.id).where(parent.c.child_id == child_id)
            await session.execute(
                update(table)
                .where(table.c.owner_type == owner_type(parent), table.c.owner_id.in_(rows))
                .values(values)
            )


async def _keeps_director(session: AsyncSession, director_id: uuid.UUID, village: str) -> bool:
    user = await session.get(User, director_id)
    return bool(user and user.area_code and village.startswith(user.area_code))


async def transfer_child(
    session: AsyncSession,
    scope: Scope,
    child_id: uuid.UUID,
    data: ChildTransfer,
    expected_version: int | None,
) -> Child:
    child = await load_for_write(session, scope, child_id)
    check_version(child.version, expected_version)
    await rules.village_in_scope(session, scope, data.to_area_code, field="to_area_code")
    if data.to_area_code == child.area_code:
        raise Unprocessable.field(
            "to_area_code", "the child already belongs to this village", code="same_area"
        )
    old_area = child.area_code
    new_area, new_county = data.to_area_code, data.to_area_code[:6]
    await _move_all(session, child.id, new_county, new_area)
    child.area_code, child.county_code = new_area, new_county
    if child.assigned_director_id and not await _keeps_director(
        session, child.assigned_director_id, new_area
    ):
        # The old village's director no longer covers the child.
        child.assigned_director_id = None
    child.version += 1
    child.updated_by = scope.user_id
    child.updated_at = utcnow()
    if child.status == ChildStatus.active:
        await refresh_due(session, child)  # the new county's visit policy may differ
    session.add(
        ChildEvent(
            child_id=child.id,
            county_code=new_county,
            area_code=new_area,
            kind=ChildEventKind.transferred.value,
            reason=data.reason,
            from_area_code=old_area,
            to_area_code=new_area,
            by=scope.user_id,
        )
    )
    await session.flush()
    await audit.record(session, scope, "child.transfer", RESOURCE, child.id, new_area)
    await outbox.emit(
        session,
        "child.transferred",
        resource_type=RESOURCE,
        resource_id=child.id,
        area_code=new_area,
        payload={"child_id": str(child.id), "from_area_code": old_area, "to_area_code": new_area},
    )
    return child
