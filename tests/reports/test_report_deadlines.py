"""Time limits: deadlines from the county policy, overdue exactly after (not at) a deadline,
the overdue filter in SQL on the partial indexes, and `report.overdue` announced once per
deadline by the background job."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql

from childprotect_api.main import create_app
from childprotect_api.models.report import Report, ReportEvent, ReportPolicy
from childprotect_api.services.periodic import PeriodicJob, run_periodic
from childprotect_api.services.reports.deadlines import (
    accept_overdue,
    emit_overdue_reports,
    is_overdue,
    overdue_clause,
    referral_overdue,
)
from tests.conftest import COUNTY
from tests.reports.report_support import REPORTS, file, fresh, outbox, step

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def test_overdue_only_after_the_deadline():
    report = Report(
        status="submitted",
        accept_deadline=T0 + timedelta(hours=24),
        first_referral_deadline=T0 + timedelta(hours=72),
    )
    assert not accept_overdue(report, T0 + timedelta(hours=24))
    assert accept_overdue(report, T0 + timedelta(hours=24) + TICK)
    report.status = "accepted"
    assert not accept_overdue(report, T0 + timedelta(hours=100))
    assert not referral_overdue(report, T0 + timedelta(hours=72))
    assert referral_overdue(report, T0 + timedelta(hours=72) + TICK)
    for status in ("referred", "closed"):
        report.status = status
        assert not is_overdue(report, T0 + timedelta(days=30))


async def test_deadlines_follow_the_county_policy(client, world, session):
    session.add(
        ReportPolicy(county_code=COUNTY, accept_within_hours=12, first_referral_within_hours=48)
    )
    await session.commit()
    rid = (await file(client, world))["id"]
    report = (await client.get(f"{REPORTS}/{rid}", headers=world["officer"].headers)).json()
    submitted = datetime.fromisoformat(report["submitted_at"])
    assert datetime.fromisoformat(report["accept_deadline"]) == submitted + timedelta(hours=12)
    assert datetime.fromisoformat(report["first_referral_deadline"]) == submitted + timedelta(
        hours=48
    )


async def test_overdue_is_announced_once_per_deadline(client, world, session):
    rid = (await file(client, world))["id"]
    report = await fresh(session, Report, uuid.UUID(rid))
    accept_by, refer_by = report.accept_deadline, report.first_referral_deadline
    assert accept_by - report.created_at == timedelta(hours=24)

    assert await emit_overdue_reports(session, accept_by) == 0  # exactly 24 h: in time
    assert await emit_overdue_reports(session, accept_by + TICK) == 1
    await session.commit()
    assert await emit_overdue_reports(session, accept_by + timedelta(hours=1)) == 0
    assert await emit_overdue_reports(session, refer_by) == 0  # exactly 72 h: in time
    assert await emit_overdue_reports(session, refer_by + TICK) == 1
    await session.commit()
    assert await emit_overdue_reports(session, refer_by + timedelta(days=9)) == 0
    events = await outbox(session, "report.overdue")
    assert [e.payload["deadline"] for e in events] == ["accept", "first_referral"]
    assert events[0].payload == {
        "report_id": rid,
        "situation": "multiple_injuries_or_abuse",
        "status": "submitted",
        "deadline": "accept",
        "deadline_at": accept_by.isoformat(),
    }
    kinds = (
        await session.execute(
            select(ReportEvent.kind, ReportEvent.actor_role).where(
                ReportEvent.report_id == report.id
            )
        )
    ).all()
    assert kinds.count(("overdue", "system")) == 2


async def test_an_accepted_report_is_not_late_for_acceptance(client, world, session):
    rid = (await file(client, world))["id"]
    report = await fresh(session, Report, uuid.UUID(rid))
    await step(client, world, rid, "accept")
    assert await emit_overdue_reports(session, report.accept_deadline + TICK) == 0


async def _make_late(session, rid: str, hours: int) -> None:
    ago = datetime.now(UTC) - timedelta(hours=hours)
    await session.execute(
        update(Report)
        .where(Report.id == uuid.UUID(rid))
        .values(
            created_at=ago,
            accept_deadline=ago + timedelta(hours=24),
            first_referral_deadline=ago + timedelta(hours=72),
        )
    )
    await session.commit()


async def test_overdue_list_and_summary(client, world, session):
    late = (await file(client, world))["id"]
    fine = (await file(client, world))["id"]
    await _make_late(session, late, 25)
    h = world["officer"].headers
    r = await client.get(REPORTS, params={"overdue": "true"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [late]
    assert r.json()["items"][0]["overdue"] is True
    r = await client.get(REPORTS, params={"overdue": "false"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [fine]
    summary = (await client.get(f"{REPORTS}/summary", headers=h)).json()
    assert (summary["overdue"], summary["overdue_accept"], summary["overdue_first_referral"]) == (
        1,
        1,
        0,
    )
    # Accepted late: no longer waiting for acceptance, and within the 72 hours to refer.
    accepted = await step(client, world, late, "accept")
    assert accepted["overdue"] is False
    await _make_late(session, late, 73)
    r = await client.get(REPORTS, params={"overdue": "true"}, headers=h)
    assert [x["id"] for x in r.json()["items"]] == [late]
    summary = (await client.get(f"{REPORTS}/summary", headers=h)).json()
    assert (summary["overdue_accept"], summary["overdue_first_referral"]) == (0, 1)


async def test_overdue_filter_uses_the_partial_indexes(session):
    # A county where most reports are closed, as it will be: the open ones are few.
    await session.execute(
        text(
            """
            INSERT INTO reports (id, county_code, area_code, reported_area_code, situation,
                description, occurred_at, discovered_at, reporter_sector, police_notified,
                urgent, status, accept_deadline, first_referral_deadline, closed_at, outcome,
                request_hash, version)
            SELECT gen_random_uuid(), '620722', '620722100001', '620722100001', 'other',
                'x', now(), now(), 'school', false, false,
                CASE WHEN i % 50 = 0 THEN 'submitted' ELSE 'closed' END,
                now() - i * interval '1 hour', now() - i * interval '1 hour',
                CASE WHEN i % 50 = 0 THEN NULL ELSE now() END,
                CASE WHEN i % 50 = 0 THEN NULL ELSE 'other' END, 'h', 1
            FROM generate_series(1, 5000) AS i
            """
        )
    )
    await session.execute(text("ANALYZE reports"))
    stmt = select(Report.id).where(Report.county_code == COUNTY, overdue_clause(T0))
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    plan = "\n".join(row[0] for row in await session.execute(text("EXPLAIN " + sql)))
    assert "ix_reports_accept_due" in plan and "ix_reports_referral_due" in plan, plan


async def _wait_for_overdue(session) -> list:
    for _ in range(100):
        if events := await outbox(session, "report.overdue"):
            return events
        await asyncio.sleep(0.05)
    raise AssertionError("no report.overdue event")


async def test_the_background_job_announces_overdue_reports(client, world, session, db):
    rid = (await file(client, world))["id"]
    await _make_late(session, rid, 25)
    job = asyncio.create_task(
        run_periodic(db, PeriodicJob("report_deadlines", 0.05, emit_overdue_reports))
    )
    try:
        (event,) = await _wait_for_overdue(session)
        assert event.payload["report_id"] == rid
    finally:
        job.cancel()


async def test_the_app_runs_the_job_when_enabled(client, world, session, db, settings):
    rid = (await file(client, world))["id"]
    await _make_late(session, rid, 25)
    app = create_app(settings.model_copy(update={"jobs_enabled": True}), db)
    async with app.router.lifespan_context(app):
        (event,) = await _wait_for_overdue(session)
    assert event.payload["report_id"] == rid
