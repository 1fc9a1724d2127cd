"""Helpers for the care-work tests: duties and alerts as the database holds them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.care import Alert, ChildDuty
from tests.conftest import World

CHILDREN = "/api/v1/children"
PAIRINGS = "/api/v1/pairings"
CASES = "/api/v1/cases"
ALERTS = "/api/v1/alerts"


async def open_duties(session: AsyncSession, child_id: uuid.UUID) -> set[str]:
    stmt = select(ChildDuty.kind).where(
        ChildDuty.child_id == child_id,
        ChildDuty.met_at.is_(None),  # type: ignore[union-attr]
    )
    return set((await session.execute(stmt)).scalars())


async def alerts_for(session: AsyncSession, kind: str | None = None) -> list[Alert]:
    stmt = (
        select(Alert)
        .order_by(Alert.created_at, Alert.id)  # type: ignore[arg-type]
        .execution_options(populate_existing=True)
    )
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    return list((await session.execute(stmt)).scalars())


async def set_risk(
    client: httpx.AsyncClient, world: World, child_id: uuid.UUID, level: str, actor: str
) -> None:
    r = await client.put(
        f"{CHILDREN}/{child_id}/risk",
        json={"level": level, "reason": "家庭变故"},
        headers=world[actor].headers,
    )
    assert r.status_code == 200, r.text


def pairing_body(child_id: uuid.UUID, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "child_id": str(child_id),
        "helper_name": "张爱心",
        "helper_phone": "13900000001",
        "helper_kind": "caring_mother",
        "starts_on": date.today().isoformat(),
    }
    data.update(kw)
    return data


def case_body(child_id: uuid.UUID, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(uuid.uuid4()), "child_id": str(child_id), "reason": "risk"}
    data.update(kw)
    return data
