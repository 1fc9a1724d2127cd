"""Risk levels, closing and reopening, the automatic close at 18, and transfers."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import func, select

from childprotect_api.core import outbox
from childprotect_api.core.errors import Conflict
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.child import Child, ChildEvent, ChildRiskChange
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.services.children import transfer as child_transfer
from childprotect_api.services.children.registry import close_adults
from childprotect_api.services.children.rules import today, years_before
from tests.children.child_payloads import CHILDREN
from tests.conftest import (
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
)
from tests.factories import make_child


def _h(world, actor, version=None):
    headers = dict(world[actor].headers)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return headers


async def test_director_sets_up_to_orange_not_red(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/risk"
    r = await client.put(
        url, json={"level": "orange", "reason": "父亲失联"}, headers=_h(world, "director")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["risk_level"] == "orange" and body["risk_reason"] == "父亲失联"
    assert body["risk_set_by"] == str(world["director"].id) and r.headers["ETag"] == '"2"'
    assert body["next_visit_due"] < child.next_visit_due.isoformat().replace("+00:00", "Z")
    r = await client.put(
        url, json={"level": "red", "reason": "疑似受虐"}, headers=_h(world, "director")
    )
    assert r.status_code == 403 and r.json()["code"] == "risk_level_not_allowed"
    r = await client.put(
        url, json={"level": "red", "reason": "疑似受虐"}, headers=_h(world, "supervisor")
    )
    assert r.status_code == 200 and r.json()["risk_level"] == "red"
    # Nor may a director take a red child down.
    r = await client.put(
        url, json={"level": "yellow", "reason": "好转"}, headers=_h(world, "director")
    )
    assert r.status_code == 403
    r = await client.put(
        url, json={"level": "yellow", "reason": "好转"}, headers=_h(world, "officer")
    )
    assert r.status_code == 200

    history = await client.get(f"{CHILDREN}/{child.id}/risk-history", headers=_h(world, "director"))
    levels = [(c["old_level"], c["new_level"]) for c in history.json()["items"]]
    assert levels == [("red", "yellow"), ("orange", "red"), ("blue", "orange")]
    raised = (
        (
            await session.execute(
                select(OutboxEvent.payload).where(OutboxEvent.event_type == "child.risk_raised")
            )
        )
        .scalars()
        .all()
    )
    assert [p["new_level"] for p in raised] == ["orange", "red"]


async def test_risk_bad_inputs_and_if_match(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/risk"
    for body, field in [
        ({"level": "purple", "reason": "x"}, "level"),
        ({"level": "yellow"}, "reason"),
        ({"level": "yellow", "reason": ""}, "reason"),
    ]:
        r = await client.put(url, json=body, headers=_h(world, "director"))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, body
    r = await client.put(
        url, json={"level": "yellow", "reason": "x"}, headers=_h(world, "director", 9)
    )
    assert r.status_code == 412
    # The same level again changes nothing.
    r = await client.put(
        url, json={"level": "blue", "reason": "x"}, headers=_h(world, "director", 1)
    )
    assert r.status_code == 200 and r.json()["version"] == 1


async def test_risk_history_pages(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    for level in ("yellow", "orange", "yellow"):
        r = await client.put(
            f"{CHILDREN}/{child.id}/risk",
            json={"level": level, "reason": level},
            headers=_h(world, "supervisor"),
        )
        assert r.status_code == 200
    url = f"{CHILDREN}/{child.id}/risk-history"
    seen, cursor = [], None
    while True:
        r = await client.get(
            url,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=_h(world, "director"),
        )
        seen += [c["new_level"] for c in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == ["yellow", "orange", "yellow"]
    r = await client.get(url, params={"cursor": "garbage!"}, headers=_h(world, "director"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_close_and_reopen(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}"
    r = await client.post(f"{url}/close", json={"reason": "gone"}, headers=_h(world, "director"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await client.post(
        f"{url}/close", json={"reason": "moved_away"}, headers=_h(world, "director", 3)
    )
    assert r.status_code == 412
    r = await client.post(
        f"{url}/close",
        json={"reason": "moved_away", "note": "随父母迁往新疆"},
        headers=_h(world, "director", 1),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closed_reason"] == "moved_away"
    assert r.json()["next_visit_due"] is None and r.headers["ETag"] == '"2"'
    r = await client.post(
        f"{url}/close", json={"reason": "deceased"}, headers=_h(world, "director")
    )
    assert r.status_code == 409 and r.json()["code"] == "already_closed"
    r = await client.patch(url, json={"school": "x"}, headers=_h(world, "director", 2))
    assert r.status_code == 409 and r.json()["code"] == "child_closed"
    r = await client.put(
        f"{url}/risk", json={"level": "red", "reason": "x"}, headers=_h(world, "officer")
    )
    assert r.status_code == 409 and r.json()["code"] == "child_closed"
    r = await client.get(CHILDREN, params={"status": "closed"}, headers=_h(world, "director"))
    assert [c["id"] for c in r.json()["items"]] == [str(child.id)]

    r = await client.post(f"{url}/reopen", json={"reason": ""}, headers=_h(world, "director"))
    assert r.status_code == 422
    r = await client.post(f"{url}/reopen", json={"reason": "已返乡"}, headers=_h(world, "director"))
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert r.json()["closed_reason"] is None and r.json()["next_visit_due"]
    r = await client.post(f"{url}/reopen", json={"reason": "again"}, headers=_h(world, "director"))
    assert r.status_code == 409 and r.json()["code"] == "not_closed"
    r = await client.get(f"{url}/history", headers=_h(world, "director"))
    events = [(e["kind"], e["closed_reason"], e["reason"]) for e in r.json()["items"]]
    assert events == [("reopened", None, "已返乡"), ("closed", "moved_away", "随父母迁往新疆")]


async def test_close_adults(session, settings, world, client):
    day = date(2026, 3, 1)
    turns_18 = await make_child(session, settings, VILLAGE, birth_date=date(2008, 3, 1))
    leap_born = await make_child(
        session, settings, VILLAGE, birth_date=date(2008, 2, 29), gender="female"
    )
    tomorrow = await make_child(session, settings, VILLAGE, birth_date=date(2008, 3, 2))
    closed = await make_child(
        session,
        settings,
        VILLAGE,
        birth_date=date(2007, 1, 1),
        status="closed",
        closed_reason="moved_away",
    )
    assert await close_adults(session, day) == 2
    await session.commit()
    session.expire_all()
    rows = {c.id: c for c in (await session.execute(select(Child))).scalars()}
    assert rows[turns_18.id].status == "closed" and rows[turns_18.id].closed_reason == "turned_18"
    assert rows[leap_born.id].status == "closed" and rows[turns_18.id].version == 2
    assert rows[tomorrow.id].status == "active"
    assert rows[closed.id].closed_reason == "moved_away" and rows[closed.id].version == 1
    events = (await session.execute(select(ChildEvent.child_id, ChildEvent.closed_reason))).all()
    assert sorted(events) == sorted([(turns_18.id, "turned_18"), (leap_born.id, "turned_18")])
    audit_rows = (
        (
            await session.execute(
                select(AuditEvent.resource_id).where(AuditEvent.actor_role == "system")
            )
        )
        .scalars()
        .all()
    )
    assert sorted(audit_rows) == sorted([turns_18.id, leap_born.id])
    # Running again the same day closes nothing more; a closed adult cannot be reopened.
    assert await close_adults(session, day) == 0
    await session.commit()
    r = await client.post(
        f"{CHILDREN}/{turns_18.id}/reopen", json={"reason": "误操作"}, headers=_h(world, "officer")
    )
    assert r.status_code == 409 and r.json()["code"] == "child_is_adult"


def test_years_before_matches_age():
    from childprotect_api.services.children.id_numbers import age_on

    for day in (date(2028, 2, 29), date(2026, 2, 28), date(2026, 3, 1), today()):
        cutoff = years_before(day, 18)
        assert age_on(cutoff, day) == 18
        assert age_on(cutoff + timedelta(days=1), day) == 17


async def test_transfer_moves_the_record_and_its_history(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, assigned_director_id=world["director"].id)
    r = await client.put(
        f"{CHILDREN}/{child.id}/risk",
        json={"level": "yellow", "reason": "x"},
        headers=_h(world, "director"),
    )
    body = {"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随母亲迁居益民村"}
    url = f"{CHILDREN}/{child.id}/transfer"
    # The village director has no scope over the target village.
    r = await client.post(url, json=body, headers=_h(world, "director"))
    assert r.status_code == 404
    r = await client.post(url, json=body, headers=_h(world, "supervisor", 2))
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["area_code"] == VILLAGE_SAME_TOWNSHIP and moved["version"] == 3
    assert moved["assigned_director_id"] is None  # the old village's director no longer covers it
    # The old village loses the record; the new one has it, with its history.
    assert (
        await client.get(f"{CHILDREN}/{child.id}", headers=_h(world, "director"))
    ).status_code == 404
    r = await client.get(
        f"{CHILDREN}/{child.id}/risk-history", headers=_h(world, "director_other_village")
    )
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    r = await client.get(
        f"{CHILDREN}/{child.id}/history", headers=_h(world, "director_other_village")
    )
    event = r.json()["items"][0]
    assert (event["kind"], event["from_area_code"], event["to_area_code"]) == (
        "transferred",
        VILLAGE,
        VILLAGE_SAME_TOWNSHIP,
    )
    areas = (
        (
            await session.execute(
                select(ChildRiskChange.area_code).where(ChildRiskChange.child_id == child.id)
            )
        )
        .scalars()
        .all()
    )
    assert set(areas) == {VILLAGE_SAME_TOWNSHIP}
    row = (
        await session.execute(
            select(Child.county_code, Child.area_code).where(Child.id == child.id)
        )
    ).one()
    assert tuple(row) == (COUNTY, VILLAGE_SAME_TOWNSHIP)
    event_row = (
        await session.execute(
            select(OutboxEvent).where(OutboxEvent.event_type == "child.transferred")
        )
    ).scalar_one()
    assert event_row.payload == {
        "child_id": str(child.id),
        "from_area_code": VILLAGE,
        "to_area_code": VILLAGE_SAME_TOWNSHIP,
    }


async def test_transfer_rules(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    url = f"{CHILDREN}/{child.id}/transfer"

    async def move(actor, to, version=None):
        return await client.post(
            url, json={"to_area_code": to, "reason": "迁居"}, headers=_h(world, actor, version)
        )

    # The supervisor has no scope over another township; the other county is nobody's here.
    assert (await move("supervisor", VILLAGE_OTHER_TOWNSHIP)).status_code == 404
    assert (await move("officer", VILLAGE_OTHER_COUNTY)).status_code == 404
    assert (await move("officer_other_county", VILLAGE_OTHER_COUNTY)).status_code == 404
    r = await move("officer", TOWNSHIP)
    assert r.status_code == 422 and r.json()["code"] == "not_a_village"
    r = await move("officer", VILLAGE)
    assert r.status_code == 422 and r.json()["code"] == "same_area"
    r = await move("officer", "6207221010019")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to_area_code"
    assert (await move("officer", VILLAGE_OTHER_TOWNSHIP, version=5)).status_code == 412
    # A county officer above both villages may move it across townships.
    r = await move("officer", VILLAGE_OTHER_TOWNSHIP, version=1)
    assert r.status_code == 200 and r.json()["area_code"] == VILLAGE_OTHER_TOWNSHIP
    assert (
        await client.get(f"{CHILDREN}/{child.id}", headers=_h(world, "supervisor"))
    ).status_code == 404
    r = await client.get(f"{CHILDREN}/{child.id}", headers=_h(world, "director_other_township"))
    assert r.status_code == 200


async def test_failed_request_leaves_no_audit_row(client, world, session, settings, monkeypatch):
    """Audit rows are written in the request's transaction: when the request fails after
    the row was written, neither the change nor the audit row remains."""
    child = await make_child(session, settings, VILLAGE)

    async def broken_emit(*args, **kwargs):
        raise Conflict("the outbox is unavailable", code="outbox_down")

    monkeypatch.setattr(child_transfer.outbox, "emit", broken_emit)
    r = await client.post(
        f"{CHILDREN}/{child.id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "迁居"},
        headers=_h(world, "supervisor"),
    )
    assert r.status_code == 409 and r.json()["code"] == "outbox_down"
    monkeypatch.setattr(child_transfer.outbox, "emit", outbox.emit)
    count = (await session.execute(select(func.count()).select_from(AuditEvent))).scalar()
    assert count == 0
    row = (await session.execute(select(Child.area_code).where(Child.id == child.id))).scalar_one()
    assert row == VILLAGE
    assert (await session.execute(select(func.count()).select_from(ChildEvent))).scalar() == 0
    # ...while a request that succeeds leaves exactly its row.
    r = await client.get(f"{CHILDREN}/{child.id}", headers=_h(world, "director"))
    rows = (await session.execute(select(AuditEvent.action, AuditEvent.resource_id))).all()
    assert rows == [("child.read", child.id)]


async def test_every_read_and_write_is_audited(client, world, session, settings):
    a = await make_child(session, settings, VILLAGE)
    b = await make_child(session, settings, VILLAGE)
    h = _h(world, "director")
    await client.get(CHILDREN, headers=h)
    await client.get(f"{CHILDREN}/{a.id}", headers=h)
    await client.patch(
        f"{CHILDREN}/{a.id}", json={"grade": "四年级"}, headers=_h(world, "director", 1)
    )
    await client.put(f"{CHILDREN}/{a.id}/risk", json={"level": "yellow", "reason": "x"}, headers=h)
    await client.get(f"{CHILDREN}/{a.id}/risk-history", headers=h)
    await client.post(f"{CHILDREN}/{a.id}/close", json={"reason": "moved_away"}, headers=h)
    await client.post(f"{CHILDREN}/{a.id}/reopen", json={"reason": "回来了"}, headers=h)
    await client.get(f"{CHILDREN}/{a.id}/history", headers=h)
    rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars().all()
    assert [(r.action, r.resource_id) for r in rows] == [
        ("child.list", a.id if str(a.id) < str(b.id) else b.id),
        ("child.list", b.id if str(a.id) < str(b.id) else a.id),
        ("child.read", a.id),
        ("child.update", a.id),
        ("child.risk_set", a.id),
        ("child.risk_history_read", a.id),
        ("child.close", a.id),
        ("child.reopen", a.id),
        ("child.history_read", a.id),
    ]
    assert {(r.actor_id, r.actor_role, r.area_code, r.county_code) for r in rows} == {
        (world["director"].id, "village_director", VILLAGE, COUNTY)
    }
    assert all(r.request_id for r in rows)
    assert uuid.UUID(str(rows[0].resource_id))
