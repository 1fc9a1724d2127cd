from __future__ import annotations

import uuid

import pytest

from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, VILLAGE_OTHER_COUNTY

USERS = "/api/v1/users"


def _new(role="village_director", area=VILLAGE, username=None, **kw):
    return {
        "username": username or f"u{uuid.uuid4().hex[:8]}",
        "display_name": "新用户",
        "role": role,
        "area_code": area,
        "password": "Strong-Pass-2026",
        **kw,
    }


async def test_county_officer_creates_and_reads_users(client, world):
    r = await client.post(USERS, json=_new(phone="13700000001"), headers=world["officer"].headers)
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["role"] == "village_director" and user["area_code"] == VILLAGE
    assert "password" not in user and "password_hash" not in user
    r = await client.get(f"{USERS}/{user['id']}", headers=world["officer"].headers)
    assert r.status_code == 200 and r.json()["phone"] == "13700000001"
    # ...and the new user can log in.
    r = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "password",
            "username": user["username"],
            "password": "Strong-Pass-2026",
        },
    )
    assert r.status_code == 200


@pytest.mark.parametrize("role", ["county_officer", "admin"])
async def test_county_officer_cannot_create_peers_or_admins(client, world, role):
    area = COUNTY if role == "county_officer" else "62"
    r = await client.post(USERS, json=_new(role=role, area=area), headers=world["officer"].headers)
    assert r.status_code == 403


async def test_admin_creates_county_officer(client, world):
    r = await client.post(
        USERS, json=_new(role="county_officer", area=COUNTY), headers=world["admin"].headers
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("role", "area"),
    [
        ("village_director", TOWNSHIP),
        ("township_supervisor", VILLAGE),
        ("county_officer", TOWNSHIP),
        ("admin", COUNTY),
    ],
)
async def test_role_must_fit_area_level(client, world, role, area):
    r = await client.post(USERS, json=_new(role=role, area=area), headers=world["admin"].headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "area_code"
    assert r.json()["code"] == "role_area_mismatch"


@pytest.mark.parametrize("password", ["short1A", "aaaaaaaaaaaa", "12345678901", "password1"])
async def test_weak_passwords_refused(client, world, password):
    r = await client.post(USERS, json=_new(password=password), headers=world["officer"].headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"


async def test_bad_inputs(client, world):
    h = world["officer"].headers
    r = await client.post(USERS, json=_new(role="wizard"), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = await client.post(USERS, json=_new(username="a b"), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "username"
    r = await client.post(USERS, json=_new(area="620722100009"), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_area"
    r = await client.post(
        USERS, content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    r = await client.get(f"{USERS}/not-a-uuid", headers=h)
    assert r.status_code == 422


async def test_duplicates_conflict(client, world):
    h = world["officer"].headers
    assert (
        await client.post(USERS, json=_new(username="dupe", phone="13700000002"), headers=h)
    ).status_code == 201
    r = await client.post(USERS, json=_new(username="dupe"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_username"
    r = await client.post(USERS, json=_new(phone="13700000002"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_phone"


async def test_other_county_officer_gets_404(client, world):
    target = world["director"].id
    h = world["officer_other_county"].headers
    assert (await client.get(f"{USERS}/{target}", headers=h)).status_code == 404
    assert (
        await client.patch(f"{USERS}/{target}", json={"display_name": "x"}, headers=h)
    ).status_code == 404
    assert (await client.post(f"{USERS}/{target}/deactivate", headers=h)).status_code == 404
    r = await client.post(USERS, json=_new(), headers=h)  # area in another county
    assert r.status_code == 404


async def test_officer_cannot_see_peer_officers(client, world, session, settings):
    from childprotect_api.models.user import Role
    from tests.conftest import make_actor

    peer = await make_actor(session, settings, "peer", Role.county_officer, COUNTY)
    await session.commit()
    r = await client.get(f"{USERS}/{peer.id}", headers=world["officer"].headers)
    assert r.status_code == 404


@pytest.mark.parametrize("actor", ["director", "supervisor", "reporter", "auditor"])
async def test_roles_without_user_management_get_403(client, world, actor):
    h = world[actor].headers
    assert (await client.get(USERS, headers=h)).status_code == 403
    assert (await client.get(f"{USERS}/{world['director'].id}", headers=h)).status_code == 403
    assert (await client.post(USERS, json=_new(), headers=h)).status_code == 403
    r = await client.post(f"{USERS}/{world['director_other_village'].id}/deactivate", headers=h)
    assert r.status_code == 403


async def test_list_is_scoped_and_filtered(client, world):
    r = await client.get(USERS, params={"limit": 200}, headers=world["officer"].headers)
    names = {u["username"] for u in r.json()["items"]}
    assert {
        "director",
        "director_other_village",
        "director_other_township",
        "supervisor",
        "reporter",
        "auditor",
    } <= names
    assert "director_other_county" not in names and "officer" not in names and "admin" not in names
    r = await client.get(
        USERS,
        params={"role": "village_director", "area": TOWNSHIP},
        headers=world["officer"].headers,
    )
    assert {u["username"] for u in r.json()["items"]} == {"director", "director_other_village"}
    r = await client.get(USERS, params={"limit": 2}, headers=world["admin"].headers)
    page = r.json()
    r2 = await client.get(
        USERS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=world["admin"].headers
    )
    assert not {u["id"] for u in page["items"]} & {u["id"] for u in r2.json()["items"]}


async def test_patch_user(client, world):
    uid = world["director"].id
    h = world["officer"].headers
    r = await client.patch(
        f"{USERS}/{uid}", json={"display_name": "张梅", "area_code": "620722100002"}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["display_name"] == "张梅" and r.json()["area_code"] == "620722100002"
    r = await client.patch(f"{USERS}/{uid}", json={"area_code": VILLAGE_OTHER_COUNTY}, headers=h)
    assert r.status_code == 404
    r = await client.patch(f"{USERS}/{uid}", json={"role": "county_officer"}, headers=h)
    assert r.status_code == 403


async def test_password_change(client, world):
    uid = world["director"].id
    # by a manager
    r = await client.post(
        f"{USERS}/{uid}/password",
        json={"new_password": "Another-Pass-77"},
        headers=world["officer"].headers,
    )
    assert r.status_code == 200
    # the old token's session was ended
    assert (
        await client.get("/api/v1/auth/me", headers=world["director"].headers)
    ).status_code == 401
    tokens = (
        await client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "director", "password": "Another-Pass-77"},
        )
    ).json()
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    # by oneself: needs the current password
    r = await client.post(
        f"{USERS}/{uid}/password", json={"new_password": "Third-Pass-2026"}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "current_password"
    r = await client.post(
        f"{USERS}/{uid}/password",
        json={"current_password": "Another-Pass-77", "new_password": "weak"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "new_password"
    r = await client.post(
        f"{USERS}/{uid}/password",
        json={"current_password": "Another-Pass-77", "new_password": "Third-Pass-2026"},
        headers=h,
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=h)).status_code == 200  # own session kept


async def test_cannot_deactivate_self(client, world):
    r = await client.post(f"{USERS}/{world['admin'].id}/deactivate", headers=world["admin"].headers)
    assert r.status_code == 409
