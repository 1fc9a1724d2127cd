"""Who sees which report: county officers everything; the filer their own filings' status;
the local network (supervisor, director) once referred to it, with the reporter kept
confidential; everyone else not found. Lists, filters, summary, and the reads' audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from childprotect_api.models.audit import AuditEvent
from tests.conftest import (
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child
from tests.reports.report_support import REPORTS, accept_and_refer, file, step

# The filer hidden: one object type whatever the caller sees (DESIGN.md "API conventions").
HIDDEN_REPORTER = {
    "confidential": True,
    "user_id": None,
    "client_id": None,
    "name": None,
    "contact": None,
}


async def _get(client, world, actor, rid):
    return await client.get(f"{REPORTS}/{rid}", headers=world[actor].headers)


async def test_local_network_sees_the_report_only_after_a_local_referral(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE)
    rid = (
        await file(
            client, world, "reporter", child_id=str(child.id), reporter_contact="13812345678"
        )
    )["id"]
    for actor in ("director", "supervisor"):
        assert (await _get(client, world, actor, rid)).status_code == 404
    await accept_and_refer(client, world, rid, target="police")
    assert (await _get(client, world, "director", rid)).status_code == 404
    listed = (await client.get(REPORTS, headers=world["director"].headers)).json()["items"]
    assert listed == []

    await step(client, world, rid, "referrals", {"target": "village_director"}, status=201)
    for actor in ("director", "supervisor"):
        r = await _get(client, world, actor, rid)
        assert r.status_code == 200, actor
        report = r.json()
        assert report["reporter"] == HIDDEN_REPORTER
        assert "13812345678" not in r.text and "reporter_contact" not in report
        assert report["child_id"] == str(child.id)
        timeline = (
            await client.get(f"{REPORTS}/{rid}/timeline", headers=world[actor].headers)
        ).json()["items"]
        submitted = timeline[0]
        assert submitted["kind"] == "submitted"
        assert submitted["actor_id"] is None and submitted["actor_role"] == "confidential"
        accepted = next(e for e in timeline if e["kind"] == "accepted")
        assert accepted["actor_id"] == str(world["officer"].id)
        listed = (await client.get(REPORTS, headers=world[actor].headers)).json()["items"]
        assert [x["id"] for x in listed] == [rid]

    for actor in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        assert (await _get(client, world, actor, rid)).status_code == 404, actor
        r = await client.get(f"{REPORTS}/{rid}/timeline", headers=world[actor].headers)
        assert r.status_code == 404, actor
        listed = (await client.get(REPORTS, headers=world[actor].headers)).json()["items"]
        assert listed == [], actor

    officer = (await _get(client, world, "officer", rid)).json()
    assert officer["reporter"] == {
        "confidential": False,
        "user_id": str(world["reporter"].id),
        "client_id": None,
        "name": "reporter",
        "contact": "13812345678",
    }
    # Every read of the report was recorded, with who read it.
    readers = (
        await session.execute(
            select(AuditEvent.actor_id).where(
                AuditEvent.action == "read", AuditEvent.resource_id == officer["id"]
            )
        )
    ).scalars()
    assert {world["director"].id, world["supervisor"].id, world["officer"].id} <= set(readers)


async def test_a_filer_sees_their_own_filings_only(client, world):
    own = await file(client, world, "reporter")
    other = await file(client, world, "director", area_code=VILLAGE)
    h = world["reporter"].headers
    mine = (await client.get(f"{REPORTS}/mine", headers=h)).json()
    assert [m["id"] for m in mine["items"]] == [own["id"]]
    assert (await client.get(f"{REPORTS}/mine/{own['id']}", headers=h)).json() == own
    assert (await client.get(f"{REPORTS}/mine/{other['id']}", headers=h)).status_code == 404
    # The handling view is not the filer's.
    for rid in (own["id"], other["id"]):
        assert (await client.get(f"{REPORTS}/{rid}", headers=h)).status_code == 404
        assert (await client.get(f"{REPORTS}/{rid}/timeline", headers=h)).status_code == 404
    assert (await client.get(REPORTS, headers=h)).json()["items"] == []


async def test_a_filer_in_the_local_network_still_sees_their_own_identity(client, world):
    rid = (await file(client, world, "director", area_code=VILLAGE))["id"]
    await accept_and_refer(client, world, rid, target="village_director")
    mine = (await _get(client, world, "director", rid)).json()
    assert mine["reporter"]["user_id"] == str(world["director"].id)
    other_director = (await _get(client, world, "supervisor", rid)).json()
    assert other_director["reporter"] == HIDDEN_REPORTER


@pytest.mark.parametrize("actor", ["auditor", "admin"])
async def test_roles_outside_the_matrix_get_403(client, world, actor):
    rid = (await file(client, world))["id"]
    h = world[actor].headers
    for path in (REPORTS, f"{REPORTS}/mine", f"{REPORTS}/summary", f"{REPORTS}/{rid}"):
        assert (await client.get(path, headers=h)).status_code == 403, path


async def test_list_filters_and_pages(client, world, session):
    h = world["officer"].headers
    a = (await file(client, world, situation="organised_begging"))["id"]
    b = (await file(client, world, area_code=VILLAGE_SAME_TOWNSHIP))["id"]
    c = (await file(client, world, area_code=VILLAGE))["id"]
    await step(client, world, c, "accept")

    async def ids(**params):
        r = await client.get(REPORTS, params=params, headers=h)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["items"]]

    assert await ids() == [c, b, a]
    assert await ids(status="accepted") == [c]
    assert await ids(situation="organised_begging") == [a]
    assert await ids(area=VILLAGE_SAME_TOWNSHIP) == [b]
    assert await ids(area=VILLAGE) == [c]
    assert await ids(area=TOWNSHIP) == [c, b, a]
    assert await ids(since=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == []
    assert await ids(overdue="true") == []
    assert await ids(overdue="false") == [c, b, a]
    page = (await client.get(REPORTS, params={"limit": 2}, headers=h)).json()
    assert [x["id"] for x in page["items"]] == [c, b]
    rest = (
        await client.get(REPORTS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=h)
    ).json()
    assert [x["id"] for x in rest["items"]] == [a] and rest["next_cursor"] is None
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"situation": "x"}, "situation"),
        ({"area": "6207x"}, "area"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"cursor": "!!"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        r = await client.get(REPORTS, params=params, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, params


async def test_summary(client, world):
    await file(client, world)
    rid = (await file(client, world))["id"]
    await step(client, world, rid, "accept")
    r = await client.get(f"{REPORTS}/summary", headers=world["officer"].headers)
    assert r.json() == {
        "by_status": {"submitted": 1, "accepted": 1, "referred": 0, "closed": 0},
        "overdue": 0,
        "overdue_accept": 0,
        "overdue_first_referral": 0,
    }
    r = await client.get(f"{REPORTS}/summary", headers=world["officer_other_county"].headers)
    assert r.json()["by_status"]["submitted"] == 0
