"""The batch push: two phones and a server. Offline creates retried after a lost answer,
concurrent edits merged or in conflict, a bad item among good ones, items out of scope, the
batch limit, permissions, and the answer in the order sent."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from childprotect_api.core.errors import Conflict
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.idempotency import SyncPushOp
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.report import Report
from childprotect_api.models.sync import SyncChange
from childprotect_api.models.visit import Visit
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.schemas.sync_push import PushResponse
from childprotect_api.services.visits import service as visit_service
from tests.agreements import agreement_helpers
from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.reports import report_support
from tests.visits.visit_factories import registered_child, visit_body

PUSH = "/api/v1/sync/push"


def op(kind: str, data: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """One operation; creates get a fresh record id unless given."""
    body: dict[str, Any] = {"op": kind, "client_id": str(uuid.uuid4()), "data": data or {}}
    if kind.startswith("create_"):
        body["id"] = str(uuid.uuid4())
    for name, value in kw.items():
        body[name] = str(value) if isinstance(value, uuid.UUID) else value
    return body


async def push(
    client, actor, *ops: dict[str, Any], status: int = 200, key: str | None = None
) -> Any:  # type: ignore[no-untyped-def]
    headers = {**actor.headers, **({"Idempotency-Key": key} if key else {})}
    r = await client.post(PUSH, json={"operations": list(ops)}, headers=headers)
    assert r.status_code == status, r.text
    body = r.json()
    if status == 200:
        # One answer per operation, in the order sent.
        assert [x["client_id"] for x in body["results"]] == [o["client_id"] for o in ops]
        # Each result is the member of the declared union its `type` names: its `record`
        # reads as that type's GET body.
        PushResponse.model_validate(body)
    return body


def statuses(answer: Any) -> list[str]:
    return [x["status"] for x in answer["results"]]


async def count(session, model) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_offline_creates_sent_twice_make_each_record_once(client, world, session, settings):
    director = world["director"]
    child = await registered_child(session, settings)
    away = await agreement_helpers.away_child(
        session, settings, created_at=utcnow() - timedelta(days=30)
    )
    ops = [
        op("create_child", new_child()),
        op("create_visit", visit_body(child.id)),
        op("create_visit", visit_body(child.id, utcnow() - timedelta(hours=3), kind="phone")),
        op("create_agreement", {**agreement_helpers.body(), "child_id": str(away.id)}),
        op("create_report", report_support.body(area_code=VILLAGE)),
    ]
    first = await push(client, director, *ops)
    assert statuses(first) == ["created"] * 5
    assert [x["type"] for x in first["results"]] == [
        "child",
        "visit",
        "visit",
        "agreement",
        "report",
    ]
    for sent, got in zip(ops, first["results"], strict=True):
        assert got["id"] == sent["id"] and got["record"]["id"] == sent["id"]
        assert got["version"] >= 1 and got["problem"] is None
    assert first["results"][0]["record"]["id_number"].count("*") == 10  # masked, as GET shows it
    counts = [await count(session, m) for m in (Child, Visit, Agreement, Report)]
    assert counts == [3, 2, 1, 1]

    # The answer was lost: the phone sends the same batch again.
    again = await push(client, director, *ops)
    assert statuses(again) == ["unchanged"] * 5
    assert [x["id"] for x in again["results"]] == [x["id"] for x in first["results"]]
    assert [await count(session, m) for m in (Child, Visit, Agreement, Report)] == counts


async def _child_at(client, actor, child_id) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await client.get(f"{CHILDREN}/{child_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_two_phones_edit_other_fields_both_apply(client, world, session, settings):
    child = await registered_child(session, settings)
    base = child.version
    phone_a, phone_b = world["director"], world["supervisor"]
    a = await push(
        client,
        phone_a,
        op("update_child", {"school": "洪水镇中学"}, id=child.id, base_version=base),
    )
    assert statuses(a) == ["updated"] and a["results"][0]["version"] == base + 1
    b = await push(
        client,
        phone_b,
        op("update_child", {"grade": "五年级", "boarding": True}, id=child.id, base_version=base),
    )
    assert statuses(b) == ["merged"], b
    merged = b["results"][0]
    assert merged["version"] == base + 2
    assert merged["record"]["school"] == "洪水镇中学" and merged["record"]["grade"] == "五年级"
    now = await _child_at(client, phone_a, child.id)
    assert (now["school"], now["grade"], now["boarding"], now["version"]) == (
        "洪水镇中学",
        "五年级",
        True,
        base + 2,
    )
    # The single-record PATCH still refuses a stale version outright.
    r = await client.patch(
        f"{CHILDREN}/{child.id}",
        json={"health_notes": "无"},
        headers={**phone_a.headers, "If-Match": f'"{base}"'},
    )
    assert r.status_code == 412 and r.json()["code"] == "version_mismatch"


async def test_two_phones_edit_the_same_field_conflict(client, world, session, settings):
    child = await registered_child(session, settings)
    base = child.version
    phone_a, phone_b = world["director"], world["supervisor"]
    await push(
        client,
        phone_a,
        op("update_child", {"school": "洪水镇中学"}, id=child.id, base_version=base),
    )
    b = await push(
        client,
        phone_b,
        op(
            "update_child",
            {"school": "民乐一中", "grade": "五年级"},
            id=child.id,
            base_version=base,
        ),
    )
    assert statuses(b) == ["conflict"]
    result = b["results"][0]
    assert result["conflicting_fields"] == ["school"]
    assert result["version"] == base + 1 and result["record"]["school"] == "洪水镇中学"
    assert result["record"]["version"] == base + 1 and result["problem"] is None
    now = await _child_at(client, phone_a, child.id)
    assert (now["school"], now["grade"], now["version"]) == ("洪水镇中学", child.grade, base + 1)


async def test_the_same_value_written_on_both_sides_is_no_conflict(
    client, world, session, settings
):
    child = await registered_child(session, settings)
    base = child.version
    father = {"situation": "working_away", "work_place": "广东省东莞市", "away_since": "2024-02-01"}
    first = op(
        "update_child", {"school": "洪水镇中学", "father": father}, id=child.id, base_version=base
    )
    await push(client, world["supervisor"], first)
    b = await push(
        client,
        world["director"],
        op(
            "update_child",
            {"school": "洪水镇中学", "father": father, "grade": "五年级"},
            id=child.id,
            base_version=base,
        ),
    )
    assert statuses(b) == ["merged"], b
    now = await _child_at(client, world["director"], child.id)
    assert (now["school"], now["grade"], now["father"]["work_place"]) == (
        "洪水镇中学",
        "五年级",
        "广东省东莞市",
    )


async def test_an_id_number_clash_is_named_by_its_field(client, world, session, settings):
    child = await registered_child(session, settings, with_id_number=False)
    base = child.version
    number = new_child(born=child.birth_date, gender=child.gender)["id_number"]
    r = await client.patch(
        f"{CHILDREN}/{child.id}",
        json={"id_number": number},
        headers={**world["supervisor"].headers, "If-Match": f'"{base}"'},
    )
    assert r.status_code == 200, r.text
    b = await push(
        client,
        world["director"],
        op("update_child", {"id_number": number}, id=child.id, base_version=base),
    )
    assert statuses(b) == ["conflict"] and b["results"][0]["conflicting_fields"] == ["id_number"]


async def test_a_visit_logged_offline_does_not_block_an_edit_made_on_the_same_version(
    client, world, session, settings
):
    """The visit moves the child's version (last visit, due date); the phone's edit of other
    fields made on the version before it is merged."""
    child = await registered_child(session, settings)
    answer = await push(
        client,
        world["director"],
        op("create_visit", visit_body(child.id)),
        op("update_child", {"health_notes": "感冒已愈"}, id=child.id, base_version=child.version),
    )
    assert statuses(answer) == ["created", "merged"]
    assert answer["results"][1]["record"]["last_visit_at"] is not None


async def test_an_update_sent_again_is_unchanged(client, world, session, settings):
    child = await registered_child(session, settings)
    update = op("update_child", {"school": "洪水镇中学"}, id=child.id, base_version=child.version)
    first = await push(client, world["director"], update)
    assert statuses(first) == ["updated"]
    # Someone else changes the same field before the retry arrives.
    r = await client.patch(
        f"{CHILDREN}/{child.id}",
        json={"school": "民乐一中"},
        headers={**world["supervisor"].headers, "If-Match": f'"{child.version + 1}"'},
    )
    assert r.status_code == 200
    again = await push(client, world["director"], update)
    assert statuses(again) == ["unchanged"]
    assert again["results"][0]["record"]["school"] == "民乐一中"
    assert again["results"][0]["version"] == child.version + 2
    # The same operation id with other content is refused.
    reused = {**update, "data": {"school": "别的学校"}}
    answer = await push(client, world["director"], reused)
    assert statuses(answer) == ["rejected"]
    assert answer["results"][0]["problem"]["code"] == "client_id_reused"


async def test_a_pruned_change_log_is_a_conflict_not_a_guess(client, world, session, settings):
    child = await registered_child(session, settings)
    base = child.version
    await push(
        client,
        world["supervisor"],
        op("update_child", {"school": "洪水镇中学"}, id=child.id, base_version=base),
    )
    await session.execute(delete(SyncChange).where(SyncChange.entity_id == child.id))
    await session.commit()
    b = await push(
        client,
        world["director"],
        op("update_child", {"grade": "五年级"}, id=child.id, base_version=base),
    )
    assert statuses(b) == ["conflict"] and b["results"][0]["conflicting_fields"] == ["grade"]


async def test_one_bad_item_never_sinks_the_others(client, world, session, settings):
    director = world["director"]
    child = await registered_child(session, settings)
    bad_visit = visit_body(child.id)
    del bad_visit["checklist"]
    ops = [
        op("create_visit", visit_body(child.id)),
        op("create_visit", bad_visit),
        op("create_child", new_child(birth_date="2030-01-01")),
        op("update_child", {"school": "x"}, id=child.id),
        op("create_visit", visit_body(child.id, utcnow() + timedelta(days=2))),
        op("create_child", {**new_child(), "name": ""}),
        op("create_visit", visit_body(child.id, utcnow() - timedelta(days=2))),
    ]
    answer = await push(client, director, *ops)
    assert statuses(answer) == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    problems = [x["problem"] for x in answer["results"]]
    assert problems[1]["status"] == 422 and problems[1]["code"] == "validation_error"
    assert [e["field"] for e in problems[1]["errors"]] == ["data.checklist"]
    assert problems[3]["code"] == "base_version_required"
    assert problems[4]["code"] == "visited_in_future"
    assert problems[5]["errors"][0]["field"] == "data.name"
    for p in problems[1:6]:
        assert p["request_id"] and p["title"]
    assert await count(session, Visit) == 2


async def test_a_duplicate_child_is_rejected_with_the_registrys_409(
    client, world, session, settings
):
    director = world["director"]
    body = new_child()
    r = await client.post(CHILDREN, json=body, headers=director.headers)
    assert r.status_code == 201
    answer = await push(client, director, op("create_child", {**body, "name": "李小华"}))
    [result] = answer["results"]
    assert result["status"] == "rejected"
    assert result["problem"]["status"] == 409 and result["problem"]["code"] == "duplicate_child"
    assert result["problem"]["existing_child_id"] == r.json()["id"]


async def test_items_out_of_scope_are_rejected_404_and_the_rest_applied(
    client, world, session, settings
):
    mine = await registered_child(session, settings)
    theirs = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    answer = await push(
        client,
        world["director"],
        op("update_child", {"school": "x"}, id=theirs.id, base_version=theirs.version),
        op("create_visit", visit_body(theirs.id)),
        op("create_child", new_child(VILLAGE_SAME_TOWNSHIP)),
        op("create_visit", visit_body(mine.id)),
    )
    assert statuses(answer) == ["rejected", "rejected", "rejected", "created"]
    assert [x["problem"]["status"] for x in answer["results"][:3]] == [404, 404, 404]
    assert "school" not in str(answer["results"][0]["problem"])  # nothing of the record


async def test_agreement_drafts_on_an_old_version_are_conflicts(client, world, session, settings):
    director = world["director"]
    away = await agreement_helpers.away_child(session, settings)
    draft = await agreement_helpers.create(client, director.headers, away.id)
    base = draft["version"]
    first = op("update_agreement", {"times_per_week_child": 3}, id=draft["id"], base_version=base)
    answer = await push(client, director, first)
    assert statuses(answer) == ["updated"] and answer["results"][0]["version"] == base + 1
    stale = op(
        "update_agreement", {"times_per_week_caregiver": 2}, id=draft["id"], base_version=base
    )
    answer = await push(client, world["supervisor"], stale)
    assert statuses(answer) == ["conflict"]
    # The first phone did not get its answer and sends its update again: applied already.
    assert statuses(await push(client, director, first)) == ["unchanged"]
    conflict = answer["results"][0]
    assert conflict["record"]["times_per_week_child"] == 3 and conflict["version"] == base + 1
    r = await client.get(f"/api/v1/agreements/{draft['id']}", headers=director.headers)
    assert r.json()["times_per_week_caregiver"] == 1


async def test_batch_limit_and_envelope(client, world, settings):
    director = world["director"]
    settings.sync_push_max_operations = 3
    ops = [op("create_child", new_child()) for _ in range(4)]
    r = await client.post(PUSH, json={"operations": ops}, headers=director.headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_many_operations" and r.json()["max_operations"] == 3
    r = await client.post(PUSH, json={"operations": ops[:3]}, headers=director.headers)
    assert r.status_code == 200 and statuses(r.json()) == ["created"] * 3
    # The envelope is the protocol: a malformed one is refused as a whole.
    r = await client.post(
        PUSH,
        json={"operations": [{"op": "delete_child", "client_id": str(uuid.uuid4())}]},
        headers=director.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("operations.0.op")
    answer = await push(client, director)
    assert answer == {"results": []}


async def test_duplicate_client_ids_in_one_batch(client, world, session, settings):
    child = await registered_child(session, settings)
    first = op("create_visit", visit_body(child.id))
    second = {**op("create_visit", visit_body(child.id)), "client_id": first["client_id"]}
    r = await client.post(
        PUSH, json={"operations": [first, second]}, headers=world["director"].headers
    )
    assert statuses(r.json()) == ["created", "rejected"]
    assert r.json()["results"][1]["problem"]["code"] == "duplicate_client_id"


async def test_only_staff_push(client, world, session, settings):
    child = await registered_child(session, settings)
    body = {"operations": [op("create_visit", visit_body(child.id))]}
    for name in ("reporter", "auditor", "admin"):
        r = await client.post(PUSH, json=body, headers=world[name].headers)
        assert r.status_code == 403, (name, r.text)
    r = await client.post(PUSH, json=body)
    assert r.status_code == 401
    for name in ("director", "supervisor", "officer"):
        r = await client.post(
            PUSH,
            json={"operations": [op("create_visit", visit_body(child.id))]},
            headers=world[name].headers,
        )
        assert statuses(r.json()) == ["created"], name
    assert await count(session, Visit) == 3


async def test_a_push_with_an_idempotency_key_is_replayed(client, world, session, settings):
    child = await registered_child(session, settings)
    ops = [
        op("create_visit", visit_body(child.id)),
        op("update_child", {"school": "x"}, id=child.id, base_version=child.version),
    ]
    key = str(uuid.uuid4())
    first = await push(client, world["director"], *ops, key=key)
    headers = {**world["director"].headers, "Idempotency-Key": key}
    r = await client.post(PUSH, json={"operations": ops}, headers=headers)
    assert r.headers["Idempotent-Replayed"] == "true" and r.json() == first
    assert statuses(first) == ["created", "merged"]
    assert await count(session, SyncPushOp) == 1


async def test_audit_and_outbox_rows_of_applied_items_only(
    client, world, session, settings, monkeypatch
):
    """The batch writes its audit and outbox rows at its end: those of every applied item,
    none of an item rolled back after it had recorded some."""
    child = await registered_child(session, settings)
    original = visit_service.outbox.emit
    calls = {"n": 0}

    async def failing_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # after that visit's audit row was recorded
            raise Conflict("the outbox refused", code="test_failure")
        return await original(*args, **kwargs)

    monkeypatch.setattr(visit_service.outbox, "emit", failing_second)
    # The second is the latest: it moves the child's last visit before it fails, so the child
    # (locked and loaded once for the batch) is rolled back with it and read again.
    at = [utcnow() - timedelta(hours=h) for h in (3, 1, 2)]
    ops = [op("create_visit", visit_body(child.id, t)) for t in at]
    answer = await push(client, world["director"], *ops)
    assert statuses(answer) == ["created", "rejected", "created"]
    now = await _child_at(client, world["director"], child.id)
    assert datetime.fromisoformat(now["last_visit_at"]) == at[2]
    assert now["version"] == child.version + 2
    assert answer["results"][1]["problem"]["code"] == "test_failure"
    created = {uuid.UUID(ops[0]["id"]), uuid.UUID(ops[2]["id"])}
    audited = (
        await session.execute(
            select(AuditEvent.resource_id).where(
                AuditEvent.resource_type == "visit", AuditEvent.action == "create"
            )
        )
    ).scalars()
    assert set(audited) == created
    events = (
        await session.execute(
            select(OutboxEvent.resource_id).where(OutboxEvent.event_type == "visit.created")
        )
    ).scalars()
    assert set(events) == created
    assert await count(session, Visit) == 2


async def test_an_item_failing_on_a_bug_is_a_500_item_and_never_replayed(
    client, world, session, settings, monkeypatch
):
    child = await registered_child(session, settings)
    original = visit_service.create_visit

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(visit_service, "create_visit", broken)
    ops = [op("create_visit", visit_body(child.id)), op("create_child", new_child())]
    key = str(uuid.uuid4())
    answer = await push(client, world["director"], *ops, key=key)
    assert statuses(answer) == ["rejected", "created"]
    problem = answer["results"][0]["problem"]
    assert (problem["status"], problem["code"]) == (500, "internal_error")
    # The answer holds a server error: not stored, so the retry applies the item this time.
    monkeypatch.setattr(visit_service, "create_visit", original)
    again = await push(client, world["director"], *ops, key=key)
    assert statuses(again) == ["created", "unchanged"]


async def test_pushed_visits_follow_the_countys_own_intervals(client, world, session, settings):
    """The batch reads each county's intervals once; they are the county's own ones."""
    r = await client.put(
        "/api/v1/visit-policy",
        params={"county": VILLAGE[:6]},
        json={"blue_days": 10, "yellow_days": 5, "orange_days": 3, "red_days": 1},
        headers=world["officer"].headers,
    )
    assert r.status_code == 200, r.text
    first = await registered_child(session, settings)
    second = await registered_child(session, settings)
    at = utcnow() - timedelta(hours=2)
    answer = await push(
        client,
        world["director"],
        op("create_visit", visit_body(first.id, at)),
        op("create_visit", visit_body(second.id, at)),
    )
    assert statuses(answer) == ["created", "created"]
    for child in (first, second):
        now = await _child_at(client, world["director"], child.id)
        due = datetime.fromisoformat(now["next_visit_due"])
        assert abs(due - (at + timedelta(days=10))) < timedelta(seconds=1)


async def test_a_child_registered_offline_can_be_visited_right_away(client, world, session):
    """Registered on the phone at 10:00, visited at 10:30, pushed at 18:00: the child's
    registration time is the phone's, so the visit is after it and both are created."""
    director = world["director"]
    registered, visited = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    child = op("create_child", new_child(registered_at=registered.isoformat()))
    visit = op("create_visit", visit_body(uuid.UUID(child["id"]), visited))
    answer = await push(client, director, child, visit)
    assert statuses(answer) == ["created", "created"], answer
    record = answer["results"][0]["record"]
    assert datetime.fromisoformat(record["created_at"]) == registered
    now = await _child_at(client, director, child["id"])
    assert datetime.fromisoformat(now["created_at"]) == registered
    assert datetime.fromisoformat(now["last_visit_at"]) == visited
    interval = DEFAULT_INTERVAL_DAYS[now["risk_level"]]
    assert datetime.fromisoformat(now["next_visit_due"]) == visited + timedelta(days=interval)
    # The audit row keeps the server's own time of the registration.
    at = (
        await session.execute(
            select(AuditEvent.at).where(
                AuditEvent.action == "child.create", AuditEvent.resource_id == record["id"]
            )
        )
    ).scalar_one()
    assert at is not None and at > utcnow() - timedelta(minutes=5)

    # Sent again (the answer was lost): the same records, unchanged.
    again = await push(client, director, child, visit)
    assert statuses(again) == ["unchanged", "unchanged"]
    assert await count(session, Child) == 1 and await count(session, Visit) == 1


async def test_without_registered_at_a_visit_before_the_push_is_still_refused(client, world):
    """The check that a visit is not dated before the registration holds: with no
    registered_at the child is registered at the push, after the visit."""
    child = op("create_child", new_child())
    visit = op("create_visit", visit_body(uuid.UUID(child["id"]), utcnow() - timedelta(hours=1)))
    answer = await push(client, world["director"], child, visit)
    assert statuses(answer) == ["created", "rejected"]
    problem = answer["results"][1]["problem"]
    assert (problem["status"], problem["code"]) == (422, "visited_before_registration")
    assert problem["errors"][0]["field"] == "visited_at"


async def test_registered_at_out_of_bounds_is_rejected(client, world, session):
    now = utcnow()
    ops = [
        op("create_child", new_child(registered_at=(now + timedelta(hours=1)).isoformat())),
        op("create_child", new_child(registered_at=(now - timedelta(days=31)).isoformat())),
        op("create_child", new_child(registered_at="2026-01-05T10:00:00")),
    ]
    answer = await push(client, world["director"], *ops)
    assert statuses(answer) == ["rejected"] * 3
    problems = [x["problem"] for x in answer["results"]]
    assert [p["code"] for p in problems] == [
        "registered_at_in_future",
        "registered_at_too_old",
        "validation_error",
    ]
    assert [p["status"] for p in problems] == [422] * 3
    assert [p["errors"][0]["field"] for p in problems] == [
        "registered_at",
        "registered_at",
        "data.registered_at",
    ]
    assert await count(session, Child) == 0
