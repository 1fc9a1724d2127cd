"""The app and the migrations agree; the committed OpenAPI document is what the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import childprotect_api.models  # noqa: F401
from childprotect_api.cli import openapi_document

ROOT = Path(__file__).resolve().parents[1]


async def test_autogenerate_finds_no_difference(db):
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == [], f"models and migrations differ: {changes}"


async def test_audit_log_is_append_only(db):
    async with db.engine.connect() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_log (actor_role, action, resource_type) VALUES ('x', 'read', 'child')"
            )
        )
        for stmt in (
            "UPDATE audit_log SET action = 'y'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            try:
                async with conn.begin_nested():
                    await conn.execute(text(stmt))
            except DBAPIError as e:
                assert "append-only" in str(e)
            else:
                raise AssertionError(f"{stmt} was allowed")
        count = (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar()
        assert count == 1


def test_openapi_is_current():
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == openapi_document(), (
        "openapi/openapi.json is stale: run `childprotect-api openapi --out openapi/openapi.json`"
    )


def test_operation_ids_are_unique_and_camel_case():
    doc = openapi_document()
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert op_id[0].islower() and "_" not in op_id, op_id
