"""Test fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), the schema built once by
the migrations into a template database, and a fresh database cloned from it for every test
(so each test is isolated, and tests of concurrency can really commit)."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.core.db import Database, EmbeddedPostgres, to_asyncpg_url
from childprotect_api.core.migrate import upgrade
from childprotect_api.main import create_app
from childprotect_api.models.area import LEVEL_BY_LENGTH, Area
from childprotect_api.models.auth import TokenFamily
from childprotect_api.models.user import Role, User
from childprotect_api.security.passwords import hash_password
from childprotect_api.security.tokens import create_access_token
from tests.core.replica import replica_app, replica_pair  # noqa: F401 (fixtures: a real replica)

TEST_PASSWORD = "Test-Password-2026"
_counter = itertools.count()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _asyncpg_dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The `faults` group (real servers killed, minutes long) runs only when selected with
    `-m faults`; the normal run skips it."""
    if "faults" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="fault scenarios run with -m faults (bench/faults.py)")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that runs the CLI (which sets up the process's logging) leaves the root logger's
    handlers and level as it found them."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server URL (any database on it): TEST_DATABASE_URL, or the embedded one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    embedded = EmbeddedPostgres(Path(tempfile.gettempdir()) / "childprotect-test-pg")
    yield embedded.start()
    embedded.stop()


@pytest.fixture(scope="session")
def worker_id_str(request: pytest.FixtureRequest) -> str:
    wid = getattr(request.config, "workerinput", {}).get("workerid", "gw")
    return f"{wid}_{os.getpid()}"


async def _admin_exec(server_url: str, *sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(_with_database(server_url, "postgres")))
    try:
        for s in sql:
            await conn.execute(s)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str, worker_id_str: str) -> Iterator[str]:
    """A database migrated to head, cloned for each test."""
    name = f"cp_tpl_{worker_id_str}"
    asyncio.run(
        _admin_exec(pg_server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    )
    upgrade(_with_database(pg_server_url, name))
    yield name
    asyncio.run(_admin_exec(pg_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# The PgBouncer leg (.ci/run): databases are made and dropped on the server directly
# (TEST_DATABASE_URL), and the app reaches them through this pooler in transaction mode.
PGBOUNCER_URL = os.environ.get("TEST_PGBOUNCER_URL") or None


@pytest.fixture
async def database_url(pg_server_url: str, template_db: str) -> AsyncIterator[str]:
    name = f"cp_t_{template_db[7:]}_{next(_counter)}"
    await _admin_exec(pg_server_url, f"CREATE DATABASE {name} TEMPLATE {template_db}")
    yield _with_database(PGBOUNCER_URL or pg_server_url, name)
    await _admin_exec(pg_server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env="test",
        DATABASE_URL=database_url,
        login_failure_delay_seconds=0,
        jobs_enabled=False,
        # The webhook tests' receiver listens on the loopback (never anywhere else).
        webhook_allow_networks="127.0.0.0/8,::1/128",
        data_dir=Path(tempfile.gettempdir()) / "childprotect-test-data",
        db_transaction_pooling=PGBOUNCER_URL is not None,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url
    database = Database.create(
        settings.database_url,
        pool_size=5,
        max_overflow=5,
        transaction_pooling=settings.db_transaction_pooling,
    )
    yield database
    await database.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    """A session for arranging data and reading the raw rows back (commit what you add)."""
    async with db.sessionmaker() as s:
        yield s


@pytest.fixture
async def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    return create_app(settings, db)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


# --- the standard world: two counties, townships and villages, users of every role ---------

# County A 620722 with townships 100 (villages 001, 002) and 101 (village 001);
# county C 620723 with township 100 (village 001).
AREAS: list[tuple[str, str, str | None]] = [
    ("62", "甘肃省", None),
    ("6207", "张掖市", "62"),
    ("620722", "民乐县", "6207"),
    ("620722100", "洪水镇", "620722"),
    ("620722100001", "洪水村", "620722100"),
    ("620722100002", "益民村", "620722100"),
    ("620722101", "六坝镇", "620722"),
    ("620722101001", "六坝村", "620722101"),
    ("620723", "临泽县", "6207"),
    ("620723100", "沙河镇", "620723"),
    ("620723100001", "沙河村", "620723100"),
]

VILLAGE = "620722100001"
VILLAGE_SAME_TOWNSHIP = "620722100002"
TOWNSHIP = "620722100"
VILLAGE_OTHER_TOWNSHIP = "620722101001"
TOWNSHIP_OTHER = "620722101"
COUNTY = "620722"
COUNTY_OTHER = "620723"
TOWNSHIP_OTHER_COUNTY = "620723100"
VILLAGE_OTHER_COUNTY = "620723100001"

# name: (role, area)
ACTORS: dict[str, tuple[Role, str | None]] = {
    "director": (Role.village_director, VILLAGE),
    "director_other_village": (Role.village_director, VILLAGE_SAME_TOWNSHIP),
    "director_other_township": (Role.village_director, VILLAGE_OTHER_TOWNSHIP),
    "director_other_county": (Role.village_director, VILLAGE_OTHER_COUNTY),
    "supervisor": (Role.township_supervisor, TOWNSHIP),
    "supervisor_other_township": (Role.township_supervisor, TOWNSHIP_OTHER),
    "supervisor_other_county": (Role.township_supervisor, TOWNSHIP_OTHER_COUNTY),
    "officer": (Role.county_officer, COUNTY),
    "officer_other_county": (Role.county_officer, COUNTY_OTHER),
    "reporter": (Role.reporter, TOWNSHIP),
    "auditor": (Role.auditor, COUNTY),
    "admin": (Role.admin, None),
}

# The callers that must not see an object of VILLAGE (each gets 404).
OUTSIDERS = ("director_other_village", "director_other_township", "director_other_county")
OUTSIDER_SUPERVISORS = ("supervisor_other_township", "supervisor_other_county")
OUTSIDER_OFFICERS = ("officer_other_county",)


@dataclass
class Actor:
    name: str
    user: User
    headers: dict[str, str]

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


@dataclass
class World:
    actors: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


_HASH: dict[str, str] = {}


def password_hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = hash_password(TEST_PASSWORD)
    return _HASH["h"]


async def make_actor(
    session: AsyncSession,
    settings: Settings,
    name: str,
    role: Role,
    area: str | None,
    *,
    username: str | None = None,
) -> Actor:
    """A user with a live login session and a bearer token (minted, not logged in, to keep
    tests fast; the login flow has its own tests)."""
    user = User(
        username=username or name,
        display_name=name,
        role=role.value,
        area_code=area,
        password_hash=password_hash(),
    )
    session.add(user)
    await session.flush()
    family = TokenFamily(user_id=user.id)
    session.add(family)
    await session.flush()
    token, _ = create_access_token(
        settings,
        subject=user.id,
        kind="user",
        role=user.role,
        area=area or "",
        session_id=family.id,
    )
    return Actor(name, user, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    for code, name, parent in AREAS:
        session.add(
            Area(code=code, name=name, parent_code=parent, level=LEVEL_BY_LENGTH[len(code)])
        )
    await session.flush()
    w = World()
    for name, (role, area) in ACTORS.items():
        w.actors[name] = await make_actor(session, settings, name, role, area)
    await session.commit()
    return w
