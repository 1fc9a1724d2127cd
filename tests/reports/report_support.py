"""Helpers shared by the mandatory-report tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.models.outbox import OutboxEvent
from tests.conftest import TOWNSHIP, World

REPORTS = "/api/v1/reports"


def body(**kw: Any) -> dict[str, Any]:
    """A valid report about an unregistered child in the test township."""
    occurred = datetime.now(UTC) - timedelta(hours=3)
    data: dict[str, Any] = {
        "situation": "multiple_injuries_or_abuse",
        "description": "孩子手臂多处淤青，称被家人殴打",
        "occurred_at": occurred.isoformat(),
        "discovered_at": (occurred + timedelta(hours=1)).isoformat(),
        "area_code": TOWNSHIP,
        "place_description": "洪水镇中心小学",
        "reporter_sector": "school",
        "child_description": {"name": "李小红", "approximate_age": 9, "gender": "female"},
    }
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


async def file(
    client: httpx.AsyncClient, world: World, actor: str = "reporter", **kw: Any
) -> dict[str, Any]:
    r = await client.post(REPORTS, json=body(**kw), headers=world[actor].headers)
    assert r.status_code == 201, r.text
    return r.json()


async def step(
    client: httpx.AsyncClient,
    world: World,
    report_id: str,
    path: str,
    json: dict[str, Any] | None = None,
    actor: str = "officer",
    status: int = 200,
) -> dict[str, Any]:
    r = await client.post(f"{REPORTS}/{report_id}/{path}", json=json, headers=world[actor].headers)
    assert r.status_code == status, r.text
    return r.json()


async def accept_and_refer(
    client: httpx.AsyncClient, world: World, report_id: str, target: str = "police"
) -> dict[str, Any]:
    await step(client, world, report_id, "accept")
    return await step(
        client, world, report_id, "referrals", {"target": target, "contact": "派出所"}, status=201
    )


async def outbox(session: AsyncSession, event_type: str) -> list[OutboxEvent]:
    stmt = select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
    return list((await session.execute(stmt)).scalars())


async def count(session: AsyncSession, model: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def new_id() -> str:
    return str(uuid.uuid4())


async def fresh(session: AsyncSession, model: Any, key: Any) -> Any:
    """The row as it is now in the database."""
    stmt = select(model).where(model.id == key).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()
