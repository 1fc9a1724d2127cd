"""Handling a report: accept, refer (with status updates), notes, link a child, close; the
refused steps; who may handle; the immutable timeline."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from childprotect_api.models.child import Child, ChildRiskChange
from childprotect_api.models.report import ReportReferral
from childprotect_api.services.children import id_numbers
from tests.conftest import VILLAGE, VILLAGE_OTHER_COUNTY
from tests.factories import make_child
from tests.reports.report_support import (
    REPORTS,
    accept_and_refer,
    count,
    file,
    fresh,
    new_id,
    outbox,
    step,
)


async def test_whole_workflow_and_timeline(client, world, session):
    rid = (await file(client, world))["id"]
    h = world["officer"].headers
    accepted = await step(client, world, rid, "accept")
    assert accepted["status"] == "accepted" and accepted["accepted_at"]
    police = await step(
        client,
        world,
        rid,
        "referrals",
        {"target": "police", "contact": "洪水派出所 0936-1234567", "case_number": "A-1"},
        status=201,
    )
    assert police["status"] == "sent" and police["target"] == "police"
    await step(client, world, rid, "referrals", {"target": "education"}, status=201)
    for status in ("acknowledged", "in_progress", "completed"):
        updated = await step(
            client,
            world,
            rid,
            f"referrals/{police['id']}/status",
            {"status": status, "note": f"进展：{status}"},
        )
        assert updated["status"] == status
    note = await step(client, world, rid, "notes", {"text": "已联系学校"}, status=201)
    assert note["kind"] == "note" and note["note"] == "已联系学校"

    report = (await client.get(f"{REPORTS}/{rid}", headers=h)).json()
    assert report["status"] == "referred" and report["first_referral_at"]
    assert [r["target"] for r in report["referrals"]] == ["police", "education"]

    closed = await step(
        client,
        world,
        rid,
        "close",
        {"outcome": "transferred_to_police_case", "message": "已移交公安机关立案，感谢您的报告。"},
    )
    assert closed["status"] == "closed" and closed["outcome"] == "transferred_to_police_case"

    timeline = (await client.get(f"{REPORTS}/{rid}/timeline", headers=h)).json()["items"]
    assert [e["kind"] for e in timeline] == [
        "submitted",
        "accepted",
        "referred",
        "referred",
        "referral_status",
        "referral_status",
        "referral_status",
        "note",
        "closed",
    ]
    assert timeline[0]["actor_id"] == str(world["reporter"].id)
    assert timeline[1]["actor_id"] == str(world["officer"].id)
    assert timeline[4]["data"] == {"from": "sent", "to": "acknowledged"}
    assert timeline[4]["note"] == "进展：acknowledged"
    assert timeline[-1]["data"] == {"outcome": "transferred_to_police_case"}

    mine = (await client.get(f"{REPORTS}/mine", headers=world["reporter"].headers)).json()
    assert mine["items"][0]["status"] == "closed"
    assert mine["items"][0]["outcome_message"] == "已移交公安机关立案，感谢您的报告。"
    assert "referrals" not in mine["items"][0] and "reporter" not in mine["items"][0]
    (closed_event,) = await outbox(session, "report.closed")
    assert closed_event.payload["outcome"] == "transferred_to_police_case"


async def test_timeline_pages(client, world):
    rid = (await file(client, world))["id"]
    await step(client, world, rid, "accept")
    h = world["officer"].headers
    page = (await client.get(f"{REPORTS}/{rid}/timeline?limit=1", headers=h)).json()
    assert [e["kind"] for e in page["items"]] == ["submitted"]
    page = (
        await client.get(
            f"{REPORTS}/{rid}/timeline",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=h,
        )
    ).json()
    assert [e["kind"] for e in page["items"]] == ["accepted"]
    r = await client.get(f"{REPORTS}/{rid}/timeline", params={"cursor": "xx"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"


async def test_refused_transitions_name_the_state(client, world):
    rid = (await file(client, world))["id"]

    async def refused(path, json=None, state="submitted"):
        problem = await step(client, world, rid, path, json, status=409)
        assert problem["code"] == "invalid_transition"
        assert problem["current_status"] == state and state in problem["detail"]

    close = {"outcome": "unsubstantiated", "message": "经核实不属实"}
    await refused("referrals", {"target": "police"})
    await refused("close", close)
    await step(client, world, rid, "accept")
    await refused("accept", state="accepted")
    await step(client, world, rid, "close", close)  # accepted -> closed: nothing to refer
    for path, json in (
        ("accept", None),
        ("referrals", {"target": "police"}),
        ("close", close),
        ("link-child", {"child_id": new_id()}),
    ):
        await refused(path, json, state="closed")
    # Notes stay possible on a closed report.
    await step(client, world, rid, "notes", {"text": "回访：孩子情况稳定"}, status=201)


async def test_referral_status_transitions(client, world):
    rid = (await file(client, world))["id"]
    ref = await accept_and_refer(client, world, rid)
    path = f"referrals/{ref['id']}/status"
    await step(client, world, rid, path, {"status": "declined"})
    problem = await step(client, world, rid, path, {"status": "in_progress"}, status=409)
    assert problem["code"] == "invalid_transition" and problem["current_status"] == "declined"
    r = await step(client, world, rid, path, {"status": "sent"}, status=422)
    assert r["errors"][0]["field"] == "status"
    await step(
        client, world, rid, f"referrals/{new_id()}/status", {"status": "completed"}, status=404
    )
    other = (await file(client, world))["id"]
    await step(client, world, other, path, {"status": "completed"}, status=404)


async def test_bad_workflow_input(client, world):
    rid = (await file(client, world))["id"]
    await step(client, world, rid, "accept")
    for json, field in (
        ({"target": "army"}, "target"),
        ({"target": "other"}, "contact"),
        ({"target": "police", "case_number": "x" * 65}, "case_number"),
    ):
        problem = await step(client, world, rid, "referrals", json, status=422)
        assert field in [e["field"] for e in problem["errors"]]
    problem = await step(
        client, world, rid, "close", {"outcome": "solved", "message": "x"}, status=422
    )
    assert problem["errors"][0]["field"] == "outcome"
    problem = await step(client, world, rid, "close", {"outcome": "other"}, status=422)
    assert problem["errors"][0]["field"] == "message"
    problem = await step(client, world, rid, "notes", {"text": ""}, status=422)
    assert problem["errors"][0]["field"] == "text"
    r = await client.post(f"{REPORTS}/not-a-uuid/accept", headers=world["officer"].headers)
    assert r.status_code == 422


async def test_if_match(client, world):
    rid = (await file(client, world))["id"]
    h = world["officer"].headers
    r = await client.post(f"{REPORTS}/{rid}/accept", headers={**h, "If-Match": '"7"'})
    assert r.status_code == 412 and r.json()["current_version"] == 1
    r = await client.post(f"{REPORTS}/{rid}/accept", headers={**h, "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'


async def test_referral_and_note_retries(client, world, session):
    rid = (await file(client, world))["id"]
    await step(client, world, rid, "accept")
    referral = {"id": new_id(), "target": "civil_affairs", "contact": "县民政局"}
    first = await step(client, world, rid, "referrals", referral, status=201)
    again = await step(client, world, rid, "referrals", referral, status=200)
    assert again == first
    problem = await step(
        client, world, rid, "referrals", dict(referral, target="court"), status=409
    )
    assert problem["code"] == "id_taken"
    note = {"id": new_id(), "text": "电话回访"}
    first = await step(client, world, rid, "notes", note, status=201)
    assert await step(client, world, rid, "notes", note, status=200) == first
    await step(client, world, rid, "notes", dict(note, text="别的"), status=409)
    rows = (await session.execute(select(ReportReferral))).scalars().all()
    assert len(rows) == 1


async def test_link_child_found_later(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="orange")
    rid = (await file(client, world))["id"]
    ref = await accept_and_refer(client, world, rid)
    linked = await step(client, world, rid, "link-child", {"child_id": str(child.id)})
    assert linked["child_id"] == str(child.id) and linked["area_code"] == VILLAGE
    assert linked["reported_area_code"] != VILLAGE
    assert (await fresh(session, Child, child.id)).risk_level == "red"
    change = (
        await session.execute(select(ChildRiskChange).where(ChildRiskChange.child_id == child.id))
    ).scalar_one()
    assert (change.old_level, change.source, str(change.source_id)) == ("orange", "report", rid)
    (event,) = await outbox(session, "child.risk_raised")
    assert event.payload["report_id"] == rid
    assert (await fresh(session, ReportReferral, ref["id"])).area_code == VILLAGE
    # Linking the same child again changes nothing; another child is refused.
    again = await step(client, world, rid, "link-child", {"child_id": str(child.id)})
    assert again["version"] == linked["version"]
    other = await make_child(session, settings, VILLAGE)
    problem = await step(client, world, rid, "link-child", {"child_id": str(other.id)}, status=409)
    assert problem["code"] == "child_already_linked"
    timeline = (
        await client.get(f"{REPORTS}/{rid}/timeline", headers=world["officer"].headers)
    ).json()["items"]
    assert timeline[-1]["kind"] == "child_linked"
    assert timeline[-1]["data"] == {
        "child_id": str(child.id),
        "at_intake": False,
        "risk_raised": True,
    }


async def test_link_child_out_of_scope_is_404(client, world, session, settings):
    elsewhere = await make_child(session, settings, VILLAGE_OTHER_COUNTY)
    rid = (await file(client, world))["id"]
    for child_id in (str(elsewhere.id), new_id()):
        await step(client, world, rid, "link-child", {"child_id": child_id}, status=404)
    assert (await fresh(session, Child, elsewhere.id)).risk_level == "blue"


def registration(**kw):
    data = {
        "area_code": VILLAGE,
        "name": "李小红",
        "gender": "female",
        "birth_date": "2016-05-20",
        "id_number": id_numbers.make(VILLAGE[:6], date(2016, 5, 20), 88, "female"),
        "categories": ["left_behind"],
    }
    data.update(kw)
    return data


async def test_register_child_from_report(client, world, session):
    rid = (await file(client, world))["id"]
    await accept_and_refer(client, world, rid)
    linked = await step(client, world, rid, "link-child", {"register": registration()})
    child = (
        await session.execute(select(Child).where(Child.id == uuid.UUID(linked["child_id"])))
    ).scalar_one()
    assert (child.name, child.area_code, child.risk_level) == ("李小红", VILLAGE, "red")
    assert linked["area_code"] == VILLAGE
    changes = (
        (
            await session.execute(
                select(ChildRiskChange)
                .where(ChildRiskChange.child_id == child.id)
                .order_by(ChildRiskChange.id)
            )
        )
        .scalars()
        .all()
    )
    assert [(c.old_level, c.new_level, c.source) for c in changes][-1] == (
        "blue",
        "red",
        "report",
    )
    assert str(changes[-1].source_id) == rid
    (event,) = await outbox(session, "child.risk_raised")
    assert event.payload["report_id"] == rid
    timeline = (
        await client.get(f"{REPORTS}/{rid}/timeline", headers=world["officer"].headers)
    ).json()["items"]
    assert timeline[-1]["kind"] == "child_linked"
    assert timeline[-1]["data"]["child_id"] == str(child.id)


async def test_register_duplicate_links_nothing(client, world, session):
    first = (await file(client, world))["id"]
    await step(client, world, first, "link-child", {"register": registration()})
    rid = (await file(client, world))["id"]
    h = world["officer"].headers
    before = (await client.get(f"{REPORTS}/{rid}", headers=h)).json()
    problem = await step(
        client, world, rid, "link-child", {"register": registration(name="李红")}, status=409
    )
    assert problem["code"] == "duplicate_child"
    after = (await client.get(f"{REPORTS}/{rid}", headers=h)).json()
    assert after["child_id"] is None and after["version"] == before["version"]
    assert after["area_code"] == before["area_code"]
    assert await count(session, Child) == 1


async def test_register_or_child_id_exactly_one(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    rid = (await file(client, world))["id"]
    both = {"child_id": str(child.id), "register": registration()}
    for json, field in ((both, "register"), ({}, "child_id")):
        problem = await step(client, world, rid, "link-child", json, status=422)
        assert field in str(problem)
    # A bad registration is named by the registry's own validation.
    problem = await step(
        client, world, rid, "link-child", {"register": registration(name="")}, status=422
    )
    assert "name" in str(problem)
    assert await count(session, Child) == 1


async def test_register_outside_county_is_404_and_roles(client, world, session):
    rid = (await file(client, world))["id"]
    elsewhere = registration(
        area_code=VILLAGE_OTHER_COUNTY,
        id_number=id_numbers.make(VILLAGE_OTHER_COUNTY[:6], date(2016, 5, 20), 89, "female"),
    )
    await step(client, world, rid, "link-child", {"register": elsewhere}, status=404)
    for actor in ("director", "supervisor", "reporter", "auditor"):
        await step(
            client, world, rid, "link-child", {"register": registration()}, actor=actor, status=403
        )
    assert await count(session, Child) == 0


COMMANDS = [
    ("accept", None),
    ("referrals", {"target": "police"}),
    ("notes", {"text": "x"}),
    ("link-child", {"child_id": "00000000-0000-0000-0000-000000000001"}),
    ("close", {"outcome": "other", "message": "x"}),
]


@pytest.mark.parametrize("actor", ["director", "supervisor", "reporter", "auditor", "admin"])
async def test_only_county_officers_handle(client, world, actor):
    rid = (await file(client, world))["id"]
    for path, json in COMMANDS:
        await step(client, world, rid, path, json, actor=actor, status=403)
    await step(
        client,
        world,
        rid,
        f"referrals/{new_id()}/status",
        {"status": "completed"},
        actor=actor,
        status=403,
    )


async def test_officer_of_another_county_gets_404(client, world):
    rid = (await file(client, world))["id"]
    for path, json in COMMANDS:
        await step(client, world, rid, path, json, actor="officer_other_county", status=404)
    r = await client.get(f"{REPORTS}/{rid}/timeline", headers=world["officer_other_county"].headers)
    assert r.status_code == 404


async def test_timeline_is_immutable(client, world, db):
    rid = (await file(client, world))["id"]
    await step(client, world, rid, "accept")
    async with db.engine.connect() as conn:
        for stmt in (
            "UPDATE report_events SET kind = 'closed'",
            # A transfer may move a row's village (0017secin), but nothing else with it.
            "UPDATE report_events SET kind = 'closed', area_code = '620722100002'",
            "DELETE FROM report_events",
            "TRUNCATE report_events CASCADE",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with conn.begin_nested():
                    await conn.execute(text(stmt))
        assert (await conn.execute(text("SELECT count(*) FROM report_events"))).scalar() == 2
