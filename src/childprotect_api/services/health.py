"""Readiness: the database answers and the schema is at the migrations' head."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from childprotect_api.db import Database
from childprotect_api.migrate import head_revision


@lru_cache
def _head() -> str | None:
    return head_revision()


async def readiness(db: Database) -> tuple[bool, str, str | None]:
    try:
        async with db.engine.connect() as conn:
            current = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except (SQLAlchemyError, OSError):
        return False, "database unreachable or not migrated", None
    if current != _head():
        return False, "database schema is not at the migrations' head", current
    return True, "ok", current
