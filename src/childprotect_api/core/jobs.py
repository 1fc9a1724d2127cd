"""The jobs table (long-running work started by a request, e.g. a large import) and the
asyncio tasks of this API process that run them.

Who may read a job: the user or client who started it, and the county officers whose area
covers the starter's area. Others get 404, as for a job that does not exist.

A job runs in the process that accepted it, in a task holding its own session. When the
process stops, its running jobs are marked `failed` ("interrupted"). A process killed outright
(SIGKILL, OOM, power) cannot do that, so a job holds a lease: while it runs, a side task
renews it (touches `updated_at`) every quarter of `job_lease_seconds`, and every API process
runs `reap_expired` (at start-up, then every half lease), which marks `failed` the queued or
running jobs whose lease has run out. A job that finds its lease taken (its process lost the
database for longer than the lease and was reaped meanwhile) stops itself. What a job had
committed before it stopped stays (see services/children/bulk_import.py: re-sending the file is the
fix), and a job once failed or done never changes status again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.db import Database
from childprotect_api.core.errors import NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.job import Job, JobKind, JobStatus
from childprotect_api.models.user import Role
from childprotect_api.security.scope import Action, Scope, in_scope

log = logging.getLogger(__name__)

_UNFINISHED = (JobStatus.queued.value, JobStatus.running.value)


async def get_job(session: AsyncSession, scope: Scope, job_id: uuid.UUID) -> Job:
    scope.require(Action.jobs_read)
    visible = and_(col(Job.actor_type) == scope.actor_type, col(Job.actor_id) == scope.actor_id)
    if not scope.is_client and scope.role == Role.county_officer:
        visible = or_(visible, in_scope(scope, col(Job.area_code)))
    stmt = select(Job).where(col(Job.id) == job_id, visible)
    job = (await session.execute(stmt)).scalar_one_or_none()
    if job is None:
        raise NotFound("no such job")
    return job


async def create_job(
    db: Database, scope: Scope, kind: JobKind, *, dry_run: bool, total: int
) -> Job:
    """A queued job, committed at once in its own session (the task that runs it and the
    caller polling it must both see it before the request's own transaction ends)."""
    job = Job(
        kind=kind.value,
        actor_type=scope.actor_type,
        actor_id=scope.actor_id,
        actor_role=scope.role,
        area_code=scope.area_code,
        dry_run=dry_run,
        total=total,
        status=JobStatus.queued.value,
    )
    async with db.sessionmaker() as session:
        session.add(job)
        await session.commit()
    return job


class LeaseLost(Exception):
    """The job was reaped as interrupted (or finished) meanwhile: it is no longer ours."""


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    """Update an unfinished job in the caller's transaction (renewing its lease); raises
    LeaseLost when it is no longer queued or running, so that the work done since the last
    commit is rolled back with it and the counters keep saying what is committed."""
    updated = (
        await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.status).in_(_UNFINISHED))
            .values(updated_at=utcnow(), **values)
            .returning(col(Job.id))
        )
    ).first()
    if updated is None:
        raise LeaseLost(str(job_id))


INTERRUPTED = "interrupted: the server stopped"
LEASE_EXPIRED = "interrupted: the server running it stopped (lease expired)"


async def fail_job(db: Database, job_id: uuid.UUID, error: str) -> None:
    """Mark an unfinished job failed (a job already done or failed keeps its outcome)."""
    try:
        async with db.sessionmaker() as session:
            await session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status).in_(_UNFINISHED))
                .values(
                    status=JobStatus.failed.value,
                    error=error,
                    finished_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            await session.commit()
    except Exception as e:  # the database may be the reason the job failed
        log.error("could not mark job %s failed: %s", job_id, type(e).__name__)


async def renew_lease(db: Database, job_id: uuid.UUID) -> bool:
    """Touch an unfinished job; False when it is no longer ours to run (reaped, finished)."""
    async with db.sessionmaker() as session:
        renewed = (
            await session.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status).in_(_UNFINISHED))
                .values(updated_at=utcnow())
                .returning(col(Job.id))
            )
        ).first()
        await session.commit()
    return renewed is not None


@contextlib.asynccontextmanager
async def leased(db: Database, job_id: uuid.UUID, lease_seconds: float) -> AsyncIterator[None]:
    """Hold the job's lease while the block runs: renewed every quarter lease; if it was taken
    (the job reaped as dead), the task running the block is cancelled."""
    worker = asyncio.current_task()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 4)
            try:
                alive = await renew_lease(db, job_id)
            except Exception as e:  # the database is away: try again at the next beat
                log.warning("job %s: could not renew its lease: %s", job_id, type(e).__name__)
                continue
            if not alive:
                log.warning("job %s lost its lease (reaped as interrupted): stopping", job_id)
                if worker is not None:
                    worker.cancel()
                return

    beat = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def reap_expired(session: AsyncSession, now: datetime, lease_seconds: float) -> int:
    """Mark failed the unfinished jobs whose lease ran out (their process died); answers how
    many. Safe in several processes at once (one UPDATE)."""
    result = await session.execute(
        update(Job)
        .where(
            col(Job.status).in_(_UNFINISHED),
            col(Job.updated_at) < now - timedelta(seconds=lease_seconds),
        )
        .values(status=JobStatus.failed.value, error=LEASE_EXPIRED, finished_at=now, updated_at=now)
        .returning(col(Job.id))
    )
    reaped = list(result.scalars())
    for job_id in reaped:
        log.warning("job %s: its process died; marked failed (lease expired)", job_id)
    return len(reaped)


def spawn(state: Any, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run `work` in the background of this process (`state` is the app's state, which keeps
    the task referenced until it ends and lets the lifespan stop it)."""
    tasks: set[asyncio.Task[None]] | None = getattr(state, "background_tasks", None)
    if tasks is None:
        tasks = set()
        state.background_tasks = tasks
    task = asyncio.create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def stop_all(state: Any) -> None:
    """Cancel the background jobs of this process (at shutdown); they mark themselves failed."""
    tasks: set[asyncio.Task[None]] = getattr(state, "background_tasks", None) or set()
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with contextlib.suppress(asyncio.CancelledError):
            await task
