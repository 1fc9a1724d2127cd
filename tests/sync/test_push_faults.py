"""The batch push under faults: a connection lost in the middle of a batch ends the whole
request as 503 `database_unavailable` with Retry-After and commits nothing; two phones pushing
in one village at once never deadlock into a per-item 500; and a user's long push does not
hold up that user's other sync requests (the rate-limit counter)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy import func, select, text
from sqlmodel import col

from childprotect_api.core.db import SessionDep
from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.child import Child
from childprotect_api.models.idempotency import SyncPushOp
from childprotect_api.models.visit import Visit
from tests.agreements import agreement_helpers
from tests.conftest import VILLAGE, _asyncpg_dsn
from tests.sync.test_sync_push import PUSH, op
from tests.visits.visit_factories import registered_child, visit_body

# A guard, not a timing: a request that hangs fails the test instead of the run.
BOUND_S = 30


async def _connect(database_url: str) -> asyncpg.Connection:
    # No statement cache: through a transaction-mode PgBouncer (the CI leg) a prepared
    # statement may not live on the next server connection.
    return await asyncpg.connect(_asyncpg_dsn(database_url), statement_cache_size=0)


async def _api_backend_waiting_on_a_lock(conn: asyncpg.Connection) -> int:
    """The pid of the API's backend once it waits on a row lock (the push, mid-batch)."""
    for _ in range(BOUND_S * 20):
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'childprotect-api' AND wait_event_type = 'Lock'"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.05)
    raise AssertionError("the push never waited on the locked row")


async def test_a_connection_lost_mid_push_answers_503_and_commits_nothing(
    client, world, session, settings, database_url
):
    """The push applies two items, then waits on an agreement another transaction holds; its
    backend is terminated there (pg_terminate_backend, as a failover or restart would)."""
    director = world["director"]
    child = await registered_child(session, settings)
    away = await agreement_helpers.away_child(session, settings)
    agreement = await agreement_helpers.create(client, director.headers, away.id)
    new_child_id = uuid.uuid4()
    ops = [
        op("create_visit", visit_body(child.id)),
        op(
            "create_child",
            {**_child_body(), "id": str(new_child_id)},
            id=new_child_id,
        ),
        op(
            "update_agreement",
            {"times_per_week_child": 3},
            id=agreement["id"],
            base_version=agreement["version"],
        ),
        *[op("create_visit", visit_body(child.id)) for _ in range(3)],
    ]
    before = [await _count(session, m) for m in (Child, Visit)]

    holder = await _connect(database_url)
    killer = await _connect(database_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM agreements WHERE id = $1 FOR UPDATE", agreement["id"])
        request = asyncio.create_task(
            client.post(PUSH, json={"operations": ops}, headers=director.headers)
        )
        pid = await _api_backend_waiting_on_a_lock(killer)
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        await tx.rollback()
        r = await asyncio.wait_for(request, BOUND_S)
    finally:
        await holder.close()
        await killer.close()

    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "database_unavailable"
    assert int(r.headers["retry-after"]) > 0
    # Nothing of the batch was committed: not the items applied before the loss.
    await session.rollback()
    assert [await _count(session, m) for m in (Child, Visit)] == before
    # The phone sends it again once the database is back: all applied.
    again = await client.post(PUSH, json={"operations": ops}, headers=director.headers)
    assert again.status_code == 200, again.text
    assert [x["status"] for x in again.json()["results"]] == ["created", "created", "updated"] + [
        "created"
    ] * 3


def _child_body() -> dict[str, Any]:
    from tests.children.child_payloads import new_child

    return new_child()


async def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(select(func.count()).select_from(model))).scalar_one()


# --- two phones at once ---------------------------------------------------------------------


def _crossed_batches(
    x: uuid.UUID, y: uuid.UUID, versions: dict[uuid.UUID, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Phone A visits X and edits Y; phone B visits Y and edits X: each batch locks its
    visits' children first, so without one ordered lock of every child the edits cross."""
    a = [
        op("create_visit", visit_body(x)),
        *[op("create_visit", visit_body(x, kind="phone")) for _ in range(3)],
        op("update_child", {"school": "洪水镇中学"}, id=y, base_version=versions[y]),
    ]
    b = [
        op("create_visit", visit_body(y)),
        *[op("create_visit", visit_body(y, kind="phone")) for _ in range(3)],
        op("update_child", {"grade": "五年级"}, id=x, base_version=versions[x]),
    ]
    return a, b


async def test_two_phones_pushing_in_one_village_never_get_a_500(client, world, session, settings):
    phone_a, phone_b = world["director"], world["supervisor"]
    for _round in range(6):
        x = await registered_child(session, settings, VILLAGE)
        y = await registered_child(session, settings, VILLAGE)
        await session.commit()
        a, b = _crossed_batches(x.id, y.id, {x.id: x.version, y.id: y.version})
        ra, rb = await asyncio.wait_for(
            asyncio.gather(
                client.post(PUSH, json={"operations": a}, headers=phone_a.headers),
                client.post(PUSH, json={"operations": b}, headers=phone_b.headers),
            ),
            BOUND_S,
        )
        for r in (ra, rb):
            # Never a 500, inside the batch or for it; a 503 would be retryable, but the
            # ordered locks leave nothing to retry here.
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert [x["status"] for x in results if x["status"] == "rejected"] == [], results
            assert results[-1]["status"] in ("updated", "merged"), results[-1]


# --- one user's requests --------------------------------------------------------------------


async def test_a_long_push_does_not_hold_up_the_same_users_changes_read(
    client, world, session, settings, database_url
):
    """The push waits (a row another transaction holds); meanwhile the same phone reads its
    changes. The rate-limit count of the push must not hold that read behind it."""
    director = world["director"]
    away = await agreement_helpers.away_child(session, settings)
    agreement = await agreement_helpers.create(client, director.headers, away.id)
    ops = [
        op(
            "update_agreement",
            {"times_per_week_child": 3},
            id=agreement["id"],
            base_version=agreement["version"],
        )
    ]
    holder = await _connect(database_url)
    watcher = await _connect(database_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM agreements WHERE id = $1 FOR UPDATE", agreement["id"])
        pushing = asyncio.create_task(
            client.post(PUSH, json={"operations": ops}, headers=director.headers)
        )
        await _api_backend_waiting_on_a_lock(watcher)
        t0 = time.monotonic()
        try:
            read = await asyncio.wait_for(
                client.get("/api/v1/sync/changes", headers=director.headers), 5
            )
        finally:
            await tx.rollback()
        elapsed = time.monotonic() - t0
        pushed = await asyncio.wait_for(pushing, BOUND_S)
    finally:
        await holder.close()
        await watcher.close()
    assert read.status_code == 200, read.text
    assert elapsed < 5
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] == "updated"


async def test_the_rate_limit_still_counts_every_request(client, world, app, monkeypatch):
    from datetime import UTC, datetime

    from childprotect_api.security import rate_limit

    # One window for the three requests (a minute turning between them would reset it).
    monkeypatch.setattr(rate_limit, "clock", lambda: datetime(2026, 12, 5, 10, 0, 30, tzinfo=UTC))
    app.state.settings.rate_limits = {**app.state.settings.rate_limits, "sync": 2}
    h = world["director"].headers
    codes = [(await client.get("/api/v1/sync/changes", headers=h)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


async def _deadlock_a_push(client, world, session, settings, database_url) -> Any:  # type: ignore[no-untyped-def]
    """Another transaction holds the agreement the push edits, and once the push holds its
    child (locked first) and waits for the agreement, asks for that child: a deadlock, whose
    victim is the push (it waited first, so its deadlock check runs first)."""
    director = world["director"]
    away = await agreement_helpers.away_child(session, settings)
    agreement = await agreement_helpers.create(client, director.headers, away.id)
    ops = [
        op("update_child", {"school": "洪水镇中学"}, id=away.id, base_version=away.version),
        op(
            "update_agreement",
            {"times_per_week_child": 3},
            id=agreement["id"],
            base_version=agreement["version"],
        ),
    ]
    other = await _connect(database_url)
    watcher = await _connect(database_url)
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute("SELECT 1 FROM agreements WHERE id = $1 FOR UPDATE", agreement["id"])
        request = asyncio.create_task(
            client.post(PUSH, json={"operations": ops}, headers=director.headers)
        )
        await _api_backend_waiting_on_a_lock(watcher)
        await other.execute("SELECT 1 FROM children WHERE id = $1 FOR UPDATE", away.id)
        await tx.commit()
        return await asyncio.wait_for(request, BOUND_S)
    finally:
        await other.close()
        await watcher.close()


async def test_a_push_that_loses_a_deadlock_is_run_again(
    client, world, session, settings, database_url
):
    r = await _deadlock_a_push(client, world, session, settings, database_url)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["updated", "updated"]
    # The run that lost left nothing behind: one audit row, one ledger row, per update.
    child_id = uuid.UUID(r.json()["results"][0]["id"])
    audited = await session.execute(
        select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.resource_id) == child_id, col(AuditEvent.action) == "child.update")
    )
    assert audited.scalar_one() == 1
    ledger = await session.execute(
        select(func.count())
        .select_from(SyncPushOp)
        .where(
            col(SyncPushOp.client_id).in_([uuid.UUID(x["client_id"]) for x in r.json()["results"]])
        )
    )
    assert ledger.scalar_one() == 2


async def test_a_push_that_keeps_losing_answers_503_busy(
    client, world, session, settings, database_url, monkeypatch
):
    from childprotect_api.services.sync import push as sync_push

    monkeypatch.setattr(sync_push, "BATCH_ATTEMPTS", 1)
    r = await _deadlock_a_push(client, world, session, settings, database_url)
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_busy"
    assert int(r.headers["retry-after"]) > 0


async def test_any_request_that_loses_a_deadlock_answers_503_busy(client, app, world):
    """Outside the push (which retries its batch first) too: PostgreSQL's deadlock or
    serialization failure is a retryable 503, never a 500."""

    async def lose(session: SessionDep, sqlstate: str) -> dict[str, bool]:
        await session.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '{sqlstate}'; END $$")
        )
        return {"won": True}

    app.add_api_route("/api/v1/test-lose", lose, methods=["POST"])
    for sqlstate in ("40P01", "40001"):
        r = await client.post("/api/v1/test-lose", params={"sqlstate": sqlstate})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "database_busy"
        assert int(r.headers["retry-after"]) > 0
    r = await client.post("/api/v1/test-lose", params={"sqlstate": "22012"})
    assert r.status_code == 500  # any other database error stays a bug
