"""Issue #18 items 1 and 2: the audit log names no mandatory reporter to anyone but county
officers of the report's area, and gives auditors no record-level map of the registry."""

from __future__ import annotations

from collections import Counter

from childprotect_api.models.user import Role
from tests.children.child_payloads import CHILDREN
from tests.conftest import COUNTY, VILLAGE, VILLAGE_SAME_TOWNSHIP, make_actor
from tests.factories import make_child
from tests.reports import report_support

AUDIT = "/api/v1/audit"


async def _rows(client, actor, **params):  # type: ignore[no-untyped-def]
    r = await client.get(AUDIT, params={"limit": 200, **params}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_report_rows_name_the_filer_only_to_county_officers(client, world):
    report = await report_support.file(client, world, "reporter")
    filer = str(world["reporter"].id)

    officer_rows = await _rows(client, world["officer"])
    created = [x for x in officer_rows if x["resource_id"] == report["id"]]
    assert created and created[0]["actor_id"] == filer  # the county officer sees the filer

    for name in ("admin", "auditor"):
        rows = await _rows(client, world[name])
        assert rows, name
        assert filer not in str(rows), name
        assert all(x["actor_role"] != Role.reporter.value for x in rows), name
    # The admin still sees that a report was filed, by nobody named, on a day.
    admin_rows = [x for x in await _rows(client, world["admin"]) if x["resource_type"] == "report"]
    assert admin_rows and admin_rows[0]["actor_role"] == "withheld"
    assert admin_rows[0]["request_id"] is None
    # Filtering by the filer finds none of their filings, for admins.
    assert await _rows(client, world["admin"], user_id=filer) == []
    assert len(await _rows(client, world["officer"], user_id=filer)) >= 1
    # A county officer of another county sees nothing of it.
    assert report["id"] not in str(await _rows(client, world["officer_other_county"]))


async def test_a_report_linked_to_a_child_at_intake_does_not_name_the_filer(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE)
    await session.commit()
    await report_support.file(client, world, "director", child_id=str(child.id), area_code=VILLAGE)
    filer = str(world["director"].id)
    officer_rows = await _rows(client, world["officer"])
    assert any(x["action"] == "link_report" and x["actor_id"] == filer for x in officer_rows)
    admin_rows = await _rows(client, world["admin"])
    assert [x for x in admin_rows if x["action"] == "link_report"]
    assert all(x["actor_id"] is None for x in admin_rows if x["action"] == "link_report")


async def test_auditors_see_county_grain_only(client, world, session, settings):
    # Six children in one village, two in the next: statistics show the second as "<5".
    kids = [await make_child(session, settings, VILLAGE) for _ in range(6)]
    kids += [await make_child(session, settings, VILLAGE_SAME_TOWNSHIP) for _ in range(2)]
    await session.commit()
    for kid in kids:
        r = await client.get(f"{CHILDREN}/{kid.id}", headers=world["officer"].headers)
        assert r.status_code == 200

    rows = await _rows(client, world["auditor"])
    assert len(rows) == 8
    for x in rows:
        assert x["actor_id"] is None and x["client_id"] is None
        assert x["resource_id"] is None and x["request_id"] is None
        assert x["area_code"] == COUNTY  # never a village: no counting per village
        assert x["at"].endswith("T00:00:00+08:00")  # the day, not the moment
    assert Counter(x["area_code"] for x in rows) == {COUNTY: 8}
    for kid in kids:
        assert str(kid.id) not in str(rows)

    # No filtering by record or person.
    for params in ({"child_id": str(kids[0].id)}, {"user_id": str(world["officer"].id)}):
        r = await client.get(AUDIT, params=params, headers=world["auditor"].headers)
        assert r.status_code == 403 and r.json()["code"] == "audit_filter_forbidden", params

    # An auditor of one village would count its children: only their own actions.
    village_auditor = await make_actor(
        session, settings, "auditor_village", Role.auditor, VILLAGE_SAME_TOWNSHIP
    )
    await session.commit()
    assert await _rows(client, village_auditor) == []
    r = await client.get(
        "/api/v1/stats/summary",
        params={"area": VILLAGE_SAME_TOWNSHIP},
        headers=village_auditor.headers,
    )
    assert r.status_code == 200
    assert len(await _rows(client, village_auditor)) <= 1  # their own statistics read, if any
