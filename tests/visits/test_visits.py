from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.visit import Visit
from childprotect_api.services.children.schedule import set_risk_level
from childprotect_api.services.visits import attachments as visit_attachments
from tests.conftest import (
    OUTSIDER_OFFICERS,
    OUTSIDER_SUPERVISORS,
    OUTSIDERS,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
)
from tests.visits.visit_factories import (
    JPEG,
    PDF,
    PNG,
    VISITS,
    checklist,
    if_match,
    put_visit,
    registered_child,
    visit_body,
)

NOT_STAFF = ("reporter", "auditor", "admin")


async def _child_row(session, child_id) -> Child:
    child = await session.get(Child, child_id, populate_existing=True)
    assert child is not None
    return child


# --- logging a visit ---------------------------------------------------------------------


async def test_put_creates_then_retry_answers_stored_and_other_content_conflicts(
    client, session, settings, world
):
    child = await registered_child(session, settings, risk_level="yellow")
    visit_id = uuid.uuid4()
    body = visit_body(child.id)
    r = await client.put(f"{VISITS}/{visit_id}", json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    visit = r.json()
    assert visit["id"] == str(visit_id) == visit["original_id"]
    assert visit["visitor_id"] == str(world["director"].id)
    assert visit["status"] == "submitted" and visit["revision"] == 1 and visit["is_current"]
    assert visit["area_code"] == VILLAGE
    assert visit["checklist"]["emotional_state"] == {"rating": "fair", "note": "想念在外打工的妈妈"}
    assert r.headers["ETag"] == '"1"'

    # The phone retries (same content, another UTC offset for the same instant): 200, stored.
    china = timezone(timedelta(hours=8))
    retry = dict(
        body, visited_at=datetime.fromisoformat(body["visited_at"]).astimezone(china).isoformat()
    )
    r = await client.put(f"{VISITS}/{visit_id}", json=retry, headers=world["director"].headers)
    assert r.status_code == 200, r.text
    assert r.json() == visit

    r = await client.put(
        f"{VISITS}/{visit_id}",
        json=dict(body, notes="改过的内容"),
        headers=world["director"].headers,
    )
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    count = await session.scalar(select(func.count()).select_from(Visit))
    assert count == 1


async def test_id_taken_outside_the_scope_is_409_without_details(client, session, settings, world):
    mine = await registered_child(session, settings)
    theirs = await registered_child(session, settings, VILLAGE_OTHER_COUNTY)
    visit_id = uuid.uuid4()
    r = await client.put(
        f"{VISITS}/{visit_id}",
        json=visit_body(theirs.id),
        headers=world["director_other_county"].headers,
    )
    assert r.status_code == 201
    r = await client.put(
        f"{VISITS}/{visit_id}", json=visit_body(mine.id), headers=world["director"].headers
    )
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    assert str(theirs.id) not in r.text


async def test_concurrent_retries_make_one_visit(client, session, settings, world):
    child = await registered_child(session, settings)
    visit_id = uuid.uuid4()
    body = visit_body(child.id)
    h = world["director"].headers
    results = await asyncio.gather(
        *(client.put(f"{VISITS}/{visit_id}", json=body, headers=h) for _ in range(3))
    )
    assert sorted(r.status_code for r in results) == [200, 200, 201]
    assert await session.scalar(select(func.count()).select_from(Visit)) == 1


async def test_visit_moves_last_visit_and_due_date(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="yellow")
    version = child.version
    visited = utcnow() - timedelta(days=2)
    await put_visit(client, world["director"], child.id, visited_at=visited)
    row = await _child_row(session, child.id)
    assert row.last_visit_at == visited
    assert row.next_visit_due == visited + timedelta(days=30)
    assert row.version == version + 1


async def test_visit_exactly_at_the_interval(client, session, settings, world):
    """Visited exactly when due: the next due date is exactly one interval later."""
    first = utcnow() - timedelta(days=40)
    child = await registered_child(session, settings, risk_level="yellow", last_visit_at=first)
    assert child.next_visit_due == first + timedelta(days=30)
    on_time = first + timedelta(days=30)
    await put_visit(client, world["director"], child.id, visited_at=on_time)
    row = await _child_row(session, child.id)
    assert row.last_visit_at == on_time
    assert row.next_visit_due == on_time + timedelta(days=30)


async def test_older_visit_arriving_late_never_moves_last_visit_back(
    client, session, settings, world
):
    child = await registered_child(session, settings, risk_level="orange")
    recent = utcnow() - timedelta(days=1)
    await put_visit(client, world["director"], child.id, visited_at=recent)
    version = (await _child_row(session, child.id)).version
    # A phone that was offline for a week syncs an older visit.
    await put_visit(client, world["director"], child.id, visited_at=recent - timedelta(days=6))
    after = await _child_row(session, child.id)
    assert after.last_visit_at == recent
    assert after.next_visit_due == recent + timedelta(days=7)
    assert after.version == version


async def test_concurrent_visits_keep_the_latest(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="yellow")
    times = [utcnow() - timedelta(days=d) for d in (5, 1, 3)]
    h = world["director"].headers
    results = await asyncio.gather(
        *(
            client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child.id, t), headers=h)
            for t in times
        )
    )
    assert [r.status_code for r in results] == [201, 201, 201]
    row = await _child_row(session, child.id)
    assert row.last_visit_at == max(times)
    assert row.next_visit_due == max(times) + timedelta(days=30)


async def test_risk_level_raised_and_lowered_moves_due_date(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="blue")
    visited = utcnow() - timedelta(days=10)
    await put_visit(client, world["director"], child.id, visited_at=visited)
    row = await _child_row(session, child.id)
    assert row.next_visit_due == visited + timedelta(days=90)
    await set_risk_level(session, row, "orange", "父亲入狱", set_by=world["supervisor"].id)
    assert row.next_visit_due == visited + timedelta(days=7)  # closer at once: now overdue
    await set_risk_level(session, row, "yellow", "情况好转", set_by=world["supervisor"].id)
    assert row.next_visit_due == visited + timedelta(days=30)
    await session.commit()


BAD_INPUTS = [
    ({"checklist": checklist(hygiene={"rating": "good"})}, "checklist.hygiene"),
    ({"checklist": checklist(health={"rating": "excellent"})}, "checklist.health.rating"),
    (
        {"checklist": {k: v for k, v in checklist().items() if k != "health"}},
        "checklist.health",
    ),
    ({"checklist": checklist(health={"rating": "good", "mood": 1})}, "checklist.health.mood"),
    ({"kind": "video"}, "kind"),
    ({"latitude": 91}, "latitude"),
    ({"longitude": 181}, "longitude"),
    ({"longitude": None}, "longitude"),
    ({"latitude": None, "longitude": None}, "accuracy_m"),
    ({"accuracy_m": -1}, "accuracy_m"),
    ({"visited_at": "2026-01-01T10:00:00"}, "visited_at"),
    ({"suggested_risk_level": "purple"}, "suggested_risk_level"),
    (
        {"follow_up_actions": [{"action": "", "due_on": "2030-01-01"}]},
        "follow_up_actions.0.action",
    ),
    ({"follow_up_actions": [{"action": "x", "due_on": "soon"}]}, "follow_up_actions.0.due_on"),
    ({"surprise": 1}, "surprise"),
]


async def test_bad_visit_input_is_422_naming_the_field(client, session, settings, world):
    child = await registered_child(session, settings)
    for override, field in BAD_INPUTS:
        r = await client.put(
            f"{VISITS}/{uuid.uuid4()}",
            json=visit_body(child.id, **override),
            headers=world["director"].headers,
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert await session.scalar(select(func.count()).select_from(Visit)) == 0


async def test_visited_at_bounds(client, session, settings, world):
    child = await registered_child(session, settings, days_ago=10)
    h = world["director"].headers
    cases = [
        (utcnow() + timedelta(minutes=10), "visited_in_future"),
        (utcnow() - timedelta(days=11), "visited_before_registration"),
    ]
    for when, code in cases:
        r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child.id, when), headers=h)
        assert r.status_code == 422 and r.json()["code"] == code
        assert r.json()["errors"][0]["field"] == "visited_at"
    # A phone clock a little ahead is tolerated.
    r = await client.put(
        f"{VISITS}/{uuid.uuid4()}",
        json=visit_body(child.id, utcnow() + timedelta(minutes=3)),
        headers=h,
    )
    assert r.status_code == 201
    assert await session.scalar(select(func.count()).select_from(Visit)) == 1


async def test_closed_child_is_409_and_nothing_written(client, session, settings, world):
    child = await registered_child(session, settings, status="closed", closed_reason="moved_away")
    r = await client.put(
        f"{VISITS}/{uuid.uuid4()}", json=visit_body(child.id), headers=world["director"].headers
    )
    assert r.status_code == 409 and r.json()["code"] == "child_closed"
    assert await session.scalar(select(func.count()).select_from(Visit)) == 0


ALL_OUTSIDERS = OUTSIDERS + OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS


async def test_visit_for_child_out_of_scope_is_404(client, session, settings, world):
    child = await registered_child(session, settings)
    for outsider in ALL_OUTSIDERS:
        h = world[outsider].headers
        r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child.id), headers=h)
        assert r.status_code == 404, outsider
        r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(uuid.uuid4()), headers=h)
        assert r.status_code == 404, outsider
    assert await session.scalar(select(func.count()).select_from(Visit)) == 0


async def test_staff_in_scope_log_visits(client, session, settings, world):
    child = await registered_child(session, settings)
    for actor in ("director", "supervisor", "officer"):
        visit = await put_visit(client, world[actor], child.id)
        assert visit["visitor_id"] == str(world[actor].id)


async def test_roles_outside_the_matrix_get_403(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    for role in NOT_STAFF:
        await _all_visit_endpoints_refuse(client, world[role].headers, child.id, visit)


async def _all_visit_endpoints_refuse(client, h, child_id, visit) -> None:
    vid = visit["id"]
    fix = visit_body(child_id, id=str(uuid.uuid4()), correction_reason="x")
    responses = [
        await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child_id), headers=h),
        await client.get(VISITS, headers=h),
        await client.get(f"{VISITS}/{vid}", headers=h),
        await client.get(f"{VISITS}/{vid}/versions", headers=h),
        await client.post(
            f"{VISITS}/{vid}/review", json={"decision": "accept"}, headers=h | if_match(visit)
        ),
        await client.post(
            f"{VISITS}/{vid}/attachments", files={"file": ("a.png", PNG, "image/png")}, headers=h
        ),
        await client.get(f"{VISITS}/{vid}/attachments", headers=h),
        await client.post(f"{VISITS}/{vid}/corrections", json=fix, headers=h | if_match(visit)),
        await client.get(f"{VISITS}/{vid}/attachments/{uuid.uuid4()}", headers=h),
    ]
    assert [r.status_code for r in responses] == [403] * len(responses)


async def test_unauthenticated_is_401(client, world):
    r = await client.get(VISITS)
    assert r.status_code == 401


# --- reading -------------------------------------------------------------------------------


async def test_visits_out_of_scope_are_404_and_unlisted(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    for outsider in ALL_OUTSIDERS:
        h = world[outsider].headers
        for path in ("", "/versions", "/attachments"):
            r = await client.get(f"{VISITS}/{visit['id']}{path}", headers=h)
            assert r.status_code == 404, (outsider, path)
        r = await client.get(VISITS, headers=h)
        assert r.status_code == 200 and r.json()["items"] == []


async def test_get_and_list_with_filters_and_keyset(client, session, settings, world):
    a = await registered_child(session, settings)
    b = await registered_child(session, settings, name="李小红", gender="female")
    now = utcnow()
    va = [
        await put_visit(client, world["director"], a.id, visited_at=now - timedelta(days=d))
        for d in (1, 2, 3)
    ]
    vb = await put_visit(client, world["supervisor"], b.id, visited_at=now - timedelta(days=4))
    h = world["officer"].headers

    r = await client.get(f"{VISITS}/{va[0]['id']}", headers=h)
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'

    seen, cursor = [], None
    while True:
        r = await client.get(
            VISITS, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=h
        )
        assert r.status_code == 200
        seen += [v["id"] for v in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [v["id"] for v in [*va, vb]]  # newest first

    r = await client.get(VISITS, params={"child_id": str(b.id)}, headers=h)
    assert [v["id"] for v in r.json()["items"]] == [vb["id"]]
    r = await client.get(VISITS, params={"visitor_id": str(world["director"].id)}, headers=h)
    assert len(r.json()["items"]) == 3
    r = await client.get(
        VISITS,
        params={
            "from": (now - timedelta(days=2, hours=1)).isoformat(),
            "to": (now - timedelta(hours=12)).isoformat(),
        },
        headers=h,
    )
    assert [v["id"] for v in r.json()["items"]] == [va[0]["id"], va[1]["id"]]
    r = await client.get(VISITS, params={"status": "accepted"}, headers=h)
    assert r.json()["items"] == []
    for params in (
        {"status": "lost"},
        {"cursor": "not-a-cursor"},
        {"from": "yesterday"},
        {"limit": 0},
    ):
        r = await client.get(VISITS, params=params, headers=h)
        assert r.status_code == 422, params


async def test_reads_and_writes_are_audited(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    await client.get(f"{VISITS}/{visit['id']}", headers=world["supervisor"].headers)
    rows = (
        await session.execute(
            select(AuditEvent.action, AuditEvent.actor_id)
            .where(AuditEvent.resource_id == uuid.UUID(visit["id"]))
            .order_by(AuditEvent.id)
        )
    ).all()
    assert [(a, u) for a, u in rows] == [
        ("create", world["director"].id),
        ("read", world["supervisor"].id),
    ]


async def test_visits_are_never_deleted(session, settings, world, client):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    with pytest.raises(Exception, match="never deleted"):
        await session.execute(text("DELETE FROM visits WHERE id = :id"), {"id": visit["id"]})
    await session.rollback()


# --- corrections -----------------------------------------------------------------------------


async def test_correction_makes_a_new_version_and_keeps_the_old(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="yellow")
    now = utcnow()
    first = await put_visit(client, world["director"], child.id, visited_at=now - timedelta(days=1))
    h = world["director"].headers
    new_id = str(uuid.uuid4())
    fix = visit_body(
        child.id,
        now - timedelta(days=3),
        notes="日期记错了",
        id=new_id,
        correction_reason="日期记错",
    )
    path = f"{VISITS}/{first['id']}/corrections"

    r = await client.post(path, json=fix, headers=h)
    assert r.status_code == 428
    r = await client.post(path, json=fix, headers=h | {"If-Match": '"7"'})
    assert r.status_code == 412
    r = await client.post(path, json=fix, headers=h | if_match(first))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] == new_id and new["original_id"] == first["id"]
    assert new["revision"] == 2 and new["is_current"] and new["status"] == "submitted"
    assert new["correction_reason"] == "日期记错"

    # A retry of the correction answers it again; nothing new.
    r = await client.post(path, json=fix, headers=h | if_match(first))
    assert r.status_code == 200 and r.json()["id"] == new_id

    old = (await client.get(f"{VISITS}/{first['id']}", headers=h)).json()
    assert not old["is_current"] and old["superseded_by"] == new_id
    assert old["notes"] == first["notes"] and old["visited_at"] == first["visited_at"]
    r = await client.get(f"{VISITS}/{first['id']}/versions", headers=h)
    assert [v["revision"] for v in r.json()] == [1, 2]
    # Lists show the current version only.
    r = await client.get(VISITS, headers=h)
    assert [v["id"] for v in r.json()["items"]] == [new_id]

    # The only visit now says three days ago: the last visit moved back with it.
    row = await _child_row(session, child.id)
    assert row.last_visit_at == now - timedelta(days=3)
    assert row.next_visit_due == now - timedelta(days=3) + timedelta(days=30)

    # The superseded version cannot be corrected again.
    again = dict(fix, id=str(uuid.uuid4()), notes="又改")
    r = await client.post(path, json=again, headers=h | if_match(old))
    assert r.status_code == 409 and r.json()["code"] == "visit_superseded"


async def test_correction_rules(client, session, settings, world):
    child = await registered_child(session, settings)
    other = await registered_child(session, settings, name="李小红", gender="female")
    visit = await put_visit(client, world["director"], child.id)
    path = f"{VISITS}/{visit['id']}/corrections"
    fix = visit_body(child.id, id=str(uuid.uuid4()), correction_reason="补充")
    h = if_match(visit)

    r = await client.post(path, json=fix, headers=world["supervisor"].headers | h)
    assert r.status_code == 403 and r.json()["code"] == "not_visitor"
    for outsider in ALL_OUTSIDERS:
        r = await client.post(path, json=fix, headers=world[outsider].headers | h)
        assert r.status_code == 404
    r = await client.post(
        path, json=dict(fix, child_id=str(other.id)), headers=world["director"].headers | h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "child_id"
    r = await client.post(
        path,
        json={k: v for k, v in fix.items() if k != "correction_reason"},
        headers=world["director"].headers | h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "correction_reason"
    r = await client.post(
        f"{VISITS}/{uuid.uuid4()}/corrections", json=fix, headers=world["director"].headers | h
    )
    assert r.status_code == 404


# --- review ----------------------------------------------------------------------------------


async def test_review_accept_and_invalid_transitions(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="blue")
    visit = await put_visit(client, world["director"], child.id, suggested_risk_level="orange")
    path = f"{VISITS}/{visit['id']}/review"
    h = world["supervisor"].headers

    r = await client.post(path, json={"decision": "accept"}, headers=h)
    assert r.status_code == 428
    r = await client.post(
        path, json={"decision": "accept", "risk_level": "orange"}, headers=h | if_match(visit)
    )
    assert r.status_code == 200, r.text
    reviewed = r.json()
    assert reviewed["status"] == "accepted" and reviewed["reviewed_by"] == str(
        world["supervisor"].id
    )
    assert r.headers["ETag"] == '"2"'
    # The accepted suggestion raised the child's level and brought the due date closer.
    row = await _child_row(session, child.id)
    assert row.risk_level == "orange"
    assert row.next_visit_due == row.last_visit_at + timedelta(days=7)
    events = (await session.execute(select(OutboxEvent.event_type, OutboxEvent.payload))).all()
    assert ("child.risk_level_changed", {"from": "blue", "to": "orange", "source": "visit"}) in [
        tuple(e) for e in events
    ]

    r = await client.post(
        path, json={"decision": "return", "comment": "补照片"}, headers=h | if_match(reviewed)
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    r = await client.post(
        path, json={"decision": "return", "comment": "x"}, headers=h | if_match(visit)
    )
    assert r.status_code == 412


async def test_review_return_shows_in_visitors_worklist_until_corrected(
    client, session, settings, world
):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    path = f"{VISITS}/{visit['id']}/review"
    r = await client.post(
        path, json={"decision": "return"}, headers=world["officer"].headers | if_match(visit)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "comment"
    r = await client.post(
        path,
        json={"decision": "return", "risk_level": "red", "comment": "x"},
        headers=world["officer"].headers | if_match(visit),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "risk_level"
    r = await client.post(
        path,
        json={"decision": "return", "comment": "请补充监护人情况"},
        headers=world["officer"].headers | if_match(visit),
    )
    assert r.status_code == 200 and r.json()["status"] == "returned"
    returned = r.json()

    r = await client.get("/api/v1/worklist", headers=world["director"].headers)
    assert [v["id"] for v in r.json()["returned_visits"]] == [visit["id"]]
    assert r.json()["returned_visits"][0]["review_comment"] == "请补充监护人情况"
    # Not in anyone else's list.
    r = await client.get("/api/v1/worklist", headers=world["supervisor"].headers)
    assert r.json()["returned_visits"] == []

    fix = visit_body(child.id, id=str(uuid.uuid4()), correction_reason="补充监护人情况")
    r = await client.post(
        f"{VISITS}/{visit['id']}/corrections",
        json=fix,
        headers=world["director"].headers | if_match(returned),
    )
    assert r.status_code == 201 and r.json()["status"] == "submitted"
    r = await client.get("/api/v1/worklist", headers=world["director"].headers)
    assert r.json()["returned_visits"] == []


async def test_review_scope_and_roles(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    path = f"{VISITS}/{visit['id']}/review"
    body = {"decision": "accept"}
    for name in ("director", "director_other_village"):
        r = await client.post(path, json=body, headers=world[name].headers | if_match(visit))
        assert r.status_code == 403, name
    for name in OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await client.post(path, json=body, headers=world[name].headers | if_match(visit))
        assert r.status_code == 404, name
    own = await put_visit(client, world["supervisor"], child.id)
    r = await client.post(
        f"{VISITS}/{own['id']}/review",
        json=body,
        headers=world["supervisor"].headers | if_match(own),
    )
    assert r.status_code == 403 and r.json()["code"] == "own_visit"
    r = await client.post(
        path, json={"decision": "maybe"}, headers=world["supervisor"].headers | if_match(visit)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "decision"


# --- attachments -------------------------------------------------------------------------------


async def test_attachments_upload_list_download(client, session, settings, world):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    base = f"{VISITS}/{visit['id']}/attachments"
    h = world["director"].headers

    r = await client.post(base, files={"file": ("登记表.png", PNG, "image/png")}, headers=h)
    assert r.status_code == 201, r.text
    png = r.json()
    assert png["content_type"] == "image/png" and png["size_bytes"] == len(PNG)
    r = await client.post(base, files={"file": ("again.png", PNG, "image/png")}, headers=h)
    assert r.status_code == 200 and r.json()["id"] == png["id"]
    # The type comes from the content, not the name or the declared type.
    r = await client.post(
        base, files={"file": ("scan.bin", PDF, "application/octet-stream")}, headers=h
    )
    assert r.status_code == 201 and r.json()["content_type"] == "application/pdf"
    pdf = r.json()

    r = await client.get(base, headers=world["supervisor"].headers)
    assert [a["id"] for a in r.json()["items"]] == [png["id"], pdf["id"]]
    assert r.json()["next_cursor"] is None

    r = await client.get(f"{base}/{png['id']}", headers=world["officer"].headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png" and r.content == PNG
    r = await client.get(f"{base}/{pdf['id']}", headers=h)
    assert r.headers["content-type"] == "application/pdf"
    r = await client.get(f"{base}/{uuid.uuid4()}", headers=h)
    assert r.status_code == 404


async def test_attachment_refusals(client, session, settings, world, monkeypatch):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    base = f"{VISITS}/{visit['id']}/attachments"
    h = world["director"].headers

    r = await client.post(
        base, files={"file": ("photo.jpg", b"just a text file", "image/jpeg")}, headers=h
    )
    assert r.status_code == 415 and r.json()["code"] == "unsupported_file_type"
    settings.max_upload_bytes = 100
    r = await client.post(
        base, files={"file": ("big.jpg", JPEG + b"\x00" * 200, "image/jpeg")}, headers=h
    )
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    r = await client.post(base, files={"file": ("empty.png", b"", "image/png")}, headers=h)
    assert r.status_code == 422
    r = await client.post(base, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = await client.get(base, headers=h)
    assert r.json()["items"] == []

    monkeypatch.setattr(visit_attachments, "MAX_ATTACHMENTS", 2)
    for n in range(2):
        r = await client.post(
            base, files={"file": (f"{n}.png", PNG + bytes([n]), "image/png")}, headers=h
        )
        assert r.status_code == 201
    r = await client.post(base, files={"file": ("3.png", PNG + b"3", "image/png")}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "too_many_attachments"
    assert len((await client.get(base, headers=h)).json()["items"]) == 2


async def test_attachments_belong_to_every_version_and_stay_in_scope(
    client, session, settings, world
):
    child = await registered_child(session, settings)
    visit = await put_visit(client, world["director"], child.id)
    h = world["director"].headers
    r = await client.post(
        f"{VISITS}/{visit['id']}/attachments",
        files={"file": ("a.jpg", JPEG, "image/jpeg")},
        headers=h,
    )
    att = r.json()
    fix = visit_body(child.id, id=str(uuid.uuid4()), correction_reason="补充")
    r = await client.post(
        f"{VISITS}/{visit['id']}/corrections", json=fix, headers=h | if_match(visit)
    )
    new = r.json()
    r = await client.get(f"{VISITS}/{new['id']}/attachments", headers=h)
    assert [a["id"] for a in r.json()["items"]] == [att["id"]]
    for outsider in ALL_OUTSIDERS:
        oh = world[outsider].headers
        r = await client.get(f"{VISITS}/{visit['id']}/attachments/{att['id']}", headers=oh)
        assert r.status_code == 404
        r = await client.post(
            f"{VISITS}/{visit['id']}/attachments",
            files={"file": ("b.png", PNG, "image/png")},
            headers=oh,
        )
        assert r.status_code == 404


@pytest.mark.parametrize(
    ("entry", "present"),
    [
        ({"present": True}, True),
        ({"present": False, "note": "爷爷在地里干活"}, False),
        ({"present": None}, None),
        # Older app versions still send a rating: read as yes/no.
        ({"rating": "good"}, True),
        ({"rating": "fair"}, False),
        ({"rating": "not_applicable"}, None),
    ],
)
async def test_guardian_present_is_yes_or_no(client, session, settings, world, entry, present):
    child = await registered_child(session, settings)
    visit = await put_visit(
        client, world["director"], child.id, checklist=checklist(guardian_present=entry)
    )
    assert visit["checklist"]["guardian_present"]["present"] is present
    r = await client.get(f"{VISITS}/{visit['id']}", headers=world["director"].headers)
    assert r.json()["checklist"]["guardian_present"]["present"] is present


@pytest.mark.parametrize("entry", [{}, {"note": "x"}, {"present": "sometimes"}, {"rating": "ok"}])
async def test_guardian_present_needs_an_answer(client, session, settings, world, entry):
    child = await registered_child(session, settings)
    body = visit_body(child.id, checklist=checklist(guardian_present=entry))
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=body, headers=world["director"].headers)
    assert r.status_code == 422, r.text
