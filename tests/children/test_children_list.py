"""GET /children: filters, keyset pages, bad inputs."""

from __future__ import annotations

from datetime import date

from childprotect_api.services.children.rules import today, years_before
from tests.children.child_payloads import CHILDREN
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.factories import make_child


async def _ids(client, world, actor="supervisor", **params):
    r = await client.get(CHILDREN, params={"limit": 200, **params}, headers=world[actor].headers)
    assert r.status_code == 200, r.text
    return {c["name"] for c in r.json()["items"]}


async def test_filters(client, world, session, settings):
    t = today()
    await make_child(
        session,
        settings,
        VILLAGE,
        name="张伟",
        categories=["orphan", "disabled"],
        risk_level="red",
        school="洪水镇中心小学",
        birth_date=years_before(t, 8),
        assigned_director_id=world["director"].id,
    )
    await make_child(
        session,
        settings,
        VILLAGE,
        name="王芳",
        categories=["orphan"],
        risk_level="orange",
        gender="female",
        birth_date=years_before(t, 12),
    )
    await make_child(
        session,
        settings,
        VILLAGE,
        name="李娜",
        categories=["left_behind"],
        gender="female",
        birth_date=years_before(t, 3),
        status="closed",
        closed_reason="moved_away",
    )
    await make_child(
        session,
        settings,
        VILLAGE_SAME_TOWNSHIP,
        name="张强",
        categories=["migrant"],
        risk_level="yellow",
        school="洪水镇中心小学",
        birth_date=years_before(t, 15),
    )
    everyone = {"张伟", "王芳", "李娜", "张强"}
    assert await _ids(client, world) == everyone
    assert await _ids(client, world, area=VILLAGE) == {"张伟", "王芳", "李娜"}
    assert await _ids(client, world, area=VILLAGE[:9]) == everyone
    assert await _ids(client, world, category="orphan") == {"张伟", "王芳"}
    assert await _ids(client, world, category=["orphan", "disabled"]) == {"张伟"}
    assert await _ids(client, world, risk_level=["red", "orange"]) == {"张伟", "王芳"}
    assert await _ids(client, world, status="closed") == {"李娜"}
    assert await _ids(client, world, status="active") == {"张伟", "王芳", "张强"}
    assert await _ids(client, world, q="张") == {"张伟", "张强"}
    assert await _ids(client, world, q="%") == set()
    assert await _ids(client, world, school="洪水镇中心小学") == {"张伟", "张强"}
    assert await _ids(client, world, assigned_to=str(world["director"].id)) == {"张伟"}
    assert await _ids(client, world, age_min=8, age_max=12) == {"张伟", "王芳"}
    assert await _ids(client, world, age_min=9) == {"王芳", "张强"}
    assert await _ids(client, world, age_max=7) == {"李娜"}
    assert await _ids(client, world, updated_since="2000-01-01T00:00:00Z") == everyone
    assert await _ids(client, world, updated_since="2999-01-01T00:00:00+08:00") == set()
    # The director's scope bounds any filter.
    assert await _ids(client, world, actor="director", area=VILLAGE[:9]) == {"张伟", "王芳", "李娜"}


async def test_keyset_pages(client, world, session, settings):
    made = set()
    for i in range(5):
        area = VILLAGE if i % 2 else VILLAGE_SAME_TOWNSHIP
        made.add(
            str((await make_child(session, settings, area, birth_date=date(2015, 1, 1 + i))).id)
        )
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(CHILDREN, params=params, headers=world["officer"].headers)
        seen += [c["id"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == made


async def test_list_bad_inputs(client, world):
    for params, field in [
        ({"category": "wizard"}, "category.0"),
        ({"risk_level": "purple"}, "risk_level.0"),
        ({"status": "sleeping"}, "status"),
        ({"age_min": 30}, "age_min"),
        ({"area": "62x"}, "area"),
        ({"assigned_to": "me"}, "assigned_to"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"limit": 0}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "WzFd"}, "cursor"),  # a valid cursor of the wrong shape
        ({"q": ""}, "q"),
    ]:
        r = await client.get(CHILDREN, params=params, headers=world["director"].headers)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["errors"][0]["field"] == field, (params, r.json())
