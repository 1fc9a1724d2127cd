"""Jobs whose process died (SIGKILL, OOM) do not stay `running` forever: a running job renews a
lease, and any API process marks failed the unfinished jobs whose lease ran out; a job reaped
meanwhile stops itself and keeps its counters equal to what it committed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from childprotect_api.core import jobs as job_service
from childprotect_api.main import create_app
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.job import Job
from childprotect_api.services.children import bulk_import as child_import
from tests.children.test_child_import import big_file, upload
from tests.conftest import COUNTY


def _job(world, status: str, age: timedelta) -> Job:
    officer = world["officer"]
    at = utcnow() - age
    return Job(
        kind="children_import",
        actor_type="user",
        actor_id=officer.id,
        actor_role="county_officer",
        area_code=COUNTY,
        status=status,
        total=10,
        created_at=at,
        updated_at=at,
        finished_at=at if status in ("done", "failed") else None,
    )


async def _status(session, job_id: uuid.UUID) -> Job:
    session.expire_all()
    job = (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()
    await session.commit()
    return job


async def test_unfinished_jobs_past_their_lease_are_marked_failed(session, world):
    jobs = {
        "dead_running": _job(world, "running", timedelta(minutes=10)),
        "dead_queued": _job(world, "queued", timedelta(minutes=10)),
        "alive": _job(world, "running", timedelta(seconds=30)),
        "done": _job(world, "done", timedelta(days=1)),
        "failed": _job(world, "failed", timedelta(days=1)),
    }
    session.add_all(jobs.values())
    await session.commit()
    ids = {name: j.id for name, j in jobs.items()}

    now = utcnow()
    assert await job_service.reap_expired(session, now, 120) == 2
    await session.commit()
    for name in ("dead_running", "dead_queued"):
        job = await _status(session, ids[name])
        assert job.status == "failed" and job.error == job_service.LEASE_EXPIRED
        assert job.finished_at == now
    assert (await _status(session, ids["alive"])).status == "running"
    assert (await _status(session, ids["done"])).status == "done"
    failed = await _status(session, ids["failed"])
    assert failed.status == "failed" and failed.error is None  # kept as it was
    assert await job_service.reap_expired(session, utcnow(), 120) == 0  # idempotent


async def test_every_api_process_reaps_dead_jobs_at_start_up(settings, db, session, world):
    dead = _job(world, "running", timedelta(minutes=10))
    session.add(dead)
    await session.commit()
    app = create_app(settings.model_copy(update={"jobs_enabled": True}), db)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if (await _status(session, dead.id)).status == "failed":
                break
            await asyncio.sleep(0.05)
    job = await _status(session, dead.id)
    assert job.status == "failed" and job.error == job_service.LEASE_EXPIRED


def _slow_rows(monkeypatch, started: asyncio.Event, gate: asyncio.Event | None = None) -> None:
    original = child_import.ImportRun.add

    async def add(self, session, parsed):  # type: ignore[no-untyped-def]
        started.set()
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0.005)
        return await original(self, session, parsed)

    monkeypatch.setattr(child_import.ImportRun, "add", add)


async def test_a_running_job_renews_its_lease(client, app, world, session, settings, monkeypatch):
    settings.import_sync_max_rows = 5
    settings.job_lease_seconds = 0.2  # a beat every 0.05 s
    started, gate = asyncio.Event(), asyncio.Event()
    _slow_rows(monkeypatch, started, gate)  # the job holds at its first row
    r = await upload(client, world["officer"].headers, big_file(8))
    job_id = uuid.UUID(r.json()["id"])
    await asyncio.wait_for(started.wait(), 10)
    first = (await _status(session, job_id)).updated_at
    assert first is not None
    for _ in range(200):
        later = (await _status(session, job_id)).updated_at
        if later is not None and later > first:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the lease was never renewed")
    assert (await _status(session, job_id)).status == "running"
    gate.set()
    await job_service.stop_all(app.state)


async def test_a_job_reaped_meanwhile_stops_and_keeps_what_it_committed(
    client, app, world, session, settings, monkeypatch
):
    """Its process lost the database longer than the lease and another process reaped it:
    the job notices (at its next commit or lease renewal), rolls back its uncommitted rows and
    stops, without overwriting the reaper's verdict."""
    settings.import_sync_max_rows = 5
    settings.job_lease_seconds = 0.4
    monkeypatch.setattr(child_import, "PROGRESS_EVERY", 10)
    started = asyncio.Event()
    _slow_rows(monkeypatch, started)
    r = await upload(client, world["officer"].headers, big_file(300))
    job_id = uuid.UUID(r.json()["id"])
    for _ in range(400):
        if (await _status(session, job_id)).processed >= 20:
            break
        await asyncio.sleep(0.02)
    # Another process's reaper, with a clock past the lease.
    assert await job_service.reap_expired(session, utcnow() + timedelta(hours=1), 0.4) == 1
    await session.commit()
    for _ in range(400):
        if not getattr(app.state, "background_tasks", None):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the reaped job did not stop")
    job = await _status(session, job_id)
    assert job.status == "failed" and job.error == job_service.LEASE_EXPIRED
    assert 20 <= job.processed < 300
    children = (await session.execute(select(func.count()).select_from(Child))).scalar_one()
    assert children == job.created  # nothing committed past the counters


async def test_a_job_finished_or_failed_keeps_its_outcome(session, world, db):
    done = _job(world, "done", timedelta(minutes=1))
    session.add(done)
    await session.commit()
    await job_service.fail_job(db, done.id, job_service.INTERRUPTED)
    assert (await _status(session, done.id)).status == "done"
    assert not await job_service.renew_lease(db, done.id)
