"""Risk duties (DESIGN.md "Care work"): opened and met in the transaction of the change, and
the alerts they bring to the county officers (and nobody outside the county)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from childprotect_api.models.care import ChildDuty
from childprotect_api.services.duties import duties
from tests.care.care_support import (
    CASES,
    CHILDREN,
    PAIRINGS,
    alerts_for,
    case_body,
    open_duties,
    pairing_body,
    set_risk,
)
from tests.conftest import VILLAGE
from tests.factories import make_child
from tests.reports.report_support import file, step


async def test_orange_opens_needs_pairing_and_a_pairing_meets_it(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    assert await open_duties(session, child.id) == set()
    await set_risk(client, world, child.id, "orange", "director")
    assert await open_duties(session, child.id) == {"needs_pairing"}

    r = await client.get(f"{CHILDREN}/{child.id}/duties", headers=world["director"].headers)
    assert r.status_code == 200
    (duty,) = r.json()
    assert duty["kind"] == "needs_pairing" and duty["overdue"] is False
    opened = datetime.fromisoformat(duty["opened_at"])
    assert datetime.fromisoformat(duty["due_at"]) - opened == timedelta(days=7)

    r = await client.post(PAIRINGS, json=pairing_body(child.id), headers=world["director"].headers)
    assert r.status_code == 201, r.text
    assert await open_duties(session, child.id) == set()

    # Ending the only pairing of an orange child opens the duty again.
    r = await client.post(
        f"{PAIRINGS}/{r.json()['id']}/end",
        json={"end_reason": "helper_unavailable"},
        headers=world["director"].headers,
    )
    assert r.status_code == 200, r.text
    assert await open_duties(session, child.id) == {"needs_pairing"}
    # No alert for orange itself.
    assert await alerts_for(session) == []


async def test_red_opens_needs_case_and_alerts_the_county_officers_only(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE, risk_level="orange")
    await set_risk(client, world, child.id, "red", "supervisor")
    assert await open_duties(session, child.id) == {"needs_pairing", "needs_case"}
    red = await alerts_for(session, "child_red")
    assert [a.recipient_id for a in red] == [world["officer"].id]
    assert red[0].child_id == child.id and red[0].area_code == VILLAGE

    # The officer sees it in the inbox; an officer of another county and a supervisor do not.
    r = await client.get("/api/v1/alerts", headers=world["officer"].headers)
    assert [a["kind"] for a in r.json()["items"]] == ["child_red"]
    r = await client.get("/api/v1/alerts", headers=world["officer_other_county"].headers)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get("/api/v1/alerts", headers=world["supervisor"].headers)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get("/api/v1/alerts", headers=world["director"].headers)
    assert r.status_code == 403

    # Staying red (same level again) alerts nobody again.
    await set_risk(client, world, child.id, "red", "supervisor")
    assert len(await alerts_for(session, "child_red")) == 1

    # Acknowledge: the other county's officer cannot see it (404); the officer can.
    alert_id = red[0].id
    r = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=world["officer_other_county"].headers
    )
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", headers=world["officer"].headers
    )
    assert r.status_code == 200 and r.json()["acknowledged_by"] == str(world["officer"].id)
    r = await client.get(
        "/api/v1/alerts", params={"acknowledged": "false"}, headers=world["officer"].headers
    )
    assert r.json()["items"] == []

    # An open case meets needs_case.
    r = await client.post(CASES, json=case_body(child.id), headers=world["supervisor"].headers)
    assert r.status_code == 201, r.text
    assert await open_duties(session, child.id) == {"needs_pairing"}


async def test_an_accepted_report_about_the_child_meets_needs_case(
    client, world, session, settings
):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    filed = await file(
        client, world, "director", child_id=str(child.id), area_code=None, child_description=None
    )
    # The report raised the child to red: the duty is open and the officer alerted.
    assert "needs_case" in await open_duties(session, child.id)
    assert len(await alerts_for(session, "child_red")) == 1
    await step(client, world, filed["id"], "accept")
    assert "needs_case" not in await open_duties(session, child.id)


async def _make_overdue(session, child_id) -> None:
    await session.execute(
        update(ChildDuty)
        .where(ChildDuty.child_id == child_id)
        .values(due_at=datetime.now(UTC) - timedelta(minutes=1))
    )
    await session.commit()


async def test_overdue_duties_alert_once_not_every_run(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    await set_risk(client, world, child.id, "orange", "director")
    await _make_overdue(session, child.id)

    assert await duties.alert_overdue(session, datetime.now(UTC)) == 1
    await session.commit()
    assert await duties.alert_overdue(session, datetime.now(UTC)) == 0
    await session.commit()
    overdue = await alerts_for(session, "duty_overdue")
    # Pairing: the county officers and the township supervisor, nobody else.
    assert sorted(a.recipient_id for a in overdue) == sorted(
        [world["officer"].id, world["supervisor"].id]
    )
    assert {a.duty_kind for a in overdue} == {"needs_pairing"}

    r = await client.get(f"{CHILDREN}/{child.id}/duties", headers=world["director"].headers)
    assert r.json()[0]["overdue"] is True


async def test_a_due_case_review_opens_a_duty_and_alerts(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="red")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    r = await client.post(
        CASES, json=case_body(child.id, review_on=yesterday), headers=world["officer"].headers
    )
    assert r.status_code == 201, r.text
    assert "case_review_due" in await open_duties(session, child.id)
    assert await duties.alert_overdue(session, datetime.now(UTC)) >= 1
    await session.commit()
    assert len(await alerts_for(session, "case_review_due")) == 1

    # A review (a new date) meets it.
    case = r.json()
    later = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    r = await client.patch(
        f"{CASES}/{case['id']}",
        json={"review_on": later},
        headers={**world["officer"].headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert "case_review_due" not in await open_duties(session, child.id)


async def test_closing_the_child_meets_its_duties(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    await set_risk(client, world, child.id, "orange", "director")
    r = await client.post(
        f"{CHILDREN}/{child.id}/close",
        json={"reason": "moved_away"},
        headers=world["director"].headers,
    )
    assert r.status_code == 200, r.text
    assert await open_duties(session, child.id) == set()


async def test_an_overdue_report_alerts_the_county_officers_once(client, world, session):
    import uuid

    from childprotect_api.models.report import Report
    from childprotect_api.services.reports.deadlines import emit_overdue_reports

    filed = await file(client, world)
    ago = datetime.now(UTC) - timedelta(hours=30)
    await session.execute(
        update(Report)
        .where(Report.id == uuid.UUID(filed["id"]))
        .values(created_at=ago, accept_deadline=ago + timedelta(hours=24))
    )
    await session.commit()
    assert await emit_overdue_reports(session, datetime.now(UTC)) == 1
    await session.commit()
    assert await emit_overdue_reports(session, datetime.now(UTC)) == 0
    await session.commit()
    (alert,) = await alerts_for(session, "report_overdue")
    assert alert.recipient_id == world["officer"].id and str(alert.source_id) == filed["id"]


async def test_the_periodic_job_in_two_processes_alerts_once(world, session, settings, db):
    """Two runs at once (two sessions, as two API processes): SKIP LOCKED shares the rows."""
    import asyncio

    from childprotect_api.services.periodic import periodic_jobs, run_job_once

    child = await make_child(session, settings, VILLAGE, risk_level="orange")
    await duties.recompute(session, child)
    await session.commit()
    await _make_overdue(session, child.id)
    (job,) = [j for j in periodic_jobs(settings) if j.name == "duty_alerts"]
    done = await asyncio.gather(run_job_once(db, job), run_job_once(db, job))
    assert sum(done) == 1
    assert await run_job_once(db, job) == 0
    assert len(await alerts_for(session, "duty_overdue")) == 2  # officer + supervisor
