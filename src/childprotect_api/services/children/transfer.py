"""Moving a child to another village: the only write that takes a record out of the writer's
scope, so it needs scope over both ends (a village director or supervisor who covers both,
or a county officer of the county that holds both).

Every table that holds the child's data carries the child's village (`child_id`,
`county_code`, `area_code`), so that scope is one prefix filter: the transfer moves all of
them in the same transaction, found from the metadata (a table added later by another
module moves with the child without being listed here). The old village's users get 404
afterwards; the move is kept in `child_events` (from/to) and announced in the outbox."""

from __future__ import annotations

import uuid

from sqlalchemy import Table, update
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

_LINK_COLUMNS = {"child_id", "county_code", "area_code"}


def child_linked_tables() -> list[Table]:
    """Tables whose rows belong to one child and carry its village."""
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if _LINK_COLUMNS <= set(t.columns.keys()) and t.name != Child.__tablename__
    ]


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
    for table in child_linked_tables():
        await session.execute(
            update(table)
            .where(table.c.child_id == child.id)
            .values(county_code=new_county, area_code=new_area)
        )
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
