"""Property-based fuzzing of every operation with schemathesis, against the real app served by
uvicorn on 127.0.0.1 over a migrated database, as a user of each role: no 500, no response
outside its documented schema, no undocumented status code or content type."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.main import create_app
from childprotect_api.models.area import LEVEL_BY_LENGTH, Area
from tests.conftest import ACTORS, AREAS, VILLAGE, _admin_exec, _with_database, make_actor
from tests.factories import make_child

ROLES = ["director", "supervisor", "officer", "reporter", "auditor", "admin"]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(url: str, cfg: Settings) -> dict[str, dict[str, str]]:
    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            session: AsyncSession  # type: ignore[no-redef]
            for code, name, parent in AREAS:
                session.add(
                    Area(code=code, name=name, parent_code=parent, level=LEVEL_BY_LENGTH[len(code)])
                )
            await session.flush()
            headers = {}
            for name, (role, area) in ACTORS.items():
                headers[name] = (await make_actor(session, cfg, name, role, area)).headers
            await session.commit()
            await make_child(session, cfg, VILLAGE)
        return headers
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def server(pg_server_url: str, template_db: str) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    name = f"cp_fuzz_{os.getpid()}"
    asyncio.run(_admin_exec(pg_server_url, f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    url = _with_database(pg_server_url, name)
    cfg = Settings(env="test", DATABASE_URL=url, login_failure_delay_seconds=0, jobs_enabled=False)
    # Generous limits: the fuzzer is not testing the rate limiter.
    cfg.rate_limits = {"default": 100000}
    headers = asyncio.run(_seed(url, cfg))
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(cfg), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", headers
    srv.should_exit = True
    thread.join(timeout=10)
    asyncio.run(_admin_exec(pg_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


schema = schemathesis.openapi.from_path(Path(__file__).parents[2] / "openapi" / "openapi.json")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fuzz(case, server):  # type: ignore[no-untyped-def]
    base_url, headers = server
    for role in ROLES:
        case.call_and_validate(base_url=base_url, headers=headers[role], checks=CHECKS)
