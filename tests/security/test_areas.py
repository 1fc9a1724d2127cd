from __future__ import annotations

import pytest

from tests.conftest import COUNTY, TOWNSHIP, VILLAGE

AREAS = "/api/v1/areas"


async def test_list_own_area_and_children(client, world):
    r = await client.get(AREAS, headers=world["supervisor"].headers)
    assert r.status_code == 200
    assert [a["code"] for a in r.json()["items"]] == [TOWNSHIP]
    r = await client.get(AREAS, params={"parent": TOWNSHIP}, headers=world["supervisor"].headers)
    assert [a["code"] for a in r.json()["items"]] == ["620722100001", "620722100002"]
    assert r.json()["items"][0]["level"] == "village"
    assert r.json()["next_cursor"] is None


async def test_list_paginates(client, world):
    h = world["officer"].headers
    r = await client.get(AREAS, params={"parent": COUNTY, "limit": 1}, headers=h)
    page1 = r.json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    r = await client.get(
        AREAS, params={"parent": COUNTY, "limit": 1, "cursor": page1["next_cursor"]}, headers=h
    )
    page2 = r.json()
    assert page2["items"][0]["code"] > page1["items"][0]["code"]
    r = await client.get(AREAS, params={"parent": COUNTY, "cursor": "!!bad"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_root_admin_sees_provinces(client, world):
    r = await client.get(AREAS, headers=world["admin"].headers)
    assert [a["code"] for a in r.json()["items"]] == ["62"]


async def test_get_area(client, world):
    r = await client.get(f"{AREAS}/{VILLAGE}", headers=world["director"].headers)
    assert r.status_code == 200
    assert r.json() == {
        "code": VILLAGE,
        "name": "洪水村",
        "parent_code": TOWNSHIP,
        "level": "village",
    }


@pytest.mark.parametrize(
    "actor",
    [
        "director_other_village",
        "director_other_township",
        "director_other_county",
        "supervisor_other_township",
        "supervisor_other_county",
        "officer_other_county",
    ],
)
async def test_out_of_scope_area_is_404(client, world, actor):
    h = world[actor].headers
    assert (await client.get(f"{AREAS}/{VILLAGE}", headers=h)).status_code == 404
    r = await client.get(AREAS, params={"parent": VILLAGE}, headers=h)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


async def test_bad_area_code_is_422(client, world):
    r = await client.get(f"{AREAS}/12345", headers=world["officer"].headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "code"


async def test_admin_creates_area(client, world):
    body = {"code": "620722100003", "name": "里仁村", "parent_code": TOWNSHIP}
    r = await client.post(AREAS, json=body, headers=world["admin"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["level"] == "village"
    r = await client.post(AREAS, json=body, headers=world["admin"].headers)
    assert r.status_code == 422 and r.json()["code"] == "area_exists"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "6207221000", "name": "x", "parent_code": TOWNSHIP}, "code"),
        ({"code": "620722100009", "name": "x", "parent_code": "620722101"}, "parent_code"),
        ({"code": "620722100009", "name": "x"}, "parent_code"),
        ({"code": "620722100009", "name": "", "parent_code": TOWNSHIP}, "name"),
        ({"code": "620799100009", "name": "x", "parent_code": "620799100"}, "parent_code"),
    ],
)
async def test_create_area_bad_input(client, world, body, field):
    r = await client.post(AREAS, json=body, headers=world["admin"].headers)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("actor", ["officer", "supervisor", "director", "reporter", "auditor"])
async def test_only_admins_create_areas(client, world, actor):
    body = {"code": "620722100003", "name": "里仁村", "parent_code": TOWNSHIP}
    r = await client.post(AREAS, json=body, headers=world[actor].headers)
    assert r.status_code == 403


async def test_import_areas(client, world):
    csv_text = "code,name,parent_code\n620722102,新天镇,620722\n620722102001,新天村,620722102\n620722100001,洪水村(改),620722100\n"
    files = {"file": ("areas.csv", csv_text.encode(), "text/csv")}
    r = await client.post(
        f"{AREAS}/import", params={"dry_run": "true"}, files=files, headers=world["admin"].headers
    )
    assert r.status_code == 200
    assert r.json()["applied"] is False and r.json()["created"] == 2 and r.json()["updated"] == 1
    assert (
        await client.get(f"{AREAS}/620722102", headers=world["admin"].headers)
    ).status_code == 404
    r = await client.post(f"{AREAS}/import", files=files, headers=world["admin"].headers)
    assert r.json()["applied"] is True
    got = await client.get(f"{AREAS}/620722102001", headers=world["admin"].headers)
    assert got.json()["name"] == "新天村"
    assert (await client.get(f"{AREAS}/{VILLAGE}", headers=world["admin"].headers)).json()[
        "name"
    ] == "洪水村(改)"


async def test_import_with_a_bad_row_applies_nothing(client, world):
    csv_text = (
        "620722102,新天镇,620722\n62072210200,坏代码,620722102\n620722102001,新天村,620722101\n"
    )
    files = {"file": ("areas.csv", csv_text.encode(), "text/csv")}
    r = await client.post(f"{AREAS}/import", files=files, headers=world["admin"].headers)
    assert r.status_code == 200
    report = r.json()
    assert report["applied"] is False and report["invalid"] == 2
    assert [row["status"] for row in report["rows"]] == ["created", "invalid", "invalid"]
    assert report["rows"][1]["line"] == 2
    assert (
        await client.get(f"{AREAS}/620722102", headers=world["admin"].headers)
    ).status_code == 404


async def test_import_bad_files(client, world):
    h = world["admin"].headers
    r = await client.post(
        f"{AREAS}/import", files={"file": ("a.csv", b"\xff\xfe\x00bad", "text/csv")}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "bad_encoding"
    r = await client.post(f"{AREAS}/import", files={"file": ("a.csv", b"", "text/csv")}, headers=h)
    assert r.status_code == 422
    r = await client.post(f"{AREAS}/import", headers=h)
    assert r.status_code == 422
    r = await client.post(
        f"{AREAS}/import",
        files={"file": ("a.csv", b"1,x\n", "text/csv")},
        headers=world["officer"].headers,
    )
    assert r.status_code == 403


async def test_import_is_rate_limited_per_caller(client, world, app, monkeypatch):
    from datetime import UTC, datetime

    from childprotect_api.security import rate_limit

    frozen = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)
    monkeypatch.setattr(rate_limit, "clock", lambda: frozen)
    app.state.settings.rate_limits = {"import": 2}
    files = {"file": ("a.csv", b"620722102,x,620722\n", "text/csv")}
    h = world["admin"].headers
    for _ in range(2):
        r = await client.post(f"{AREAS}/import", params={"dry_run": "true"}, files=files, headers=h)
        assert r.status_code == 200
    r = await client.post(f"{AREAS}/import", params={"dry_run": "true"}, files=files, headers=h)
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert r.headers["retry-after"] == "30"
    # another caller has its own count
    r = await client.post(
        f"{AREAS}/import", params={"dry_run": "true"}, files=files, headers=world["officer"].headers
    )
    assert r.status_code == 403
    # the next minute starts afresh
    monkeypatch.setattr(rate_limit, "clock", lambda: frozen.replace(minute=1))
    r = await client.post(f"{AREAS}/import", params={"dry_run": "true"}, files=files, headers=h)
    assert r.status_code == 200


async def _county_admin(session, settings):  # type: ignore[no-untyped-def]
    from childprotect_api.models.user import Role
    from tests.conftest import make_actor

    admin = await make_actor(session, settings, "admin_62", Role.admin, "62")
    await session.commit()
    return admin


async def test_an_admin_writes_only_areas_inside_their_own(client, world, session, settings):
    """Issue #18 item 5: an admin of province 62 created province 11 and city 1101."""
    admin = await _county_admin(session, settings)
    for body in (
        {"code": "11", "name": "北京市"},
        {"code": "1101", "name": "市辖区", "parent_code": "11"},
        {"code": "6301", "name": "西宁市", "parent_code": "63"},
    ):
        r = await client.post(AREAS, json=body, headers=admin.headers)
        assert r.status_code == 403 and r.json()["code"] == "area_out_of_scope", (body, r.text)
    # The same answer whether or not the area exists.
    r = await client.post(AREAS, json={"code": "62", "name": "x"}, headers=admin.headers)
    assert r.status_code == 422  # its own area exists: not out of scope
    r = await client.post(
        AREAS, json={"code": "6208", "name": "平凉市", "parent_code": "62"}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    # The system-wide admin still may.
    r = await client.post(
        AREAS, json={"code": "11", "name": "北京市"}, headers=world["admin"].headers
    )
    assert r.status_code == 201, r.text

    # CSV import: creating or renaming outside the own area makes the row invalid, and
    # nothing is applied.
    csv = "code,name,parent_code\n11,改名,\n1101,市辖区,11\n6209,酒泉市,62\n".encode()
    r = await client.post(
        f"{AREAS}/import", files={"file": ("a.csv", csv, "text/csv")}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["applied"] is False and report["invalid"] == 2
    statuses = {row["code"]: (row["status"], row.get("errors")) for row in report["rows"]}
    assert statuses["11"] == ("invalid", ["code: outside your own area"])
    assert statuses["1101"] == ("invalid", ["code: outside your own area"])
    r = await client.get(f"{AREAS}/11", headers=world["admin"].headers)
    assert r.json()["name"] == "北京市"
    r = await client.get(f"{AREAS}/1101", headers=world["admin"].headers)
    assert r.status_code == 404
    # Inside the own area, the import applies.
    csv = "code,name,parent_code\n6209,酒泉市,62\n620722,高台县(新),6207\n".encode()
    r = await client.post(
        f"{AREAS}/import", files={"file": ("a.csv", csv, "text/csv")}, headers=admin.headers
    )
    assert r.json()["applied"] is True, r.text
