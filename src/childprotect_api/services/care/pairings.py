"""Pairings (结对帮扶): helpers of each kind for a child, several at once, with a contact log.
Staff in scope create, end and log. Creating or ending one recomputes the child's
`needs_pairing` duty in the same transaction."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Conflict, NotFound, Unprocessable
from childprotect_api.models.base import CLOCK_SKEW, utcnow
from childprotect_api.models.care import Pairing, PairingContact, PairingStatus
from childprotect_api.models.child import Child
from childprotect_api.schemas.care import ContactCreate, PairingCreate, PairingEnd, PairingUpdate
from childprotect_api.security.scope import Action, Scope, apply_scope
from childprotect_api.services.care.common import after_id, child_in_scope, require_active
from childprotect_api.services.duties import duties

RESOURCE = "pairing"


def _today() -> date:
    return utcnow().date()


async def get(
    session: AsyncSession, scope: Scope, pairing_id: uuid.UUID, *, lock: bool = False
) -> Pairing:
    scope.require(Action.care_read)
    stmt = apply_scope(
        select(Pairing).where(col(Pairing.id) == pairing_id),
        scope,
        col(Pairing.area_code),
        col(Pairing.county_code),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    pairing = (await session.execute(stmt)).scalar_one_or_none()
    if pairing is None:
        raise NotFound("no such pairing")
    return pairing


async def create(session: AsyncSession, scope: Scope, data: PairingCreate) -> tuple[Pairing, bool]:
    """A new pairing; a retry with the same client id answers the stored one (False)."""
    scope.require(Action.pairing_write)
    if data.id is not None:
        existing = await session.get(Pairing, data.id)
        if existing is not None:
            if not scope.covers(existing.area_code) or existing.child_id != data.child_id:
                raise client_ids.IdTaken()
            return existing, False
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Unprocessable.field("ends_on", "ends before it starts", code="ends_before_start")
    child = await child_in_scope(session, scope, data.child_id, lock=True)
    require_active(child)
    pairing = Pairing(
        id=data.id or uuid.uuid4(),
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        helper_name=data.helper_name,
        helper_phone=data.helper_phone,
        helper_kind=data.helper_kind.value,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        note=data.note,
        created_by=scope.user_id,
        updated_by=scope.user_id,
    )
    session.add(pairing)
    await session.flush()
    await duties.recompute(session, child)
    await audit.record(session, scope, "pairing.create", RESOURCE, pairing.id, pairing.area_code)
    return pairing, True


def _touch(pairing: Pairing, scope: Scope) -> None:
    pairing.version += 1
    pairing.updated_at = utcnow()
    pairing.updated_by = scope.user_id


async def update(
    session: AsyncSession,
    scope: Scope,
    pairing_id: uuid.UUID,
    data: PairingUpdate,
    expected: int | None,
) -> Pairing:
    scope.require(Action.pairing_write)
    pairing = await get(session, scope, pairing_id, lock=True)
    check_version(pairing.version, expected)
    changes = data.model_dump(exclude_unset=True)
    if "ends_on" in changes and changes["ends_on"] is not None:
        if changes["ends_on"] < pairing.starts_on:
            raise Unprocessable.field("ends_on", "ends before it starts", code="ends_before_start")
    changed = False
    for key, value in changes.items():
        if getattr(pairing, key) != value:
            setattr(pairing, key, value)
            changed = True
    if changed:
        _touch(pairing, scope)
        await session.flush()
        await audit.record(
            session, scope, "pairing.update", RESOURCE, pairing.id, pairing.area_code
        )
    return pairing


async def end(
    session: AsyncSession,
    scope: Scope,
    pairing_id: uuid.UUID,
    data: PairingEnd,
    expected: int | None,
) -> Pairing:
    """End a pairing; an orange or red child left with none has `needs_pairing` again."""
    scope.require(Action.pairing_write)
    pairing = await get(session, scope, pairing_id, lock=True)
    check_version(pairing.version, expected)
    if pairing.status == PairingStatus.ended.value:
        raise Conflict("the pairing has already ended", code="pairing_ended")
    ends_on = data.ends_on or _today()
    if ends_on < pairing.starts_on:
        raise Unprocessable.field("ends_on", "ends before it starts", code="ends_before_start")
    pairing.status = PairingStatus.ended.value
    pairing.end_reason = data.end_reason.value
    pairing.ends_on = ends_on
    if data.note:
        pairing.note = data.note
    _touch(pairing, scope)
    await session.flush()
    child = await session.get(Child, pairing.child_id, with_for_update=True)
    if child is not None:
        await duties.recompute(session, child)
    await audit.record(session, scope, "pairing.end", RESOURCE, pairing.id, pairing.area_code)
    return pairing


async def log_contact(
    session: AsyncSession, scope: Scope, pairing_id: uuid.UUID, data: ContactCreate
) -> tuple[PairingContact, bool]:
    scope.require(Action.pairing_write)
    pairing = await get(session, scope, pairing_id)
    if data.id is not None:
        existing = await session.get(PairingContact, data.id)
        if existing is not None:
            if existing.pairing_id != pairing.id:
                raise client_ids.IdTaken()
            return existing, False
    if data.contacted_at > utcnow() + CLOCK_SKEW:
        raise Unprocessable.field("contacted_at", "lies in the future", code="contacted_in_future")
    contact = PairingContact(
        id=data.id or uuid.uuid4(),
        pairing_id=pairing.id,
        child_id=pairing.child_id,
        county_code=pairing.county_code,
        area_code=pairing.area_code,
        contacted_at=data.contacted_at,
        kind=data.kind.value,
        note=data.note,
        created_by=scope.user_id,
    )
    session.add(contact)
    await session.flush()
    await audit.record(session, scope, "pairing.contact", RESOURCE, pairing.id, pairing.area_code)
    return contact, True


async def list_pairings(
    session: AsyncSession,
    scope: Scope,
    *,
    child_id: uuid.UUID | None,
    status: PairingStatus | None,
    limit: int,
    cursor: str | None,
) -> list[Pairing]:
    scope.require(Action.care_read)
    stmt = apply_scope(select(Pairing), scope, col(Pairing.area_code), col(Pairing.county_code))
    if child_id is not None:
        stmt = stmt.where(col(Pairing.child_id) == child_id)
    if status is not None:
        stmt = stmt.where(col(Pairing.status) == status.value)
    if (after := after_id(cursor)) is not None:
        stmt = stmt.where(col(Pairing.id) > after)
    rows = list((await session.execute(stmt.order_by(col(Pairing.id)).limit(limit))).scalars())
    await audit.record_many(session, scope, "list", RESOURCE, [(p.id, p.area_code) for p in rows])
    return rows


async def list_contacts(
    session: AsyncSession, scope: Scope, pairing_id: uuid.UUID, limit: int, cursor: str | None
) -> list[PairingContact]:
    pairing = await get(session, scope, pairing_id)
    stmt = select(PairingContact).where(col(PairingContact.pairing_id) == pairing.id)
    if (after := after_id(cursor)) is not None:
        stmt = stmt.where(col(PairingContact.id) > after)
    stmt = stmt.order_by(col(PairingContact.id)).limit(limit)
    return list((await session.execute(stmt)).scalars())
