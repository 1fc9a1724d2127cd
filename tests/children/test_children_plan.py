"""The list stays an index scan on a large table: EXPLAIN the exact statement GET /children
issues for one village while the table holds 200k children across five counties."""

from __future__ import annotations

import re
import time

from sqlalchemy import event, text

from tests.children.child_payloads import CHILDREN

ROWS = 200_000

# 5 counties x 4 townships x 50 villages; about 200 children in each village.
FILL = f"""
INSERT INTO children (id, county_code, area_code, name, gender, birth_date, risk_level,
                      status, closed_reason, version)
SELECT gen_random_uuid(),
       '62072' || (1 + g % 5),
       '62072' || (1 + g % 5) || (100 + (g / 5) % 4) || lpad((1 + (g / 20) % 50)::text, 3, '0'),
       '儿童' || g,
       CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END,
       date '2010-01-01' + g % 5000,
       (ARRAY['blue', 'yellow', 'orange', 'red'])[1 + (g / 7) % 4],
       CASE WHEN (g / 3) % 10 = 0 THEN 'closed' ELSE 'active' END,
       CASE WHEN (g / 3) % 10 = 0 THEN 'moved_away' END,
       1
FROM generate_series(1, {ROWS}) AS g
"""


async def _explain_list_queries(client, db, headers, params) -> list[str]:
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # A user's page is one statement (WITH: its session check and audit rows, issue #23).
        sql = statement.lstrip().upper()
        if sql.startswith(("SELECT", "WITH")) and "FROM CHILDREN" in sql:
            captured.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        r = await client.get(CHILDREN, params=params, headers=headers)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == params.get("limit", 50)
    assert len(captured) == 1, captured
    statement, parameters = captured[0]
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        rows = await raw.fetch("EXPLAIN " + statement, *(parameters or ()))
    return [row[0] for row in rows]


async def test_list_for_one_village_is_an_index_scan(client, world, db, session):
    started = time.monotonic()
    await session.execute(text(FILL))
    await session.commit()
    await session.execute(text("ANALYZE children"))
    await session.commit()
    fill_seconds = time.monotonic() - started

    for actor, params in [
        ("director", {}),
        ("director", {"status": "active", "risk_level": ["orange", "red"], "limit": 20}),
        ("supervisor", {"area": "620722100001", "limit": 100}),
    ]:
        plan = await _explain_list_queries(client, db, world[actor].headers, params)
        text_plan = "\n".join(plan)
        assert "Seq Scan on children" not in text_plan, text_plan
        # An index scan in key order, or (when the planner expects very few rows) a bitmap
        # scan; of the scope index or of another index leading with county and village (the
        # worklist's, the statistics'): never the whole table.
        assert re.search(
            r"(Index Scan using|Index Only Scan using|Bitmap Index Scan on) "
            r"ix_children_(scope|worklist_area|stats)",
            text_plan,
        ), text_plan
    print(f"filled {ROWS} children in {fill_seconds:.1f}s")
