"""The figures GET /metrics reads from the database at scrape time (Prometheus gauges), and
the text it answers: this process's counters (core/observability.py) followed by them.

Each figure is one cheap indexed query; a database that does not answer is reported as
`childprotect_database_up 0` and the rest of the scrape still answers."""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import generate_latest
from sqlalchemy import func, select, text
from sqlmodel import col

from childprotect_api.core.db import Database
from childprotect_api.core.observability import REGISTRY
from childprotect_api.models.base import utcnow
from childprotect_api.models.report import Report
from childprotect_api.models.webhook import OPEN_STATUSES, WebhookDelivery
from childprotect_api.services.reports.deadlines import overdue_clause

log = logging.getLogger(__name__)

# How long the oldest transaction still writing in this database has been open: the sync
# feed serves no change above it (services/sync/feed.py, the horizon), so this is how far
# phones' pulls lag behind the writes.
_SYNC_FEED_LAG = text(
    """
    SELECT coalesce(extract(epoch FROM now() - min(xact_start)), 0)
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL
    """
)


def _gauge(name: str, help_text: str, value: float, labels: str = "") -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name}{labels} {value:g}\n"


def pool_figures(db: Database) -> str:
    pool = db.engine.sync_engine.pool
    in_use = float(getattr(pool, "checkedout", lambda: 0)())
    size = float(getattr(pool, "size", lambda: 0)())
    overflow_max = float(getattr(pool, "_max_overflow", 0))
    return "".join(
        [
            _gauge(
                "childprotect_db_pool_in_use",
                "Database connections checked out of this process's pool",
                in_use,
            ),
            _gauge(
                "childprotect_db_pool_capacity",
                "Connections this process's pool may open (pool size + max overflow)",
                size + overflow_max,
            ),
        ]
    )


async def database_figures(db: Database, now: datetime | None = None) -> str:
    now = now or utcnow()
    try:
        async with db.sessionmaker() as session:
            open_statuses = [s.value for s in OPEN_STATUSES]
            depth, oldest_due = (
                await session.execute(
                    select(
                        func.count(),
                        func.min(col(WebhookDelivery.next_attempt_at)).filter(
                            col(WebhookDelivery.next_attempt_at) <= now
                        ),
                    ).where(col(WebhookDelivery.status).in_(open_statuses))
                )
            ).one()
            overdue = (
                await session.execute(
                    select(func.count()).select_from(Report).where(overdue_clause(now))
                )
            ).scalar_one()
            lag = float((await session.execute(_SYNC_FEED_LAG)).scalar_one())
    except Exception as e:  # the scrape still answers; the alert is database_up == 0
        log.warning("metrics: database figures unavailable: %s", type(e).__name__)
        return _gauge("childprotect_database_up", "The database answered this scrape", 0)
    oldest = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
    return "".join(
        [
            _gauge("childprotect_database_up", "The database answered this scrape", 1),
            _gauge(
                "childprotect_webhook_queue_depth",
                "Webhook deliveries not yet delivered or given up (pending, delivering, failed)",
                float(depth),
            ),
            _gauge(
                "childprotect_webhook_oldest_due_seconds",
                "How long the oldest due webhook delivery has been waiting (0: none due)",
                oldest,
            ),
            _gauge(
                "childprotect_reports_overdue",
                "Mandatory reports past their acceptance or first-referral deadline",
                float(overdue),
            ),
            _gauge(
                "childprotect_sync_feed_lag_seconds",
                "Age of the oldest open writing transaction, which holds back the sync feed",
                lag,
            ),
        ]
    )


async def metrics_text(db: Database) -> str:
    process = generate_latest(REGISTRY).decode()
    return process + pool_figures(db) + await database_figures(db)
