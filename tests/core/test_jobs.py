from __future__ import annotations

import asyncio
import gc
import logging
from datetime import date

from sqlalchemy import select

from childprotect_api.core.middleware import install_access_log_redaction
from childprotect_api.main import create_app
from childprotect_api.models.child import Child
from childprotect_api.services.children.rules import today, years_before
from tests.conftest import VILLAGE
from tests.factories import make_child


async def test_lifespan_runs_the_daily_close(settings, db, session, world):
    adult = await make_child(session, settings, VILLAGE, birth_date=years_before(today(), 18))
    minor = await make_child(session, settings, VILLAGE, birth_date=date(2015, 1, 1))
    adult_id, minor_id = adult.id, minor.id
    app = create_app(settings.model_copy(update={"jobs_enabled": True}), db)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            await asyncio.sleep(0.05)
            session.expire_all()
            status = (
                await session.execute(select(Child.status).where(Child.id == adult_id))
            ).scalar_one()
            await session.commit()
            if status == "closed":
                break
    statuses = dict((await session.execute(select(Child.id, Child.status))).all())
    assert statuses == {adult_id: "closed", minor_id: "active"}


def test_access_log_drops_query_strings():
    install_access_log_redaction()
    logger = logging.getLogger("uvicorn.access")
    record = logger.makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/api/v1/children?q=%E7%8E%8B", "1.1", 200),
        None,
    )
    for f in logger.filters:
        f.filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /api/v1/children?… HTTP/1.1" 200'


async def test_start_up_freezes_the_long_lived_heap(settings, db):
    """What start-up built is moved out of the collector's reach (main.freeze_startup_heap):
    full collections then walk only what requests allocate."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = create_app(settings, db)
    try:
        async with app.router.lifespan_context(app):
            # The routes and their validators are among the frozen objects.
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
