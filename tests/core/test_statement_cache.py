"""The hot statements stay prepared on their connection (issue #23): asyncpg keeps a named
prepared statement only for texts up to `max_cacheable_statement_size` (15 KiB by default); a
longer one is prepared again at each execution, a second round trip before the statement
itself. The one-statement paths are long (the sync page's text is about 18 KB), so the pool's
connections raise the bound (core/db.py MAX_CACHED_STATEMENT), and every one-statement path's
text stays under it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import literal_column, select

from childprotect_api.config import Settings
from childprotect_api.core.db import MAX_CACHED_STATEMENT, Database, unbegun_connection
from childprotect_api.core.rawsql import Raw
from childprotect_api.security.scope import Scope, scope_filter
from childprotect_api.services.children import registry
from childprotect_api.services.sync import at_once as sync_at_once
from childprotect_api.services.sync import load_at_once
from childprotect_api.services.visits import at_once as visit_at_once
from childprotect_api.services.visits import worklist

# asyncpg's default bound, which the longest paths exceed.
ASYNCPG_DEFAULT = 15 * 1024

AREAS = {
    "village_director": "621490101001",
    "township_supervisor": "621490101",
    "county_officer": "621490",
    "city_officer": "6214",
}


def _texts() -> dict[str, str]:
    texts: dict[str, str] = {}
    for role, area in AREAS.items():
        scope = Scope("user", uuid.uuid4(), role, area)
        children = scope_filter(
            scope, registry._children.c.area_code, registry._children.c.county_code
        )
        texts[f"child read, {role}"] = registry._at_once(children).sql
        texts[f"sync changes page, {role}"] = sync_at_once._statement(scope).sql
        for kind in range(3):  # the load's pages: at a child, an agreement, a visit
            for after in (False, True):
                for first in (False, True):
                    text = load_at_once._statement(scope, kind, after, first).sql
                    texts[f"sync load, {role}, {kind} {after} {first}"] = text
        texts[f"visit PUT, {role}"] = visit_at_once._statement(scope).sql
        flt = scope_filter(scope, worklist._children.c.area_code, worklist._children.c.county_code)
        for cursor in (False, True):
            for duties in (False, True):
                text = worklist._at_once_statement(flt, cursor, duties).sql
                texts[f"worklist, {role}, cursor {cursor}, duties {duties}"] = text
    return texts


def test_every_one_statement_path_fits_the_prepared_statement_cache() -> None:
    texts = _texts()
    sizes = {name: len(text.encode()) for name, text in texts.items()}
    too_long = {name: size for name, size in sizes.items() if size > MAX_CACHED_STATEMENT}
    assert not too_long, too_long
    # The bound matters: the sync page is past asyncpg's default.
    assert max(sizes.values()) > ASYNCPG_DEFAULT, max(sizes.values())


async def test_a_long_statement_is_prepared_once_and_kept(settings: Settings) -> None:
    if settings.db_transaction_pooling:
        pytest.skip("behind PgBouncer in transaction mode nothing is prepared by name")
    assert settings.database_url
    db = Database.create(settings.database_url, pool_size=1, max_overflow=0)
    try:
        padding = "x" * (ASYNCPG_DEFAULT + 1000)
        long = Raw(select(literal_column(f"length('{padding}')").label("n")))
        assert len(long.sql) > ASYNCPG_DEFAULT
        for _ in range(3):
            rows = await long.fetch_alone(db, {})
            assert rows[0]["n"] == len(padding)
        async with unbegun_connection(db) as conn:  # the pool's only connection
            kept = await conn.fetch(
                "SELECT generic_plans + custom_plans AS runs FROM pg_prepared_statements "
                "WHERE statement = $1",
                long.sql,
            )
        # One named statement, prepared once and executed three times (unnamed statements,
        # prepared at each execution, are not listed).
        assert [r["runs"] for r in kept] == [3]
    finally:
        await db.dispose()
