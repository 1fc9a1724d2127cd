"""The jobs table (long-running work started by a request, e.g. a large import) and the
asyncio tasks of this API process that run them.

Who may read a job: the user or client who started it, and the county officers whose area
covers the starter's area. Others get 404, as for a job that does not exist.

A job runs in the process that accepted it, in a task holding its own session. When the
process stops, its running jobs are marked `failed` ("interrupted"); one killed outright
stays `running` with an `updated_at` that no longer moves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.db import Database
from childprotect_api.errors import NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.job import Job, JobKind, JobStatus
from childprotect_api.models.user import Role
from childprotect_api.security.scope import Action, Scope, in_scope

log = logging.getLogger(__name__)


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


async def update_job(session: AsyncSession, job_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(Job).where(col(Job.id) == job_id).values(updated_at=utcnow(), **values)
    )


async def fail_job(db: Database, job_id: uuid.UUID, error: str) -> None:
    try:
        async with db.sessionmaker() as session:
            await update_job(
                session, job_id, status=JobStatus.failed.value, error=error, finished_at=utcnow()
            )
            await session.commit()
    except Exception as e:  # the database may be the reason the job failed
        log.error("could not mark job %s failed: %s", job_id, type(e).__name__)


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
