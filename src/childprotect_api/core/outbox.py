"""Recording domain events in the outbox (same transaction as the change)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import write_buffer
from childprotect_api.models.outbox import OutboxEvent

_TABLE = OutboxEvent.__table__  # type: ignore[attr-defined]


async def emit(
    session: AsyncSession,
    event_type: str,
    *,
    resource_type: str,
    resource_id: uuid.UUID | None,
    area_code: str | None,
    payload: dict[str, Any] | None = None,
) -> OutboxEvent | None:
    """The event, flushed (None when a batch buffers it: see core/write_buffer.py)."""
    values: dict[str, Any] = {
        "event_type": event_type,
        "county_code": area_code[:6] if area_code and len(area_code) >= 6 else None,
        "area_code": area_code,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "payload": payload or {},
    }
    if (buffer := write_buffer.active(session)) is not None:
        # A batch writes its events in one statement at its end (ids assigned then); what
        # the caller has pending goes first, as the flush below would do.
        if session.new or session.dirty or session.deleted:
            await session.flush()
        buffer.add(_TABLE, values)
        return None
    event = OutboxEvent(**values)
    session.add(event)
    await session.flush()
    return event
