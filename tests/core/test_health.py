from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core.migrate import head_revision


async def test_healthz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]


async def test_readyz_reports_head(client):
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["migration"] == head_revision()


async def test_readyz_503_when_schema_behind(client, session: AsyncSession):
    await session.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    await session.commit()
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_ready"


async def test_unknown_route_is_a_problem(client):
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


async def test_request_id_is_echoed(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


async def test_oversized_body_is_413(client, world, settings):
    big = b"x" * (settings.max_upload_bytes + 70000)
    r = await client.post(
        "/api/v1/areas",
        content=big,
        headers={**world["admin"].headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
