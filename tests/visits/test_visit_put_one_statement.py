"""PUT /visits/{id} for a user is ONE statement in autocommit (issue #23,
services/visits/at_once.py): the session check, the idempotency check, the child's lock and
due date, the visit row, its change-log rows (triggers), the audit row and the outbox event
together. Counted on the wire (asyncpg, tests/wire.py): before this change a new visit sent 12
statements (BEGIN, the visit looked up, the session check, the child locked, the id looked up
twice, the INSERT, the visit policy, the child's UPDATE, the outbox INSERT, the audit INSERT,
COMMIT) and a retry 5 (BEGIN, look-up, session check, audit, COMMIT); now 1 each."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, text

from childprotect_api.models.audit import AuditEvent
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.sync import SyncChange
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.visit import VisitCreate
from childprotect_api.services.visits.service import _content_fields, content_hash
from tests.conftest import VILLAGE_SAME_TOWNSHIP
from tests.visits.visit_factories import VISITS, registered_child, visit_body
from tests.wire import Wire


async def _audit(session, visit_id) -> list[str]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        select(AuditEvent.action)
        .where(AuditEvent.resource_type == "visit", AuditEvent.resource_id == visit_id)
        .order_by(AuditEvent.id)
    )
    return list(rows.scalars())


async def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _child(session, child_id) -> Child:  # type: ignore[no-untyped-def]
    child = await session.get(Child, child_id, populate_existing=True)
    assert child is not None
    return child


async def test_a_new_visit_and_its_retry_are_one_statement_each(
    client, db, session, settings, world
):
    child = await registered_child(session, settings, risk_level="orange")
    child_id = child.id
    await session.commit()
    h = world["director"].headers
    # Warm the statement's preparation (as a phone's second visit would find it).
    assert (await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child_id, utcnow() - timedelta(days=9)), headers=h)).status_code == 201  # fmt: skip
    version = (await _child(session, child_id)).version
    log_before = await _count(session, SyncChange)

    visit_id = uuid.uuid4()
    visited = utcnow() - timedelta(hours=2)
    body = visit_body(child_id, visited)
    with Wire(db) as wire:
        r = await client.put(f"{VISITS}/{visit_id}", json=body, headers=h)
        await asyncio.sleep(0.3)  # anything sent after the answer counts too
    assert r.status_code == 201, r.text
    assert len(wire.statements) == 1, wire.statements
    assert wire.statements[0].startswith("WITH session_check AS")
    created = r.json()
    assert created["id"] == str(visit_id) and created["visitor_id"] == str(world["director"].id)
    assert created["status"] == "submitted" and created["version"] == 1
    assert r.headers["ETag"] == '"1"'
    # The answer is GET /visits/{id}'s.
    got = await client.get(f"{VISITS}/{visit_id}", headers=h)
    assert got.json() == created

    # Everything the transaction wrote: the child's last visit, due date (orange: 7 days)
    # and version; the audit row; the outbox event; the change-log rows of both.
    row = await _child(session, child_id)
    assert row.last_visit_at == visited
    assert row.next_visit_due == visited + timedelta(days=7)
    assert row.version == version + 1
    assert row.updated_by == world["director"].id
    assert await _audit(session, visit_id) == ["create", "read"]  # and the GET's
    events = (
        (
            await session.execute(
                select(OutboxEvent).where(
                    OutboxEvent.event_type == "visit.created", OutboxEvent.resource_id == visit_id
                )
            )
        )
        .scalars()
        .all()
    )
    assert len(events) == 1
    assert events[0].payload == {"child_id": str(child_id)}
    assert events[0].county_code == row.county_code and events[0].area_code == row.area_code
    logged = (
        await session.execute(
            select(SyncChange.entity_type, SyncChange.entity_id).order_by(SyncChange.seq)
        )
    ).all()
    assert await _count(session, SyncChange) == log_before + 2
    assert ("visit", visit_id) in logged and ("child", child_id) in logged

    # The phone's retry: one statement, the stored visit (200), audited as a read.
    with Wire(db) as wire:
        r = await client.put(f"{VISITS}/{visit_id}", json=body, headers=h)
        await asyncio.sleep(0.3)
    assert r.status_code == 200, r.text
    assert len(wire.statements) == 1, wire.statements
    assert r.json() == created and r.headers["ETag"] == '"1"'
    assert await _audit(session, visit_id) == ["create", "read", "read"]
    # The same id with other content: 409, nothing audited or written.
    r = await client.put(f"{VISITS}/{visit_id}", json=dict(body, notes="改过"), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    assert await _audit(session, visit_id) == ["create", "read", "read"]
    assert (await _child(session, child_id)).version == version + 1


async def test_an_older_visit_and_the_county_policy(client, session, settings, world):
    child = await registered_child(session, settings, risk_level="yellow")
    await session.execute(
        text(
            "INSERT INTO visit_policies (county_code, blue_days, yellow_days, orange_days,"
            " red_days) VALUES (:c, 60, 20, 5, 1)"
            " ON CONFLICT (county_code) DO UPDATE SET yellow_days = 20"
        ),
        {"c": child.county_code},
    )
    await session.commit()
    h = world["director"].headers
    recent = utcnow() - timedelta(days=1)
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(child.id, recent), headers=h)
    assert r.status_code == 201, r.text
    row = await _child(session, child.id)
    assert row.last_visit_at == recent
    assert row.next_visit_due == recent + timedelta(days=20)
    version = row.version
    # A late, older visit is stored but never moves the last visit back (nor the version).
    older_id = uuid.uuid4()
    older = utcnow() - timedelta(days=5)
    r = await client.put(f"{VISITS}/{older_id}", json=visit_body(child.id, older), headers=h)
    assert r.status_code == 201, r.text
    row = await _child(session, child.id)
    assert row.last_visit_at == recent and row.version == version
    assert await _audit(session, older_id) == ["create"]


async def test_scope_closed_and_registration_rules(client, session, settings, world):
    mine = await registered_child(session, settings)
    neighbours = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    closed = await registered_child(session, settings, status="closed", closed_reason="moved_away")
    new = await registered_child(session, settings, days_ago=1)
    await session.commit()
    h = world["director"].headers
    # Another village's child: 404, nothing written.
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(neighbours.id), headers=h)
    assert r.status_code == 404 and r.json()["code"] == "child_not_found"
    # An id taken in another village: the child first (404 for a child out of scope), then
    # 409 without details for one in scope.
    taken = uuid.uuid4()
    other = world["director_other_village"].headers
    r = await client.put(f"{VISITS}/{taken}", json=visit_body(neighbours.id), headers=other)
    assert r.status_code == 201, r.text
    r = await client.put(f"{VISITS}/{taken}", json=visit_body(mine.id), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "id_taken"
    assert str(neighbours.id) not in r.text
    r = await client.put(f"{VISITS}/{taken}", json=visit_body(uuid.uuid4()), headers=h)
    assert r.status_code == 404
    # A closed child: 409; a visit before the registration: 422.
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(closed.id), headers=h)
    assert r.status_code == 409 and r.json()["code"] == "child_closed"
    before = utcnow() - timedelta(days=3)
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(new.id, before), headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "visited_before_registration"
    assert await _count(session, Visit) == 1
    assert (await _child(session, mine.id)).last_visit_at is None


async def test_revoked_session_is_401_at_once_and_nothing_is_written(
    client, session, settings, world
):
    child = await registered_child(session, settings)
    await session.commit()
    director = world["director"]
    await session.execute(
        text("UPDATE token_families SET revoked_at = now() WHERE user_id = :u"),
        {"u": director.id},
    )
    await session.commit()
    visit_id = uuid.uuid4()
    r = await client.put(
        f"{VISITS}/{visit_id}", json=visit_body(child.id), headers=director.headers
    )
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count(session, Visit) == 0
    assert await _audit(session, visit_id) == []
    assert (await _child(session, child.id)).last_visit_at is None


async def test_a_moved_account_is_scoped_by_its_row(client, session, settings, world):
    mine = await registered_child(session, settings)
    neighbours = await registered_child(session, settings, VILLAGE_SAME_TOWNSHIP)
    await session.commit()
    director = world["director"]
    await session.execute(
        text("UPDATE users SET area_code = :a WHERE id = :u"),
        {"a": VILLAGE_SAME_TOWNSHIP, "u": director.id},
    )
    await session.commit()
    h = director.headers
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(mine.id), headers=h)
    assert r.status_code == 404
    r = await client.put(f"{VISITS}/{uuid.uuid4()}", json=visit_body(neighbours.id), headers=h)
    assert r.status_code == 201, r.text
    assert (await _child(session, neighbours.id)).last_visit_at is not None


async def test_a_retry_committed_while_waiting_for_the_child_takes_the_old_path(
    client, db, session, settings, world
):
    """The statement's snapshot cannot see a visit committed while it waited for the child's
    lock: its INSERT fails on the primary key, nothing of it stays, and service.py's path
    answers the stored visit (200), as a retry."""
    child = await registered_child(session, settings)
    child_id = child.id
    await session.commit()
    director = world["director"]
    visit_id = uuid.uuid4()
    body = visit_body(child_id)
    data = VisitCreate.model_validate(body)
    # Hold the child's row lock, as a concurrent request of the same visit would.
    await session.execute(text("SELECT 1 FROM children WHERE id = :c FOR UPDATE"), {"c": child_id})
    with Wire(db) as wire:
        put = asyncio.create_task(
            client.put(f"{VISITS}/{visit_id}", json=body, headers=director.headers)
        )
        await asyncio.sleep(0.5)
        assert not put.done()  # waiting for the child's lock
        session.add(
            Visit(
                id=visit_id,
                original_id=visit_id,
                child_id=child_id,
                county_code=child.county_code,
                area_code=child.area_code,
                visitor_id=director.id,
                content_hash=content_hash(data),
                **_content_fields(data),
            )
        )
        await session.commit()
        r = await put
        await asyncio.sleep(0.3)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(visit_id)
    # The one statement, then service.py's path (its session check, its transaction).
    assert len(wire.starting("WITH session_check AS")) == 1
    assert wire.starting("SELECT users.is_active")
    assert await _count(session, Visit) == 1
    assert await _audit(session, visit_id) == ["read"]  # the replay; no "create"
    assert (await _child(session, child_id)).last_visit_at is None  # nothing of it stayed
