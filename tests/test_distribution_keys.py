"""DESIGN.md "Scale": past one primary the schema goes to Citus (distributed by county) or to
declarative partitioning by county, so every child-linked table carries the county code
(the first six digits of the area code) and leads its scope indexes with it.

The rule, as enforced here on the models and on the migrated database:
- a child-linked table is one with a `child_id` column or an `area_code` column, except the
  few whose area is not a child's (NOT_CHILD_DATA, each with its reason);
- it has a `county_code` column of six characters (collation "C", as area codes), NOT NULL
  wherever `area_code` is;
- the database refuses a row whose county is not its area's (a CHECK county_code =
  left(area_code, 6)): a disagreeing row would escape the scope filter and the shard;
- every index containing `area_code` (a scope index) has `county_code` as its first column.

A new table that holds a child's data passes by declaring `county_code_column()` next to its
`area_code_column()`, leading its scope index with it, and adding the CHECK in its migration
(see migrations/versions/*_0013perf_county_of_area_checks.py)."""

from __future__ import annotations

import importlib
import pkgutil
import re

import asyncpg
from sqlalchemy import String, Table
from sqlmodel import SQLModel

import childprotect_api.models as models
from tests.conftest import _asyncpg_dsn

for _module in pkgutil.iter_modules(models.__path__):
    importlib.import_module(f"{models.__name__}.{_module.name}")

NOT_CHILD_DATA = {
    "users": "a staff member's own area (their scope), not a child's",
    "integration_clients": "an integration's area (its scope), not a child's",
    "jobs": "the area of whoever started an import (any level); counts and row numbers only",
}


def child_linked_tables() -> list[Table]:
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if ({"child_id", "area_code"} & set(t.columns.keys())) and t.name not in NOT_CHILD_DATA
    ]


def test_the_rule_covers_the_tables_that_hold_childrens_data():
    names = {t.name for t in child_linked_tables()}
    assert {"children", "visits", "agreements", "reports", "child_events"} <= names
    assert not names & set(NOT_CHILD_DATA)
    # The exceptions still exist (a renamed table must be reconsidered, not silently skipped).
    assert set(NOT_CHILD_DATA) <= set(SQLModel.metadata.tables)


def test_every_child_linked_table_carries_the_county_code():
    problems = []
    for table in child_linked_tables():
        county = table.columns.get("county_code")
        if county is None:
            problems.append(f"{table.name}: no county_code column")
            continue
        if not (isinstance(county.type, String) and county.type.length == 6):
            problems.append(f"{table.name}.county_code is not a 6-character string")
        if getattr(county.type, "collation", None) != "C":
            problems.append(f'{table.name}.county_code is not COLLATE "C"')
        area = table.columns.get("area_code")
        if area is not None and not area.nullable and county.nullable:
            problems.append(f"{table.name}.county_code may be NULL while area_code may not")
        if area is None:
            problems.append(f"{table.name}: a child's data without the child's area_code")
    assert not problems, "\n".join(problems)


def test_every_scope_index_leads_with_the_county_code_in_the_models():
    problems = [
        f"{table.name}.{index.name} {[c.name for c in index.columns]}"
        for table in child_linked_tables()
        for index in table.indexes
        if "area_code" in [c.name for c in index.columns]
        and next(c.name for c in index.columns) != "county_code"
    ]
    assert not problems, "scope indexes not led by county_code:\n" + "\n".join(problems)


def _bare(definition: str) -> str:
    """A constraint's text without casts, quotes, brackets and spaces."""
    return re.sub(r"::\w+|[\s()\"]", "", definition)


def test_bare_constraint_text():
    pg = 'CHECK (((county_code)::text = "left"((area_code)::text, 6)))'
    assert "county_code=leftarea_code,6" in _bare(pg)


async def test_the_database_holds_the_rule(database_url):
    """The migrations, not only the models: indexes and CHECKs as they are in PostgreSQL."""
    tables = [t.name for t in child_linked_tables()]
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        indexes = await conn.fetch(
            """
            SELECT t.relname AS table, i.relname AS index,
                   array_agg(a.attname ORDER BY k.n) AS columns
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE t.relname = ANY($1::text[])
            GROUP BY t.relname, i.relname
            """,
            tables,
        )
        checks = await conn.fetch(
            "SELECT conrelid::regclass::text AS table, pg_get_constraintdef(oid) AS def "
            "FROM pg_constraint WHERE contype = 'c' AND convalidated "
            "AND conrelid::regclass::text = ANY($1::text[])",
            tables,
        )
    finally:
        await conn.close()
    assert {r["table"] for r in indexes} >= {"children", "visits"}
    bad_indexes = [
        f"{r['table']}.{r['index']} {list(r['columns'])}"
        for r in indexes
        if "area_code" in r["columns"] and r["columns"][0] != "county_code"
    ]
    checked = {r["table"] for r in checks if "county_code=leftarea_code,6" in _bare(r["def"])}
    unchecked = sorted(set(tables) - checked)
    assert not bad_indexes, "scope indexes not led by county_code:\n" + "\n".join(bad_indexes)
    assert not unchecked, "no CHECK (county_code = left(area_code, 6)) on: " + ", ".join(unchecked)
