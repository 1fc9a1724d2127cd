"""Query-plan guards: the hot reads stay on their indexes when the tables are large enough for
the planner to care (30,000 children in 500 villages of 5 counties, 60,000 visits, 6,000
agreements, 3,000 reports, ANALYZEd).

Each read in HOT_READS is made through the API; every SELECT it issues (captured as it is
sent, with its parameters) is EXPLAINed twice, with a custom plan for those parameters and
with the generic plan a prepared statement falls back to after five executions, and neither
may read `children` or `visits` with a sequential scan. A new hot read (the sync feed,
statistics, ...) is one more line in HOT_READS; a read that needs rows of its own (rollups,
say: the bulk rows are written without triggers) adds them in `_fill_more`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from childprotect_api.models.base import utcnow
from tests.agreements.agreement_helpers import away_child, make_active
from tests.children.child_payloads import CHILDREN
from tests.conftest import VILLAGE, _asyncpg_dsn
from tests.reports.report_support import REPORTS
from tests.reports.report_support import file as file_report
from tests.visits.visit_factories import VISITS, WORKLIST, put_visit

GUARDED = ("children", "visits")
SYNC = "/api/v1/sync/changes"  # tables never to be read whole by a hot read

CHILDREN_PER_RUN = 30_000
VISITS_PER_CHILD = 2


@dataclass(frozen=True)
class HotRead:
    name: str
    actor: str
    path: str  # "{child_id}" stands for a child of VILLAGE
    params: dict[str, Any] = field(default_factory=dict)
    pages: int = 1  # follow `next_cursor` for this many pages


HOT_READS = [
    HotRead("worklist, village", "director", WORKLIST),
    HotRead("worklist, township", "supervisor", WORKLIST),
    HotRead("worklist, county", "officer", WORKLIST),
    HotRead("worklist, county, with agreements", "officer", WORKLIST, {"include_agreements": 1}),
    HotRead("child by id", "director", CHILDREN + "/{child_id}"),
    HotRead("children list, village", "director", CHILDREN),
    HotRead("children list, one village of a township", "supervisor", CHILDREN, {"area": VILLAGE}),
    HotRead(
        "children list, county, filtered",
        "officer",
        CHILDREN,
        {"risk_level": ["red"], "status": "active", "limit": 20},
    ),
    HotRead("visits of a child", "director", VISITS, {"child_id": "{child_id}"}),
    HotRead("agreements of a child", "director", CHILDREN + "/{child_id}/agreements"),
    HotRead("reports, county", "officer", REPORTS),
    HotRead("reports, township", "supervisor", REPORTS),
    HotRead("sync feed, village", "director", SYNC, {"limit": 40}, pages=3),
    HotRead("sync feed, township", "supervisor", SYNC, {"limit": 200}, pages=2),
    HotRead("sync feed, county", "officer", SYNC, {"limit": 1000}),
    # The load's pages after a visit keyset (a village's in index order, a township's sorted).
    HotRead("sync feed, village, into the visits", "director", SYNC, {"limit": 100}, pages=3),
    HotRead("sync feed, township, into the visits", "supervisor", SYNC, {"limit": 1000}, pages=3),
    # Next: statistics, one line each.
]

# 5 counties x 4 townships x 25 villages (VILLAGE, 620722100001, among them); about 60
# children in each village, a fifth of them overdue.
_CHILDREN = f"""
INSERT INTO children (id, county_code, area_code, name, gender, birth_date, risk_level,
                      status, closed_reason, version, last_visit_at, next_visit_due,
                      categories, father, mother)
SELECT gen_random_uuid(), v.county, v.area, '儿童' || g,
       CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END,
       date '2010-01-01' + g % 5000,
       (ARRAY['blue', 'yellow', 'orange', 'red'])[1 + (g / 7) % 4],
       CASE WHEN g % 31 = 0 THEN 'closed' ELSE 'active' END,
       CASE WHEN g % 31 = 0 THEN 'moved_away' END,
       1, now() - make_interval(days => g % 90),
       now() + make_interval(days => (g % 100) - 20),
       ARRAY['left_behind']::varchar[],
       '{{"situation": "working_away"}}'::jsonb, '{{"situation": "at_home"}}'::jsonb
FROM generate_series(1, {CHILDREN_PER_RUN}) AS g
CROSS JOIN LATERAL (
    SELECT '62072' || (1 + g % 5) AS county,
           '62072' || (1 + g % 5) || (100 + (g / 5) % 4)
               || lpad((1 + (g / 20) % 25)::text, 3, '0') AS area
) v
"""

# Each child's visits, the latest one awaiting review (written out: the biggest table).
_VISITS = f"""
INSERT INTO visits (id, original_id, revision, is_current, child_id, county_code, area_code,
                    visitor_id, visited_at, kind, checklist, follow_up_actions, status,
                    content_hash, version, created_at, updated_at)
SELECT v.id, v.id, 1, true, c.id, c.county_code, c.area_code, t.visitor_id, v.at, t.kind,
       t.checklist, t.follow_up_actions, CASE WHEN k = 1 THEN 'submitted' ELSE 'accepted' END,
       t.content_hash, 1, v.at, v.at
FROM visits t, children c
CROSS JOIN generate_series(1, {VISITS_PER_CHILD}) AS k
CROSS JOIN LATERAL (SELECT md5(c.id::text || '/' || k)::uuid AS id,
                           now() - make_interval(days => 30 * k) AS at) v
WHERE t.id = :template AND c.name LIKE '儿童%'
"""

# Copies of a row made through the API (every column and constraint right), one per child
# picked, with `changes` (`c` is the child, `new.id` the copy's id). The template is read once
# (a join would rescan the growing table), the record built once per row (LATERAL, not `.*`).
_CLONE = """
WITH template AS MATERIALIZED (SELECT to_jsonb(t) AS row FROM {table} t WHERE t.id = :template)
INSERT INTO {table}
SELECT r.*
FROM template, (SELECT * FROM children {pick}) c
CROSS JOIN LATERAL (SELECT md5(c.id::text || '/copy')::uuid AS id) new
CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, template.row || {changes}) r
"""
_COPIES = {
    # One active agreement for a fifth of the active children.
    "agreements": (
        "jsonb_build_object('id', new.id, 'child_id', c.id, "
        "'county_code', c.county_code, 'area_code', c.area_code)",
        "WHERE status = 'active' AND right(name, 1) IN ('0', '4') AND name LIKE '儿童%'",
    ),
    # A report about a tenth of the children.
    "reports": (
        "jsonb_build_object('id', new.id, 'child_id', c.id, "
        "'county_code', c.county_code, 'area_code', c.area_code, "
        "'reported_area_code', c.area_code, 'request_hash', md5(new.id::text))",
        "WHERE right(name, 1) = '7' AND name LIKE '儿童%'",
    ),
}


async def _fill(session, templates: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    # Bulk rows need no triggers (change logs, counters): replica mode, as bench/datagen does.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text(_CHILDREN))
    await session.execute(text(_VISITS), {"template": templates["visits"]})
    for table, (changes, pick) in _COPIES.items():
        sql = _CLONE.format(table=table, changes=changes, pick=pick)
        await session.execute(text(sql), {"template": templates[table]})
    await _fill_more(session)
    await session.commit()
    for table in ("children", "visits", "agreements", "reports"):
        await session.execute(text(f"ANALYZE {table}"))
    await session.commit()


async def _fill_more(session) -> None:  # type: ignore[no-untyped-def]
    """Rows a later hot read needs (statistics rollups, say) go here."""


def _scans(plan: Any) -> Iterator[tuple[str, str]]:
    """(node type, relation) of every node of an EXPLAIN (FORMAT JSON) plan."""
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "Node Type" in node:
                yield node["Node Type"], node.get("Relation Name", "")
            stack.extend(v for v in node.values() if isinstance(v, (list, dict)))


async def _plans(conn: asyncpg.Connection, sql: str, params: Any) -> dict[str, Any]:
    """The custom plan for these parameters, and the generic plan."""
    custom = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *(params or ()))
    await conn.execute("PREPARE plan_guard AS " + sql)
    try:
        n = await conn.fetchval(
            "SELECT cardinality(parameter_types) FROM pg_prepared_statements "
            "WHERE name = 'plan_guard'"
        )
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        args = f"({', '.join(['NULL'] * n)})" if n else ""
        generic = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE plan_guard{args}")
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute("DEALLOCATE plan_guard")
    return {"custom": json.loads(custom), "generic": json.loads(generic)}


async def test_hot_reads_never_scan_children_or_visits_whole(
    client, db, session, settings, world, database_url
):
    started = time.monotonic()
    director = world["director"]
    child = await away_child(
        session, settings, VILLAGE, risk_level="red", created_at=utcnow() - timedelta(days=400)
    )
    visit = await put_visit(client, director, child.id)
    agreement = await make_active(client, world, child.id)
    report = await file_report(client, world, area_code=VILLAGE)
    templates = {"visits": visit["id"], "agreements": agreement["id"], "reports": report["id"]}
    await _fill(session, templates)
    filled = time.monotonic() - started

    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not executemany and statement.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    failures, explained = [], 0
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        for read in HOT_READS:
            path = read.path.replace("{child_id}", str(child.id))
            params = {
                k: (v.replace("{child_id}", str(child.id)) if isinstance(v, str) else v)
                for k, v in read.params.items()
            }
            captured.clear()
            event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
            try:
                for _ in range(read.pages):
                    r = await client.get(path, params=params, headers=world[read.actor].headers)
                    assert r.status_code == 200, (read.name, r.text)
                    params = {**params, "cursor": r.json().get("next_cursor")}
                    if not params["cursor"]:
                        break
            finally:
                event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
            assert captured, f"{read.name}: no statement seen"
            for sql, sql_params in captured:
                for mode, plan in (await _plans(conn, sql, sql_params)).items():
                    explained += 1
                    for node, relation in _scans(plan):
                        if node == "Seq Scan" and relation in GUARDED:
                            failures.append(
                                f"{read.name} ({mode} plan): Seq Scan on {relation}\n  {sql}\n"
                                f"  {json.dumps(plan)[:2000]}"
                            )
    finally:
        await conn.close()
    assert not failures, "\n\n".join(failures)
    print(
        f"filled in {filled:.1f} s; {explained} plans of {len(HOT_READS)} reads checked "
        f"in {time.monotonic() - started - filled:.1f} s"
    )


@pytest.mark.parametrize(
    "plan, found",
    [
        ({"Plan": {"Node Type": "Seq Scan", "Relation Name": "children"}}, True),
        (
            [
                {
                    "Plan": {
                        "Node Type": "Limit",
                        "Plans": [{"Node Type": "Seq Scan", "Relation Name": "visits"}],
                    }
                }
            ],
            True,
        ),
        ({"Plan": {"Node Type": "Index Scan", "Relation Name": "children"}}, False),
        ({"Plan": {"Node Type": "Seq Scan", "Relation Name": "areas"}}, False),
    ],
)
def test_the_guard_finds_a_seq_scan_anywhere_in_a_plan(plan, found):
    hit = any(n == "Seq Scan" and r in GUARDED for n, r in _scans(plan))
    assert hit is found
