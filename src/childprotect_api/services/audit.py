"""Writes to the append-only audit log, in the transaction of the change they record."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.audit import AuditEvent
from childprotect_api.security.scope import Scope

_INSERT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]


async def record(
    session: AsyncSession,
    scope: Scope,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None = None,
) -> None:
    # Whatever the caller has pending goes first, as an ORM flush of the event would do;
    # the event itself is a prepared INSERT (it is written on every read of personal data).
    if session.new or session.dirty or session.deleted:
        await session.flush()
    await session.execute(
        _INSERT,
        {
            "actor_id": scope.actor_id,
            "actor_role": scope.role,
            "client_id": scope.actor_id if scope.is_client else None,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "county_code": area_code[:6] if area_code and len(area_code) >= 6 else None,
            "area_code": area_code,
            "request_id": scope.request_id,
        },
    )
