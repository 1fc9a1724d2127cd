"""Writes to the append-only audit log, in the transaction of the change they record."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.audit import AuditEvent
from childprotect_api.security.scope import Scope


async def record(
    session: AsyncSession,
    scope: Scope,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_id=scope.actor_id,
            actor_role=scope.role,
            client_id=scope.actor_id if scope.is_client else None,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            county_code=area_code[:6] if area_code and len(area_code) >= 6 else None,
            area_code=area_code,
            request_id=scope.request_id,
        )
    )
    await session.flush()


async def record_many(
    session: AsyncSession,
    scope: Scope,
    action: str,
    resource_type: str,
    resources: list[tuple[uuid.UUID, str]],
) -> None:
    """One audit row per record of a list answer, (id, area code) each; one flush."""
    for resource_id, area_code in resources:
        session.add(
            AuditEvent(
                actor_id=scope.actor_id,
                actor_role=scope.role,
                client_id=scope.actor_id if scope.is_client else None,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                county_code=area_code[:6],
                area_code=area_code,
                request_id=scope.request_id,
            )
        )
    if resources:
        await session.flush()
