from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.visit_policy import VisitPolicy
from tests.conftest import COUNTY, COUNTY_OTHER, VILLAGE_OTHER_COUNTY
from tests.visits.visit_factories import POLICY, StatementLog, put_visit, registered_child

DEFAULTS = {"blue_days": 90, "yellow_days": 30, "orange_days": 7, "red_days": 1}
STRICTER = {"blue_days": 60, "yellow_days": 14, "orange_days": 3, "red_days": 1}


READERS = ["director", "supervisor", "officer", "auditor", "admin", "director_other_township"]


async def test_everyone_working_in_or_above_the_county_reads_it(client, world):
    for actor in READERS:
        r = await client.get(POLICY, params={"county": COUNTY}, headers=world[actor].headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {k: body[k] for k in DEFAULTS} == DEFAULTS
        assert body["is_default"] and body["county_code"] == COUNTY
        assert r.headers["ETag"] == '"0"'


async def test_read_refusals(client, world):
    for actor in ("director_other_county", "supervisor_other_county", "officer_other_county"):
        r = await client.get(POLICY, params={"county": COUNTY}, headers=world[actor].headers)
        assert r.status_code == 404, actor
    r = await client.get(POLICY, params={"county": COUNTY}, headers=world["reporter"].headers)
    assert r.status_code == 403
    r = await client.get(POLICY, params={"county": "629999"}, headers=world["admin"].headers)
    assert r.status_code == 404
    for bad in ("62072", "620722100", "abcdef"):
        r = await client.get(POLICY, params={"county": bad}, headers=world["admin"].headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "county"
    r = await client.get(POLICY, headers=world["admin"].headers)
    assert r.status_code == 422
    r = await client.get(POLICY, params={"county": COUNTY})
    assert r.status_code == 401


async def test_officer_sets_policy_and_the_county_is_rescheduled(
    client, db, session, settings, world
):
    now = utcnow()
    visited = now - timedelta(days=5)
    never = await registered_child(session, settings, risk_level="blue", days_ago=20)
    seen = await registered_child(session, settings, risk_level="yellow", last_visit_at=visited)
    red = await registered_child(session, settings, risk_level="red", last_visit_at=visited)
    closed = await registered_child(
        session, settings, risk_level="yellow", status="closed", closed_reason="moved_away"
    )
    elsewhere = await registered_child(session, settings, VILLAGE_OTHER_COUNTY, risk_level="yellow")
    before = {c.id: (c.next_visit_due, c.version) for c in (never, seen, red, closed, elsewhere)}

    with StatementLog(db) as log:
        r = await client.put(
            POLICY, params={"county": COUNTY}, json=STRICTER, headers=world["officer"].headers
        )
    assert r.status_code == 200, r.text
    assert len(log.starting("UPDATE children")) == 1  # one set-based statement, no loop
    body = r.json()
    assert {k: body[k] for k in STRICTER} == STRICTER
    assert not body["is_default"] and body["updated_by"] == str(world["officer"].id)
    assert body["children_rescheduled"] == 2  # red stays at 1 day; closed and elsewhere untouched
    etag = r.headers["ETag"]

    rows = {
        c.id: c
        for c in (
            await session.execute(select(Child).execution_options(populate_existing=True))
        ).scalars()
    }
    assert rows[never.id].next_visit_due == never.created_at + timedelta(days=60)
    assert rows[seen.id].next_visit_due == visited + timedelta(days=14)
    assert rows[seen.id].version == before[seen.id][1] + 1
    for unchanged in (red, closed, elsewhere):
        assert (rows[unchanged.id].next_visit_due, rows[unchanged.id].version) == before[
            unchanged.id
        ]

    # Readers see it; new visits follow it.
    r = await client.get(POLICY, params={"county": COUNTY}, headers=world["director"].headers)
    assert r.json()["blue_days"] == 60 and r.headers["ETag"] == etag
    child = await registered_child(session, settings, risk_level="orange")
    await put_visit(client, world["director"], child.id, visited_at=visited)
    await session.refresh(child)
    assert child.next_visit_due == visited + timedelta(days=3)


async def test_if_match_is_honoured(client, world):
    h = world["officer"].headers
    r = await client.put(POLICY, params={"county": COUNTY}, json=STRICTER, headers=h)
    etag = r.headers["ETag"]
    r = await client.put(
        POLICY, params={"county": COUNTY}, json=DEFAULTS, headers=h | {"If-Match": '"0"'}
    )
    assert r.status_code == 412
    r = await client.put(
        POLICY, params={"county": COUNTY}, json=DEFAULTS, headers=h | {"If-Match": etag}
    )
    assert r.status_code == 200 and r.json()["children_rescheduled"] == 0


INVALID = [
    ({"blue_days": 0}, "blue_days"),
    ({"blue_days": 366}, "blue_days"),
    ({"red_days": 0}, "red_days"),
    ({"yellow_days": 91}, "yellow_days"),
    ({"orange_days": 31}, "orange_days"),
    ({"red_days": 8}, "red_days"),
    ({"blue_days": "often"}, "blue_days"),
    ({"green_days": 5}, "green_days"),
]


async def test_invalid_intervals_are_422(client, session, world):
    for change, field in INVALID:
        r = await client.put(
            POLICY,
            params={"county": COUNTY},
            json=DEFAULTS | change,
            headers=world["officer"].headers,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field
    assert await session.get(VisitPolicy, COUNTY) is None


async def test_only_the_countys_officers_change_it(client, world):
    for actor in ("director", "supervisor", "auditor", "admin", "reporter"):
        r = await client.put(
            POLICY, params={"county": COUNTY}, json=STRICTER, headers=world[actor].headers
        )
        assert r.status_code == 403, actor
    r = await client.put(
        POLICY,
        params={"county": COUNTY},
        json=STRICTER,
        headers=world["officer_other_county"].headers,
    )
    assert r.status_code == 404
    r = await client.put(
        POLICY, params={"county": COUNTY_OTHER}, json=STRICTER, headers=world["officer"].headers
    )
    assert r.status_code == 404
