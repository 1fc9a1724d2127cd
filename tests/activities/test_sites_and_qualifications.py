"""Sites (阵地: 儿童之家, ...): kept by supervisors and county officers, read by staff in scope,
opened and closed; users' qualifications, set by county officers."""

from __future__ import annotations

import pytest

from tests.activities.activity_helpers import SITES, site_body
from tests.conftest import (
    COUNTY,
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
)

USERS = "/api/v1/users"


async def test_site_lifecycle(client, world):
    h = world["supervisor"].headers
    body = site_body(VILLAGE)
    r = await client.post(SITES, json=body, headers=h)
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["status"] == "open" and r.headers["ETag"] == '"1"'
    again = await client.post(SITES, json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == site["id"]
    r = await client.post(SITES, json={**body, "name": "别的"}, headers=h)
    assert r.status_code == 409
    url = f"{SITES}/{site['id']}"
    assert (await client.patch(url, json={"status": "closed"}, headers=h)).status_code == 428
    r = await client.patch(url, json={"status": "closed"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["closed_on"] is not None
    r = await client.patch(url, json={"status": "open"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 412
    r = await client.get(SITES, params={"status": "closed"}, headers=world["director"].headers)
    assert [s["id"] for s in r.json()["items"]] == [site["id"]]
    r = await client.get(SITES, params={"status": "open"}, headers=world["director"].headers)
    assert r.json()["items"] == []


async def test_site_scope_and_roles(client, world):
    r = await client.post(SITES, json=site_body(VILLAGE), headers=world["officer"].headers)
    site = r.json()
    url = f"{SITES}/{site['id']}"
    for name in ("director", "supervisor", "officer"):
        assert (await client.get(url, headers=world[name].headers)).status_code == 200
    for name in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        h = world[name].headers
        assert (await client.get(url, headers=h)).status_code == 404
        ids = [s["id"] for s in (await client.get(SITES, headers=h)).json()["items"]]
        assert site["id"] not in ids
    for name in OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await client.patch(
            url, json={"name": "x"}, headers={**world[name].headers, "If-Match": '"1"'}
        )
        assert r.status_code == 404
    # Village directors read sites but do not keep them.
    r = await client.post(SITES, json=site_body(VILLAGE), headers=world["director"].headers)
    assert r.status_code == 403
    for role in ("reporter", "auditor", "admin"):
        assert (await client.get(SITES, headers=world[role].headers)).status_code == 403
    for area in (VILLAGE_OTHER_TOWNSHIP, COUNTY, VILLAGE_OTHER_COUNTY):
        r = await client.post(SITES, json=site_body(area), headers=world["supervisor"].headers)
        assert r.status_code == 404, area
    r = await client.post(
        SITES, json=site_body(TOWNSHIP, kind="protection_station"), headers=world["officer"].headers
    )
    assert r.status_code == 201
    r = await client.post(
        SITES, json=site_body(VILLAGE, kind="school"), headers=world["officer"].headers
    )
    assert r.status_code == 422


async def test_qualifications_set_by_county_officers(client, world):
    url = f"{USERS}/{world['director'].id}"
    r = await client.patch(
        url,
        json={"qualifications": ["social_worker", "teacher", "social_worker"]},
        headers=world["officer"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["qualifications"] == ["social_worker", "teacher"]
    r = await client.get(url, headers=world["officer"].headers)
    assert r.json()["qualifications"] == ["social_worker", "teacher"]
    r = await client.patch(
        url, json={"qualifications": ["pilot"]}, headers=world["officer"].headers
    )
    assert r.status_code == 422
    r = await client.patch(url, json={"qualifications": None}, headers=world["officer"].headers)
    assert r.status_code == 422
    # Another county's officer does not see the user; admins manage users, not qualifications.
    r = await client.patch(
        url, json={"qualifications": []}, headers=world["officer_other_county"].headers
    )
    assert r.status_code == 404
    r = await client.patch(url, json={"qualifications": []}, headers=world["admin"].headers)
    assert r.status_code == 403


@pytest.mark.parametrize("name", ["director", "supervisor"])
async def test_staff_may_not_set_qualifications(client, world, name):
    r = await client.patch(
        f"{USERS}/{world['director'].id}",
        json={"qualifications": ["lawyer"]},
        headers=world[name].headers,
    )
    assert r.status_code == 403
