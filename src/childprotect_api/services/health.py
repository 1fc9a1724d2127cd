"""Readiness: the database answers and the schema is at the migrations' head."""

from __future__ import annotations

import logging
from functools import lru_cache

from sqlalchemy import text

from childprotect_api.core.db import Database
from childprotect_api.core.migrate import head_revision

log = logging.getLogger(__name__)


@lru_cache
def _head() -> str | None:
    return head_revision()


async def readiness(db: Database) -> tuple[bool, str, str | None]:
    try:
        async with db.engine.connect() as conn:
            current = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except Exception as e:  # any failure to answer is "not ready"
        log.warning("readiness: database check failed: %s", type(e).__name__)
        return False, "database unreachable or not migrated", None
    if current != _head():
        return False, "database schema is not at the migrations' head", current
    return True, "ok", current
