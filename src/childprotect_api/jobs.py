"""Background jobs inside the API process. One for now: once a day (shortly after midnight,
China time, and once at start-up to catch up), close the records of children who turned 18
(services/children.close_adults). Every API process runs the loop; an advisory lock in the
job makes one of them do the work. Off with CHILDPROTECT_JOBS_ENABLED=false (tests)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta

from childprotect_api.db import Database
from childprotect_api.services.child_rules import CHINA_TZ, today
from childprotect_api.services.children import close_adults

log = logging.getLogger(__name__)

RUN_AT = time(0, 10, tzinfo=CHINA_TZ)


def seconds_until_next_run(now: datetime) -> float:
    local = now.astimezone(CHINA_TZ)
    run = datetime.combine(local.date(), RUN_AT)
    if run <= local:
        run += timedelta(days=1)
    return (run - local).total_seconds()


async def run_close_adults(db: Database) -> int:
    async with db.sessionmaker() as session:
        closed = await close_adults(session, today())
        await session.commit()
    return closed


async def daily_loop(db: Database) -> None:
    while True:
        try:
            closed = await run_close_adults(db)
            log.info("daily job: closed %d records of children who turned 18", closed)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the loop alive; the message may hold data, skip it
            log.error("daily job failed: %s", type(e).__name__)
        await asyncio.sleep(seconds_until_next_run(datetime.now(CHINA_TZ)))


def start(db: Database) -> asyncio.Task[None]:
    return asyncio.create_task(daily_loop(db), name="childprotect-daily-jobs")
