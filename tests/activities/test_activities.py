"""Activities (关爱服务/活动台账): scope at every area level, permissions, idempotent creates,
ETag edits, filters and keyset pages, the children, staff and sites they name, photos."""

from __future__ import annotations

import uuid

import pytest

from childprotect_api.config import Settings
from tests.activities.activity_helpers import ACTIVITIES, JPEG, PNG, SITES, activity_body, site_body
from tests.conftest import (
    COUNTY,
    COUNTY_OTHER,
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    TOWNSHIP,
    TOWNSHIP_OTHER,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child


async def _create(client, world, actor: str, body: dict) -> dict:
    r = await client.post(ACTIVITIES, json=body, headers=world[actor].headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_director_logs_in_own_village_only(client, world):
    h = world["director"].headers
    r = await client.post(ACTIVITIES, json=activity_body(VILLAGE), headers=h)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["amount"] == "1050.00" and out["version"] == 1 and r.headers["ETag"] == '"1"'
    assert out["created_by"] == str(world["director"].id)
    for area in (VILLAGE_SAME_TOWNSHIP, TOWNSHIP, COUNTY, VILLAGE_OTHER_COUNTY):
        r = await client.post(ACTIVITIES, json=activity_body(area), headers=h)
        assert r.status_code == 404, (area, r.text)  # outside the scope: as if it did not exist


@pytest.mark.parametrize("area", [VILLAGE, TOWNSHIP_OTHER, COUNTY])
async def test_county_officer_logs_at_any_level_of_the_county(client, world, area):
    out = await _create(client, world, "officer", activity_body(area, kind="training"))
    assert out["area_code"] == area


async def test_supervisor_township_and_its_villages(client, world):
    await _create(client, world, "supervisor", activity_body(TOWNSHIP))
    await _create(client, world, "supervisor", activity_body(VILLAGE_SAME_TOWNSHIP))
    for area in (COUNTY, TOWNSHIP_OTHER, COUNTY_OTHER, "62", "6207"):
        r = await client.post(
            ACTIVITIES, json=activity_body(area), headers=world["supervisor"].headers
        )
        assert r.status_code == 404, area  # outside the scope: as if it did not exist


@pytest.mark.parametrize("role", ["reporter", "auditor", "admin"])
async def test_roles_outside_the_matrix_are_refused(client, world, role):
    r = await client.post(ACTIVITIES, json=activity_body(VILLAGE), headers=world[role].headers)
    assert r.status_code == 403
    assert (await client.get(ACTIVITIES, headers=world[role].headers)).status_code == 403


async def test_reads_are_scoped(client, world):
    a = await _create(client, world, "director", activity_body(VILLAGE))
    for name in ("director", "supervisor", "officer"):
        r = await client.get(f"{ACTIVITIES}/{a['id']}", headers=world[name].headers)
        assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    for name in (*OUTSIDERS, *OUTSIDER_SUPERVISORS, *OUTSIDER_OFFICERS):
        h = world[name].headers
        assert (await client.get(f"{ACTIVITIES}/{a['id']}", headers=h)).status_code == 404
        r = await client.patch(
            f"{ACTIVITIES}/{a['id']}", json={"title": "x"}, headers={**h, "If-Match": '"1"'}
        )
        assert r.status_code == 404
        assert (
            await client.get(f"{ACTIVITIES}/{a['id']}/attachments", headers=h)
        ).status_code == 404
        ids = [i["id"] for i in (await client.get(ACTIVITIES, headers=h)).json()["items"]]
        assert a["id"] not in ids
    # A county-level activity is not a village director's.
    c = await _create(client, world, "officer", activity_body(COUNTY))
    r = await client.get(f"{ACTIVITIES}/{c['id']}", headers=world["director"].headers)
    assert r.status_code == 404


async def test_create_is_idempotent_on_the_client_id(client, world):
    body = activity_body(VILLAGE)
    h = world["director"].headers
    first = await client.post(ACTIVITIES, json=body, headers=h)
    again = await client.post(ACTIVITIES, json=body, headers=h)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    other = await client.post(ACTIVITIES, json={**body, "title": "另一场"}, headers=h)
    assert other.status_code == 409 and other.json()["code"] == "id_taken"
    # The same id from another county: in use, and nothing about it shown.
    r = await client.post(
        ACTIVITIES,
        json={**body, "area_code": VILLAGE_OTHER_COUNTY},
        headers=world["director_other_county"].headers,
    )
    assert r.status_code == 409 and "暑期" not in r.text and VILLAGE not in r.text
    listed = (await client.get(ACTIVITIES, headers=h)).json()["items"]
    assert [i["id"] for i in listed] == [body["id"]]


async def test_bad_inputs_are_422(client, world):
    h = world["director"].headers
    bad = [
        {"kind": "party"},
        {"participants": -1},
        {"amount": "12.345"},
        {"amount": 12.5},
        {"held_on": "2099-01-01"},
        {"area_code": "12345"},
        {"organiser_kind": "club"},
        {"title": ""},
        {"id": "not-a-uuid"},
        {"surprise": 1},
    ]
    for over in bad:
        r = await client.post(ACTIVITIES, json={**activity_body(VILLAGE), **over}, headers=h)
        assert r.status_code == 422, (over, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(ACTIVITIES, params={"cursor": "!!!"}, headers=h)
    assert r.status_code == 422
    r = await client.get(ACTIVITIES, params={"area": VILLAGE_OTHER_COUNTY}, headers=h)
    assert r.status_code == 404


async def test_children_and_staff_must_be_in_scope(client, world, session, settings: Settings):
    mine = await make_child(session, settings, VILLAGE)
    theirs = await make_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    await session.commit()
    h = world["director"].headers
    ok = activity_body(
        VILLAGE, child_ids=[str(mine.id), str(mine.id)], staff_ids=[str(world["director"].id)]
    )
    out = await _create(client, world, "director", ok)
    assert out["child_ids"] == [str(mine.id)]  # duplicates dropped
    unknown = str(uuid.uuid4())
    for ids in ([str(theirs.id)], [unknown]):
        r = await client.post(ACTIVITIES, json=activity_body(VILLAGE, child_ids=ids), headers=h)
        assert r.status_code == 422 and r.json()["code"] == "unknown_children"
    # Another village's child and an unknown id answer alike (nothing revealed).
    r1 = await client.post(
        ACTIVITIES, json=activity_body(VILLAGE, child_ids=[str(theirs.id)]), headers=h
    )
    assert "another" not in r1.text and "village" not in r1.json()["detail"]
    r = await client.post(
        ACTIVITIES,
        json=activity_body(VILLAGE, staff_ids=[str(world["officer"].id)]),
        headers=h,
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_staff"
    # The officer's scope holds the director.
    await _create(
        client, world, "officer", activity_body(COUNTY, staff_ids=[str(world["director"].id)])
    )


async def test_site_must_be_in_scope(client, world):
    site = (
        await client.post(SITES, json=site_body(VILLAGE), headers=world["officer"].headers)
    ).json()
    other = (
        await client.post(
            SITES,
            json=site_body(VILLAGE_SAME_TOWNSHIP, name="益民村儿童之家"),
            headers=world["officer"].headers,
        )
    ).json()
    h = world["director"].headers
    a = await _create(client, world, "director", activity_body(VILLAGE, site_id=site["id"]))
    assert a["site_id"] == site["id"]
    r = await client.post(ACTIVITIES, json=activity_body(VILLAGE, site_id=other["id"]), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_site"
    r = await client.get(ACTIVITIES, params={"site_id": site["id"]}, headers=h)
    assert [i["id"] for i in r.json()["items"]] == [a["id"]]


async def test_update_with_etag(client, world):
    a = await _create(client, world, "director", activity_body(VILLAGE))
    h = world["director"].headers
    url = f"{ACTIVITIES}/{a['id']}"
    r = await client.patch(url, json={"participants": 50}, headers=h)
    assert r.status_code == 428
    r = await client.patch(url, json={"participants": 50}, headers={**h, "If-Match": '"7"'})
    assert r.status_code == 412
    r = await client.patch(
        url, json={"participants": 50, "amount": "99.5"}, headers={**h, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json()["participants"] == 50 and r.json()["amount"] == "99.50"
    assert r.headers["ETag"] == '"2"'
    # Equal values keep the version.
    r = await client.patch(url, json={"participants": 50}, headers={**h, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await client.patch(url, json={"title": None}, headers={**h, "If-Match": '"2"'})
    assert r.status_code == 422
    # May not be moved out of the writer's scope.
    r = await client.patch(
        url, json={"area_code": VILLAGE_SAME_TOWNSHIP}, headers={**h, "If-Match": '"2"'}
    )
    assert r.status_code == 404
    r = await client.patch(url, json={"amount": None}, headers={**h, "If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["amount"] is None and r.json()["version"] == 3


async def test_list_filters_and_pages(client, world):
    h = world["officer"].headers
    made = []
    for i, (area, kind) in enumerate(
        [(VILLAGE, "training"), (TOWNSHIP, "publicity"), (COUNTY, "training"), (VILLAGE, "goods")]
    ):
        body = activity_body(area, kind=kind, held_on=f"2026-0{i + 1}-15")
        made.append(await _create(client, world, "officer", body))
    r = await client.get(ACTIVITIES, params={"kind": "training"}, headers=h)
    assert {i["id"] for i in r.json()["items"]} == {made[0]["id"], made[2]["id"]}
    r = await client.get(ACTIVITIES, params={"from": "2026-02-01", "to": "2026-03-31"}, headers=h)
    assert [i["id"] for i in r.json()["items"]] == [made[2]["id"], made[1]["id"]]
    r = await client.get(ACTIVITIES, params={"area": TOWNSHIP}, headers=h)
    assert {i["id"] for i in r.json()["items"]} == {made[0]["id"], made[1]["id"], made[3]["id"]}
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(ACTIVITIES, params=params, headers=h)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [m["id"] for m in reversed(made)]


async def test_photos(client, world, app):
    a = await _create(client, world, "director", activity_body(VILLAGE))
    h = world["director"].headers
    url = f"{ACTIVITIES}/{a['id']}/attachments"
    r = await client.post(url, files={"file": ("签到表.png", PNG)}, headers=h)
    assert r.status_code == 201, r.text
    att = r.json()
    again = await client.post(url, files={"file": ("again.png", PNG)}, headers=h)
    assert again.status_code == 200 and again.json()["id"] == att["id"]
    r = await client.post(url, files={"file": ("a.txt", b"hello")}, headers=h)
    assert r.status_code == 415
    listed = (await client.get(url, headers=h)).json()["items"]
    assert [x["id"] for x in listed] == [att["id"]]
    r = await client.get(f"{url}/{att['id']}", headers=h)
    assert r.status_code == 200 and r.content == PNG
    r = await client.get(f"{url}/{att['id']}", headers=world["director_other_village"].headers)
    assert r.status_code == 404


async def test_photo_limits(client, world, app):
    a = await _create(client, world, "director", activity_body(VILLAGE))
    h = world["director"].headers
    url = f"{ACTIVITIES}/{a['id']}/attachments"
    app.state.settings.max_upload_bytes = 100
    r = await client.post(url, files={"file": ("big.jpg", JPEG + b"x" * 200)}, headers=h)
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    for i in range(20):
        r = await client.post(url, files={"file": (f"{i}.jpg", JPEG + bytes([i]))}, headers=h)
        assert r.status_code == 201, r.text
    r = await client.post(url, files={"file": ("21.jpg", JPEG + b"\xff\xfe")}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "too_many_attachments"
