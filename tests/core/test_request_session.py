"""The request's session (db.RequestSession): one transaction on one pooled connection, begun
before the endpoint runs; the ORM's Session over it is made only when something uses it, and
whatever mix of ORM work and driver statements (rawsql) the request does commits or rolls back
as one."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from childprotect_api.core.db import RequestSession, driver
from childprotect_api.models.area import Area
from tests.visits.visit_factories import WORKLIST

_PROBE_TABLE = "CREATE TABLE IF NOT EXISTS request_session_probe (id uuid PRIMARY KEY)"


async def _count(db, ids) -> int:  # type: ignore[no-untyped-def]
    async with db.sessionmaker() as s:
        got = await s.execute(
            text("SELECT count(*) FROM request_session_probe WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
        return int(got.scalar_one())


async def _probe_table(db) -> None:  # type: ignore[no-untyped-def]
    async with db.sessionmaker() as s:
        await s.execute(text(_PROBE_TABLE))
        await s.commit()


async def test_driver_statements_alone_never_make_the_orm_session(db):
    session = await RequestSession.open(db)
    conn = await driver(session)
    assert await conn.fetchval("SELECT txid_current_if_assigned() IS NULL") is True
    # In a transaction already (begun by open), and no ORM Session was made for it.
    assert conn.is_in_transaction()
    assert session.info is not None and not session.new and not session.dirty
    assert session._made is None
    await session.finish(commit=True)
    assert session._made is None


async def test_orm_and_driver_work_commit_together(db):
    await _probe_table(db)
    ids = [uuid.uuid4(), uuid.uuid4()]
    session = await RequestSession.open(db)
    conn = await driver(session)
    await conn.execute("INSERT INTO request_session_probe VALUES ($1)", ids[0])
    # Through the ORM, afterwards: the same connection and the same transaction.
    await session.execute(text("INSERT INTO request_session_probe VALUES (:id)"), {"id": ids[1]})
    assert session._made is not None
    backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert backend == await conn.fetchval("SELECT pg_backend_pid()")
    xid_orm = (await session.execute(text("SELECT txid_current()"))).scalar_one()
    assert xid_orm == await conn.fetchval("SELECT txid_current()")
    assert await _count(db, ids) == 0  # not visible before the commit
    await session.finish(commit=True)
    assert await _count(db, ids) == 2


async def test_orm_and_driver_work_roll_back_together(db):
    await _probe_table(db)
    ids = [uuid.uuid4(), uuid.uuid4()]
    session = await RequestSession.open(db)
    await session.execute(text("INSERT INTO request_session_probe VALUES (:id)"), {"id": ids[0]})
    conn = await driver(session)
    await conn.execute("INSERT INTO request_session_probe VALUES ($1)", ids[1])
    await session.finish(commit=False)
    assert await _count(db, ids) == 0


async def test_driver_work_after_an_orm_commit_mid_request_is_committed_too(db):
    await _probe_table(db)
    ids = [uuid.uuid4(), uuid.uuid4()]
    session = await RequestSession.open(db)
    await session.execute(text("INSERT INTO request_session_probe VALUES (:id)"), {"id": ids[0]})
    await session.commit()
    conn = await driver(session)  # a new transaction, begun on the driver
    await conn.execute("INSERT INTO request_session_probe VALUES ($1)", ids[1])
    await session.finish(commit=True)
    assert await _count(db, ids) == 2


async def test_connections_go_back_to_the_pool(db):
    pool = db.engine.pool
    before = pool.checkedout()
    for commit in (True, False):
        session = await RequestSession.open(db)
        assert pool.checkedout() == before + 1
        (await session.execute(select(Area).limit(1))).all()
        await session.finish(commit=commit)
        assert pool.checkedout() == before


async def test_a_failed_request_leaves_nothing_and_the_next_one_works(client, world):
    headers = world["director"].headers
    # An ORM read (the child, locked), then a failure: the request's transaction is rolled
    # back and the connection given back clean (the next request on it must not find one).
    r = await client.patch(
        f"/api/v1/children/{uuid.uuid4()}",
        json={"name": "王小明"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert r.status_code == 404, r.text
    for _ in range(3):
        r = await client.get(WORKLIST, headers=headers)
        assert r.status_code == 200, r.text
