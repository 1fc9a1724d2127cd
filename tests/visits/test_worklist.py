from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from childprotect_api.models.base import utcnow
from childprotect_api.security.scope import Scope
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.visits.worklist import worklist
from tests.agreements.agreement_helpers import away_child, make_active
from tests.conftest import (
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.visits.visit_factories import WORKLIST, StatementLog, put_visit, registered_child


async def _due_in(session, settings, days: float, area=VILLAGE, level="yellow", **kw):
    """A child whose next visit is due in `days` days (negative: overdue)."""
    last = utcnow() + timedelta(days=days) - timedelta(days=30 if level == "yellow" else 90)
    return await registered_child(
        session, settings, area, risk_level=level, last_visit_at=last, **kw
    )


@pytest.fixture
async def children(session, settings, world):
    now = utcnow()
    c = {
        "overdue_10": await _due_in(session, settings, -10.5, name="甲", categories=["orphan"]),
        "overdue_2": await _due_in(session, settings, -2.2, name="乙"),
        "soon_3": await _due_in(session, settings, 3, name="丙"),
        "later_20": await _due_in(session, settings, 20, name="丁"),
        "closed": await _due_in(
            session, settings, -30, name="戊", status="closed", closed_reason="turned_18"
        ),
        "same_township": await _due_in(session, settings, -1.5, VILLAGE_SAME_TOWNSHIP, name="己"),
        "other_township": await _due_in(session, settings, -4, VILLAGE_OTHER_TOWNSHIP, name="庚"),
        "other_county": await _due_in(session, settings, -40, VILLAGE_OTHER_COUNTY, name="辛"),
    }
    assert c["overdue_10"].next_visit_due < now
    return c


def _names(body) -> list[str]:
    return [i["child"]["name"] for i in body["items"]]


EXPECTED = [
    ("director", ["甲", "乙", "丙"], {"overdue": 2, "due_soon": 1}),
    ("director_other_village", ["己"], {"overdue": 1, "due_soon": 0}),
    ("supervisor", ["甲", "乙", "己", "丙"], {"overdue": 3, "due_soon": 1}),
    ("officer", ["甲", "庚", "乙", "己", "丙"], {"overdue": 4, "due_soon": 1}),
    ("officer_other_county", ["辛"], {"overdue": 1, "due_soon": 0}),
]


async def test_order_counts_and_scope(client, world, children):
    for actor, names, counts in EXPECTED:
        r = await client.get(WORKLIST, headers=world[actor].headers)
        assert r.status_code == 200, r.text
        body = r.json()
        # Most overdue first; closed children and children out of scope never.
        assert _names(body) == names, actor
        assert body["counts"] == counts, actor
        assert body["within_days"] == 7 and body["next_cursor"] is None


async def test_item_fields_and_within_days(client, world, children):
    r = await client.get(WORKLIST, headers=world["director"].headers)
    first, _, soon = r.json()["items"]
    assert first["child"] == {
        "id": str(children["overdue_10"].id),
        "name": "甲",
        "area_code": VILLAGE,
        "risk_level": "yellow",
        "categories": ["orphan"],
    }
    assert first["overdue"] and first["days_overdue"] == 10
    assert first["last_visit_at"] is not None and first["open_follow_ups"] == []
    assert not soon["overdue"] and soon["days_overdue"] == 0

    r = await client.get(WORKLIST, params={"within_days": 30}, headers=world["director"].headers)
    assert _names(r.json()) == ["甲", "乙", "丙", "丁"]
    assert r.json()["counts"] == {"overdue": 2, "due_soon": 2}
    r = await client.get(WORKLIST, params={"within_days": 0}, headers=world["director"].headers)
    assert _names(r.json()) == ["甲", "乙"]


async def test_keyset_pages(client, world, children):
    h = world["officer"].headers
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(WORKLIST, params=params, headers=h)).json()
        seen += _names(body)
        assert body["counts"] == {"overdue": 4, "due_soon": 1}
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["甲", "庚", "乙", "己", "丙"]


async def test_open_follow_ups_come_from_the_latest_visit(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="red")
    now = utcnow()
    await put_visit(
        client,
        world["director"],
        child.id,
        visited_at=now - timedelta(days=3),
        follow_up_actions=[{"action": "旧的待办", "due_on": "2030-01-01"}],
    )
    latest = await put_visit(
        client,
        world["director"],
        child.id,
        visited_at=now - timedelta(days=2),
        follow_up_actions=[
            {"action": "联系派出所", "due_on": "2030-01-02"},
            {"action": "已办完", "due_on": "2030-01-01", "done": True},
        ],
    )
    body = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    (item,) = body["items"]
    assert item["latest_visit_id"] == latest["id"]
    assert item["open_follow_ups"] == [
        {"action": "联系派出所", "due_on": "2030-01-02", "done": False}
    ]
    assert item["days_overdue"] == 1  # red: daily; last visit two days ago


async def test_visit_takes_a_child_off_the_worklist(client, session, settings, world):
    child = await _due_in(session, settings, -3)
    body = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    assert [i["child"]["id"] for i in body["items"]] == [str(child.id)]
    await put_visit(client, world["director"], child.id)
    body = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    assert body["items"] == [] and body["counts"] == {"overdue": 0, "due_soon": 0}


async def test_boundaries_of_overdue_and_due_soon(session, settings, world):
    """Due exactly now is due soon, not overdue; due exactly at the horizon is included."""
    at_now = await _due_in(session, settings, 0, name="now")
    await session.refresh(at_now)
    horizon = await _due_in(session, settings, 7, name="horizon")
    just_after = await _due_in(session, settings, 7.0001, name="after")
    director = world["director"].user
    scope = Scope("user", director.id, director.role, VILLAGE)
    exact_now = at_now.next_visit_due
    assert exact_now is not None and horizon.next_visit_due is not None
    page, _ = await worklist(session, scope, within_days=7, limit=50, after=None, now=exact_now)
    assert [i.child.name for i in page.items][:1] == ["now"]
    assert page.items[0].overdue is False and page.items[0].days_overdue == 0
    assert page.counts.overdue == 0
    # Move "now" so that the horizon child is due exactly at now + 7 days.
    page, _ = await worklist(
        session,
        scope,
        within_days=7,
        limit=50,
        after=None,
        now=horizon.next_visit_due - timedelta(days=7),
    )
    names = [i.child.name for i in page.items]
    assert "horizon" in names and just_after.name not in names
    await session.rollback()


async def test_roles_outside_the_matrix_get_403(client, world):
    for role in ("reporter", "auditor", "admin"):
        r = await client.get(WORKLIST, headers=world[role].headers)
        assert r.status_code == 403 and r.json()["code"] == "role_forbidden"


async def test_bad_parameters(client, world):
    h = world["director"].headers
    for params, field in (
        ({"within_days": -1}, "within_days"),
        ({"within_days": 366}, "within_days"),
        ({"limit": 0}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ):
        r = await client.get(WORKLIST, params=params, headers=h)
        assert r.status_code == 422, params
        assert r.json()["errors"][0]["field"] == field
    r = await client.get(WORKLIST)
    assert r.status_code == 401


async def test_returned_visit_fields(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    r = await client.post(
        f"/api/v1/visits/{visit['id']}/review",
        json={"decision": "return", "comment": "缺少照片"},
        headers=world["supervisor"].headers | {"If-Match": '"1"'},
    )
    assert r.status_code == 200
    body = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    assert body["returned_visits"][0]["child_name"] == child.name
    assert body["returned_visits"][0]["id"] == visit["id"]
    assert uuid.UUID(body["returned_visits"][0]["child_id"]) == child.id


async def test_query_count_does_not_grow_with_the_page(client, db, session, settings, world):
    async def statements() -> list[str]:
        with StatementLog(db) as log:
            r = await client.get(WORKLIST, headers=world["director"].headers)
        assert r.status_code == 200
        return log.statements

    first = await _due_in(session, settings, -3)
    await put_visit(client, world["director"], first.id, visited_at=utcnow() - timedelta(days=40))
    one = await statements()
    for _ in range(6):
        child = await _due_in(session, settings, -3)
        await put_visit(
            client, world["director"], child.id, visited_at=utcnow() - timedelta(days=40)
        )
    body = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    assert len(body["items"]) == 7
    many = await statements()
    assert len(many) == len(one)
    # The token check, the page (latest visits and counts joined in), the page's open duties,
    # returned visits, audit;
    # and the agreement follow-ups: two pages, two counts, up to two audit inserts.
    assert len([s for s in many if s.upper().startswith(("SELECT", "INSERT"))]) <= 5


AGREEMENTS = {"include_agreements": "true"}


async def test_agreement_follow_ups(client, session, settings, world):
    """Left-behind children without an active agreement and agreements ending within 30 days,
    in the caller's scope only."""
    today = china_today()
    without = await away_child(session, settings, name="无协议")
    ending = await away_child(session, settings, name="将到期")
    active = await make_active(
        client,
        world,
        ending.id,
        starts_on=(today - timedelta(days=355)).isoformat(),
        ends_on=(today + timedelta(days=10)).isoformat(),
    )
    far = await away_child(session, settings, name="远期")
    await make_active(client, world, far.id)
    elsewhere = await away_child(session, settings, VILLAGE_SAME_TOWNSHIP, name="别村")

    body = (await client.get(WORKLIST, params=AGREEMENTS, headers=world["director"].headers)).json()
    follow = body["agreement_follow_ups"]
    assert [g["child_id"] for g in follow["no_active_agreement"]] == [str(without.id)]
    assert follow["no_active_agreement_count"] == 1
    assert [a["id"] for a in follow["ending_soon"]] == [active["id"]]
    assert follow["ending_soon"][0]["ends_on"] == (today + timedelta(days=10)).isoformat()
    assert follow["ending_soon_count"] == 1
    assert follow["within_days"] == 30 and follow["as_of"] == today.isoformat()

    # The other village's director sees only their own child; the township sees both.
    other = (
        await client.get(
            WORKLIST, params=AGREEMENTS, headers=world["director_other_village"].headers
        )
    ).json()
    gaps = other["agreement_follow_ups"]["no_active_agreement"]
    assert [g["child_id"] for g in gaps] == [str(elsewhere.id)]
    assert other["agreement_follow_ups"]["ending_soon"] == []
    township = (
        await client.get(WORKLIST, params=AGREEMENTS, headers=world["supervisor"].headers)
    ).json()
    assert township["agreement_follow_ups"]["no_active_agreement_count"] == 2
    county = (
        await client.get(WORKLIST, params=AGREEMENTS, headers=world["officer_other_county"].headers)
    ).json()
    assert county["agreement_follow_ups"]["no_active_agreement"] == []
    assert county["agreement_follow_ups"]["ending_soon_count"] == 0
    # Off by default: the app's hottest request pays for the lists only when it asks.
    plain = (await client.get(WORKLIST, headers=world["director"].headers)).json()
    assert plain["agreement_follow_ups"] is None
