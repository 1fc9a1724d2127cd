"""Background jobs every API process runs when `jobs_enabled` (periodic domain jobs and the
webhook worker). Each job is safe to run in several processes at once (row locks / SKIP LOCKED
or idempotent set-based updates), so there is no leader to elect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.core import observability
from childprotect_api.core.db import Database
from childprotect_api.models.base import utcnow

log = logging.getLogger(__name__)

JobFn = Callable[[AsyncSession, datetime], Awaitable[int]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: JobFn


def periodic_jobs(settings: Settings) -> list[PeriodicJob]:
    from childprotect_api.core import jobs as job_service
    from childprotect_api.services.agreements import expiry as agreement_expiry
    from childprotect_api.services.reports.deadlines import emit_overdue_reports
    from childprotect_api.services.stats import rollup as stats_rollup
    from childprotect_api.services.stats import snapshots as stats_snapshots

    lease = settings.job_lease_seconds

    async def reap_jobs(session: AsyncSession, now: datetime) -> int:
        return await job_service.reap_expired(session, now, lease)

    return [
        # At start-up, then every half lease: jobs of a killed process end marked failed.
        PeriodicJob("reap_jobs", lease / 2, reap_jobs),
        PeriodicJob("idempotency_prune", 3600, _prune_idempotency),
        PeriodicJob("report_deadlines", 60, emit_overdue_reports),
        PeriodicJob("agreement_expiry", 3600, agreement_expiry.periodic),
        # Risk duties: reviews that came due, then overdue duties alerted once each.
        PeriodicJob("duty_alerts", 300, _duty_alerts),
        # Runs at start-up and hourly, so a record is closed within an hour of the 18th
        # birthday (China's date) even after downtime.
        PeriodicJob("close_adults", 3600, _close_adults),
        PeriodicJob("retention", 6 * 3600, _retention),
        PeriodicJob("sync_closed_tombstones", 3600, _sync_closed_tombstones),
        PeriodicJob("sync_log_prune", 3600, _sync_log_prune),
        # Folds the visit rollups' +1/-1 rows (statistics read them either way).
        PeriodicJob("stats_rollup", stats_rollup.INTERVAL_SECONDS, stats_rollup.compact),
        # County snapshots: what city and province figures add up (the period-free groups),
        # and the counties' distinct children of the periods asked most (periods.py).
        PeriodicJob("stats_snapshots", stats_snapshots.INTERVAL_SECONDS, _stats_snapshots),
    ]


async def _stats_snapshots(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.services.stats import periods as stats_periods
    from childprotect_api.services.stats import snapshots as stats_snapshots

    done = await stats_snapshots.refresh(session, now)
    return done + await stats_periods.refresh(session, now)


async def _duty_alerts(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.services.duties import duties

    reviewed = await duties.refresh_reviews(session, now.date())
    return reviewed + await duties.alert_overdue(session, now)


async def _retention(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.config import get_settings
    from childprotect_api.services.retention import anonymise_expired

    return await anonymise_expired(session, now, get_settings().retention_days)


async def _sync_closed_tombstones(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.config import get_settings
    from childprotect_api.services.sync.feed import write_closed_tombstones

    settings = get_settings()
    return await write_closed_tombstones(
        session, now, settings.sync_keep_closed_days, settings.sync_log_days
    )


async def _sync_log_prune(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.config import get_settings
    from childprotect_api.services.sync.feed import prune_log

    return await prune_log(session, now, get_settings().sync_log_days)


async def _close_adults(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.services.children.registry import close_adults
    from childprotect_api.services.children.rules import CHINA_TZ

    return await close_adults(session, now.astimezone(CHINA_TZ).date())


async def _prune_idempotency(session: AsyncSession, now: datetime) -> int:
    from childprotect_api.config import get_settings
    from childprotect_api.core.idempotency import prune

    return await prune(session, now, get_settings().sync_push_ledger_days)


async def run_job_once(db: Database, job: PeriodicJob, now: datetime | None = None) -> int:
    async with db.sessionmaker() as session:
        done = await job.run(session, now or utcnow())
        await session.commit()
        return done


async def run_periodic(db: Database, job: PeriodicJob) -> None:
    while True:
        await run_and_record(db, job)
        await asyncio.sleep(job.interval_seconds)


async def run_and_record(db: Database, job: PeriodicJob) -> None:
    """One pass of a periodic job, counted in the metrics and logged (one line per pass:
    JSON with CHILDPROTECT_LOG_FORMAT=json). A failure is logged and the loop goes on."""
    t0 = time.perf_counter()
    try:
        done = await run_job_once(db, job)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # keep the loop alive; the next pass retries
        seconds = time.perf_counter() - t0
        observability.observe_job(job.name, False, seconds)
        # Only the type: database messages can quote row values (personal data).
        log.error(
            "job %s failed: %s",
            job.name,
            type(e).__name__,
            extra={"fields": _job_fields(job.name, "failed", seconds, error_type=type(e).__name__)},
        )
        return
    seconds = time.perf_counter() - t0
    observability.observe_job(job.name, True, seconds)
    log.log(
        logging.INFO if done else logging.DEBUG,
        "job %s: %d done",
        job.name,
        done,
        extra={"fields": _job_fields(job.name, "ok", seconds, done=done)},
    )


def _job_fields(name: str, outcome: str, seconds: float, **more: object) -> dict[str, object]:
    return {
        "event": "job",
        "job": name,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 1),
        **more,
    }


class Jobs:
    """Started and stopped by the app lifespan."""

    def __init__(self, db: Database, settings: Settings) -> None:
        from childprotect_api.services.integrations.worker import BackgroundWorker

        self._tasks = [
            asyncio.create_task(run_periodic(db, job)) for job in periodic_jobs(settings)
        ]
        self._webhooks = BackgroundWorker(db, settings)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._webhooks.stop()
