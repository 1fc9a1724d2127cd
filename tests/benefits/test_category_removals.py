"""Removals (减员) by county officers, and the categories held before decisions were recorded
(migration 0022benef: approved applications with source `pre_existing`)."""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.benefits.benefit_helpers import (
    APPLICATIONS,
    REMOVALS,
    granted,
    removal_body,
    removals_of,
)
from tests.conftest import OUTSIDER_OFFICERS, OUTSIDERS, VILLAGE
from tests.factories import make_child

MIGRATION = next(Path("migrations/versions").glob("*_0022benef_*.py"))


async def test_a_removal_takes_the_category_off_and_is_kept(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["left_behind", "orphan"])
    h = world["officer"].headers
    body = removal_body("orphan", "adopted", note="被依法收养")
    r = await client.post(removals_of(child.id), json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["reason"] == "adopted" and r.json()["created_by"] == str(world["officer"].id)
    one = await client.get(f"/api/v1/children/{child.id}", headers=h)
    assert one.json()["categories"] == ["left_behind"] and one.json()["version"] == 2
    retry = await client.post(removals_of(child.id), json=body, headers=h)
    assert retry.status_code == 200 and retry.json()["id"] == body["id"]
    r = await client.post(removals_of(child.id), json=removal_body("orphan"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "category_not_held"
    r = await client.get(REMOVALS, params={"reason": "adopted"}, headers=world["director"].headers)
    assert [x["id"] for x in r.json()["items"]] == [body["id"]]
    r = await client.get(REMOVALS, params={"reason": "deceased"}, headers=h)
    assert r.json()["items"] == []


async def test_a_granted_category_can_be_removed(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    await granted(client, world, child.id, "low_income")
    body = removal_body("low_income", "no_longer_eligible")
    r = await client.post(removals_of(child.id), json=body, headers=world["officer"].headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "bored"},
        {"category": "left_behind"},
        {"removed_on": "yesterday"},
        {"removed_on": (date.today() + timedelta(days=5)).isoformat()},
    ],
)
async def test_removal_bad_input(client, world, session, settings, change):
    child = await make_child(session, settings, VILLAGE, categories=["orphan"])
    r = await client.post(
        removals_of(child.id), json={**removal_body(), **change}, headers=world["officer"].headers
    )
    assert r.status_code == 422, r.text


async def test_removal_scope_and_roles(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, categories=["orphan"])
    for name in ("director", "supervisor", "reporter", "auditor", "admin"):
        r = await client.post(
            removals_of(child.id), json=removal_body(), headers=world[name].headers
        )
        assert r.status_code == 403, name
    for name in OUTSIDER_OFFICERS:
        r = await client.post(
            removals_of(child.id), json=removal_body(), headers=world[name].headers
        )
        assert r.status_code == 404, name
    r = await client.post(
        removals_of(child.id), json=removal_body(), headers=world["officer"].headers
    )
    assert r.status_code == 201
    for name in (*OUTSIDERS, *OUTSIDER_OFFICERS):
        r = await client.get(REMOVALS, headers=world[name].headers)
        assert r.status_code == 200 and str(child.id) not in r.text


async def test_categories_held_before_the_record_are_visible_as_such(
    client, world, session, settings
):
    child = await make_child(
        session, settings, VILLAGE, categories=["left_behind", "orphan", "low_income"]
    )
    spec = importlib.util.spec_from_file_location("m0022", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for statement in module.BACKFILL:
        await session.execute(text(statement))
    await session.commit()
    r = await client.get(
        APPLICATIONS, params={"child_id": str(child.id)}, headers=world["director"].headers
    )
    assert r.status_code == 200
    got = sorted((a["category"], a["status"], a["source"]) for a in r.json()["items"])
    assert got == [
        ("low_income", "approved", "pre_existing"),
        ("orphan", "approved", "pre_existing"),
    ]
    app_id = r.json()["items"][0]["id"]
    r = await client.get(f"{APPLICATIONS}/{app_id}/timeline", headers=world["director"].headers)
    assert [e["kind"] for e in r.json()] == ["recorded"]
