"""Arranging agreements for the tests: children with a parent working away, request bodies,
and an agreement taken through its four signatures."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.models.agreement import ChecklistItem
from childprotect_api.models.child import Child
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.children import id_numbers
from tests.conftest import VILLAGE, World
from tests.factories import make_child

CHILDREN = "/api/v1/children"
AGREEMENTS = "/api/v1/agreements"

FATHER_AWAY = {
    "situation": "working_away",
    "work_place": "广东省东莞市",
    "away_since": "2023-02-01",
}
MOTHER_HOME = {"situation": "at_home"}
ALL_CONFIRMED = {item.value: True for item in ChecklistItem}

_seq = itertools.count(300)


def adult_id(born: date = date(1961, 4, 9), gender: str = "female") -> str:
    return id_numbers.make("620722", born, next(_seq), gender)


async def away_child(
    session: AsyncSession, settings: Settings, area: str = VILLAGE, **fields: Any
) -> Child:
    fields.setdefault("father", FATHER_AWAY)
    fields.setdefault("mother", MOTHER_HOME)
    return await make_child(session, settings, area, **fields)


def body(**overrides: Any) -> dict[str, Any]:
    today = china_today()
    data: dict[str, Any] = {
        "guardian": {
            "name": "王建国",
            "relation": "father",
            "phone": "13800000001",
            "id_number": adult_id(date(1985, 6, 1), "male"),
        },
        "caregiver": {
            "name": "李秀英",
            "relation": "paternal_grandparent",
            "phone": "13800000002",
            "id_number": adult_id(),
            "address": "洪水村三社12号",
        },
        "checklist": dict(ALL_CONFIRMED),
        "school_notified_on": (today - timedelta(days=3)).isoformat(),
        "village_committee_notified_on": (today - timedelta(days=2)).isoformat(),
        "times_per_week_child": 2,
        "times_per_week_caregiver": 1,
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=365)).isoformat(),
    }
    data.update(overrides)
    return data


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], child_id: uuid.UUID, **overrides: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{CHILDREN}/{child_id}/agreements", json=body(**overrides), headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def sign(
    client: httpx.AsyncClient, headers: dict[str, str], agreement_id: str, party: str, **extra: Any
) -> httpx.Response:
    payload = {"party": party, "signed_on": china_today().isoformat(), **extra}
    return await client.post(
        f"{AGREEMENTS}/{agreement_id}/signatures", json=payload, headers=headers
    )


async def sign_three(client: httpx.AsyncClient, world: World, agreement_id: str) -> None:
    """Every signature but the township's (which activates)."""
    for party in ("guardian", "caregiver", "village_committee"):
        r = await sign(client, world["director"].headers, agreement_id, party)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "draft"


async def make_active(
    client: httpx.AsyncClient, world: World, child_id: uuid.UUID, **overrides: Any
) -> dict[str, Any]:
    draft = await create(client, world["director"].headers, child_id, **overrides)
    await sign_three(client, world, draft["id"])
    r = await sign(client, world["supervisor"].headers, draft["id"], "township")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    return dict(r.json())
