"""Webhook subscriptions, who receives which event, and delivery from the outbox: signed,
retried with backoff, dead-lettered, never twice at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from childprotect_api.config import Settings
from childprotect_api.core import outbox
from childprotect_api.core.db import Database
from childprotect_api.core.errors import Unprocessable
from childprotect_api.models.base import utcnow
from childprotect_api.models.client import IntegrationClient
from childprotect_api.models.webhook import WebhookDelivery, WebhookSubscription
from childprotect_api.services.integrations.webhooks import check_url, may_receive
from childprotect_api.services.integrations.worker import WebhookWorker, retry_delay, sign
from tests.conftest import (
    ACTORS,
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
)
from tests.integrations.client_helpers import seed_client
from tests.integrations.webhook_receiver import Receiver, start_receiver

HOOKS = "/api/v1/webhooks"
READ_ALL = ["children:read", "reports:read"]


@pytest.fixture
async def receiver():
    r, server, task = await start_receiver()
    yield r
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
def worker(db, settings) -> WebhookWorker:
    return WebhookWorker(db, settings)


async def subscribe(http, headers, receiver: Receiver, path: str, events, **extra) -> dict:
    r = await http.post(
        HOOKS, json={"url": receiver.url(path), "event_types": events, **extra}, headers=headers
    )
    assert r.status_code == 201, r.text
    receiver.secrets[path] = r.json()["secret"]
    return r.json()


async def emit(session, event_type: str, area: str | None, **payload):
    event = await outbox.emit(
        session,
        event_type,
        resource_type=event_type.split(".")[0],
        resource_id=uuid.uuid4(),
        area_code=area,
        payload=payload,
    )
    await session.commit()
    return event


async def deliveries(http, headers, sub_id: str, **params) -> list[dict]:
    r = await http.get(f"{HOOKS}/{sub_id}/deliveries", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# --- subscriptions -----------------------------------------------------------------------


async def test_client_manages_its_subscriptions(client, world, session, settings, receiver):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    body = await subscribe(
        client, c.headers, receiver, "/a", ["report.submitted", "child.risk_raised"]
    )
    assert body["secret"].startswith("whsec_") and body["client_id"] == c.id
    row = await session.get(WebhookSubscription, uuid.UUID(body["id"]))
    assert row is not None and body["secret"].encode() not in row.secret_enc
    r = await client.get(f"{HOOKS}/{body['id']}", headers=c.headers)
    assert r.status_code == 200 and "secret" not in r.json()
    assert r.json()["event_types"] == ["report.submitted", "child.risk_raised"]
    await subscribe(client, c.headers, receiver, "/b", ["visit.overdue"])
    r = await client.get(HOOKS, params={"limit": 1}, headers=c.headers)
    first = r.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    r = await client.get(HOOKS, params={"cursor": first["next_cursor"]}, headers=c.headers)
    assert [s["url"] for s in first["items"] + r.json()["items"]] == [
        receiver.url("/a"),
        receiver.url("/b"),
    ]
    assert (await client.delete(f"{HOOKS}/{body['id']}", headers=c.headers)).status_code == 204
    assert (await client.get(f"{HOOKS}/{body['id']}", headers=c.headers)).status_code == 404
    assert (await client.delete(f"{HOOKS}/{body['id']}", headers=c.headers)).status_code == 404
    r = await client.get(HOOKS, headers=c.headers)
    assert [s["url"] for s in r.json()["items"]] == [receiver.url("/b")]


@pytest.mark.parametrize(
    ("scopes", "event", "missing"),
    [
        (["children:read"], "report.submitted", "reports:read"),
        (["children:read", "reports:write"], "report.overdue", "reports:read"),
        (["reports:read"], "child.risk_raised", "children:read"),
        (["reports:read", "schooling:write"], "visit.overdue", "children:read"),
        (["reports:read"], "agreement.expiring", "children:read"),
        (["reports:read"], "child.transferred", "children:read"),
    ],
)
async def test_event_types_need_their_scope(
    client, world, session, settings, scopes, event, missing
):
    c = await seed_client(session, settings, scopes=scopes, area=COUNTY)
    r = await client.post(
        HOOKS, json={"url": "https://example.org/h", "event_types": [event]}, headers=c.headers
    )
    assert r.status_code == 403
    assert r.json()["code"] == "missing_scope" and r.json()["missing_scope"] == missing


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "http://example.org/h", "event_types": ["visit.overdue"]}, "url", "insecure_url"),
        ({"url": "ftp://example.org/h", "event_types": ["visit.overdue"]}, "url", "invalid_url"),
        ({"url": "not a url at all", "event_types": ["visit.overdue"]}, "url", "invalid_url"),
        (
            {"url": "https://u:p@example.org/", "event_types": ["visit.overdue"]},
            "url",
            "invalid_url",
        ),
        ({"url": "https://example.org/h", "event_types": ["child.deleted"]}, "event_types.0", None),
        ({"url": "https://example.org/h", "event_types": []}, "event_types", None),
        ({"url": "https://example.org/h"}, "event_types", None),
        ({"url": "https://x.org/" + "a" * 2000, "event_types": ["visit.overdue"]}, "url", None),
    ],
)
async def test_bad_subscription_inputs(client, world, session, settings, body, field, code):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    r = await client.post(HOOKS, json=body, headers=c.headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    if code:
        assert r.json()["code"] == code


def test_plain_http_only_to_localhost_in_local_and_test_mode(settings):
    assert check_url("http://127.0.0.1:9000/h", settings)
    assert check_url("http://localhost/h", settings)
    staging = Settings(
        env="staging",
        DATABASE_URL="postgresql://x/y",
        jwt_keys="k" * 40,
        data_key="d" * 40,
    )
    assert check_url("https://edu.example.cn/h", staging)
    with pytest.raises(Unprocessable):
        check_url("http://127.0.0.1:9000/h", staging)


async def test_subscriptions_are_private_to_their_client(
    client, world, session, settings, receiver
):
    a = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="A")
    b = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="B")
    sub = await subscribe(client, a.headers, receiver, "/a", ["visit.overdue"])
    sid = sub["id"]
    for call in (
        client.get(f"{HOOKS}/{sid}", headers=b.headers),
        client.delete(f"{HOOKS}/{sid}", headers=b.headers),
        client.get(f"{HOOKS}/{sid}/deliveries", headers=b.headers),
        client.post(f"{HOOKS}/{sid}/deliveries/{uuid.uuid4()}/redeliver", headers=b.headers),
    ):
        assert (await call).status_code == 404
    assert (await client.get(HOOKS, headers=b.headers)).json()["items"] == []
    # B cannot subscribe on A's behalf.
    r = await client.post(
        HOOKS,
        json={"url": "https://example.org/h", "event_types": ["visit.overdue"], "client_id": a.id},
        headers=b.headers,
    )
    assert r.status_code == 404
    # Admins manage any client's subscriptions.
    admin = world["admin"].headers
    assert (await client.get(f"{HOOKS}/{sid}", headers=admin)).status_code == 200
    r = await client.get(HOOKS, params={"client_id": a.id}, headers=admin)
    assert [s["id"] for s in r.json()["items"]] == [sid]
    r = await client.post(
        HOOKS,
        json={"url": "https://example.org/h", "event_types": ["visit.overdue"]},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "client_id"
    r = await client.post(
        HOOKS,
        json={
            "url": "https://example.org/h",
            "event_types": ["report.submitted"],
            "client_id": b.id,
        },
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["client_id"] == b.id
    # Staff roles have no business here.
    for actor in [x for x in ACTORS if x != "admin"]:
        h = world[actor].headers
        assert (await client.get(HOOKS, headers=h)).status_code == 403
        assert (await client.get(f"{HOOKS}/{sid}", headers=h)).status_code == 403


async def test_subscription_limit(client, world, session, settings):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    body = {"url": "https://example.org/h", "event_types": ["visit.overdue"]}
    for _ in range(10):
        assert (await client.post(HOOKS, json=body, headers=c.headers)).status_code == 201
    r = await client.post(HOOKS, json=body, headers=c.headers)
    assert r.status_code == 409 and r.json()["code"] == "subscription_limit"


# --- who receives what -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_area", "scopes", "event_type", "event_area", "expected"),
    [
        (COUNTY, ["reports:read"], "report.submitted", VILLAGE, True),
        (COUNTY, ["reports:read"], "report.overdue", VILLAGE, True),
        (TOWNSHIP, ["reports:read"], "report.submitted", VILLAGE_OTHER_TOWNSHIP, False),
        (COUNTY, ["reports:read"], "report.submitted", VILLAGE_OTHER_COUNTY, False),
        (COUNTY, ["children:read"], "report.submitted", VILLAGE, False),
        (COUNTY, ["reports:write"], "report.submitted", VILLAGE, False),
        (VILLAGE, ["children:read"], "child.risk_raised", VILLAGE, True),
        (VILLAGE, ["children:read"], "visit.overdue", VILLAGE, True),
        (VILLAGE, ["children:read"], "agreement.expiring", VILLAGE, True),
        (VILLAGE, ["children:read"], "child.transferred", VILLAGE, True),
        (VILLAGE, ["reports:read", "children:write"], "visit.overdue", VILLAGE, False),
        (VILLAGE, ["children:read"], "child.risk_raised", TOWNSHIP, False),
        ("62", ["children:read"], "child.risk_raised", None, False),
        ("62", ["children:read"], "child.deleted", VILLAGE, False),
    ],
)
def test_may_receive(client_area, scopes, event_type, event_area, expected):
    assert may_receive(client_area, scopes, event_type, event_area) is expected


async def test_fan_out_respects_area_type_and_scopes(
    client, world, session, settings, receiver, worker
):
    county = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="county")
    other = await seed_client(
        session, settings, scopes=READ_ALL, area=VILLAGE_OTHER_COUNTY, name="o"
    )
    shrunk = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="shrunk")
    await subscribe(
        client, county.headers, receiver, "/county", ["report.submitted", "child.risk_raised"]
    )
    await subscribe(client, other.headers, receiver, "/other", ["report.submitted"])
    await subscribe(
        client, shrunk.headers, receiver, "/shrunk", ["report.submitted", "visit.overdue"]
    )
    # The client lost reports:read after subscribing: it stops receiving report events.
    await session.execute(
        update(IntegrationClient)
        .where(IntegrationClient.id == uuid.UUID(shrunk.id))
        .values(scopes=["children:read"])
    )
    await session.commit()
    e1 = await emit(session, "report.submitted", VILLAGE, report_id=str(uuid.uuid4()))
    e2 = await emit(session, "child.risk_raised", VILLAGE, child_id="c1", new_level="red")
    await emit(session, "visit.overdue", VILLAGE_OTHER_TOWNSHIP, child_id="c2")
    e4 = await emit(session, "report.submitted", VILLAGE_OTHER_COUNTY, report_id="r2")
    await emit(session, "report.submitted", None)
    e6 = await emit(session, "visit.overdue", VILLAGE_OTHER_TOWNSHIP, child_id="c3")

    stats = await worker.run_once()
    assert stats.delivered == 5 and stats.failed == stats.dead == 0
    got = {(h.path, h.body["id"]) for h in receiver.hits}
    assert got == {
        ("/county", e1.id),
        ("/county", e2.id),
        ("/other", e4.id),
        ("/shrunk", e6.id - 3),  # the first visit.overdue
        ("/shrunk", e6.id),
    }
    assert all(h.signature_ok for h in receiver.hits)
    # Nothing more on the next pass: fan-out and delivery happen once.
    await worker.run_once()
    assert len(receiver.hits) == 5


async def test_signed_payload_carries_ids_only(client, world, session, settings, receiver, worker):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["report.submitted"])
    report_id = str(uuid.uuid4())
    event = await emit(
        session, "report.submitted", VILLAGE, report_id=report_id, name="王小明", situation="x"
    )
    await worker.run_once()
    [hit] = receiver.hits
    assert hit.signature_ok and hit.status == 200
    row = (await session.execute(select(WebhookDelivery))).scalar_one()
    assert hit.headers["x-childprotect-event"] == "report.submitted"
    assert hit.headers["x-childprotect-delivery"] == str(row.id)
    assert hit.headers["x-childprotect-signature"].startswith("sha256=")
    assert abs(int(hit.headers["x-childprotect-timestamp"]) - utcnow().timestamp()) < 60
    assert hit.headers["content-type"] == "application/json"
    assert set(hit.body) == {"id", "type", "created_at", "area_code", "resource", "data"}
    assert hit.body["id"] == event.id and hit.body["type"] == "report.submitted"
    assert hit.body["data"] == {"report_id": report_id, "situation": "x"}  # no name
    assert "王小明" not in str(hit.body)
    [d] = await deliveries(client, c.headers, sub["id"])
    assert d["status"] == "delivered" and d["event_id"] == event.id and d["attempts"] == 1
    assert d["attempt_log"][0]["status_code"] == 200 and d["delivered_at"]


async def test_a_receiver_with_the_wrong_secret_refuses(
    client, world, session, settings, receiver, worker
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    receiver.secrets["/h"] = "whsec_not-the-one"
    await emit(session, "visit.overdue", VILLAGE, child_id="c1")
    stats = await worker.run_once()
    assert stats.failed == 1
    [hit] = receiver.hits
    assert not hit.signature_ok
    [d] = await deliveries(client, c.headers, sub["id"])
    assert (
        d["status"] == "failed" and d["last_status_code"] == 401 and d["last_error"] == "HTTP 401"
    )


def test_signature_and_backoff_helpers():
    assert sign("s", "1700000000", b"{}") == sign("s", "1700000000", b"{}")
    assert sign("s", "1700000000", b"{}") != sign("s", "1700000001", b"{}")
    for attempt, base in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)]:
        for _ in range(20):
            d = retry_delay(attempt).total_seconds()
            assert base * 0.8 <= d <= min(base * 1.2, 3600)


# --- retries, dead letters, redelivery ---------------------------------------------------


async def test_retry_after_two_failures(client, world, session, settings, receiver, worker):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["agreement.expiring"])
    receiver.scripts["/h"] = [500, 503]
    await emit(session, "agreement.expiring", VILLAGE, agreement_id="a1")
    t0 = utcnow()
    assert (await worker.run_once(t0)).failed == 1
    [d] = await deliveries(client, c.headers, sub["id"])
    assert d["status"] == "failed" and d["last_status_code"] == 500
    wait = d["next_attempt_at"]
    assert 24 <= (_parse(wait) - t0).total_seconds() <= 36
    # Not due yet: nothing is sent.
    assert (await worker.run_once(t0 + timedelta(seconds=10))).claimed == 0
    assert (await worker.run_once(t0 + timedelta(seconds=40))).failed == 1
    assert (await worker.run_once(t0 + timedelta(seconds=200))).delivered == 1
    assert [h.status for h in receiver.hits] == [500, 503, 200]
    assert len({h.headers["x-childprotect-delivery"] for h in receiver.hits}) == 1
    assert len({h.body["id"] for h in receiver.hits}) == 1
    [d] = await deliveries(client, c.headers, sub["id"])
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["next_attempt_at"] is None
    assert [a["status_code"] for a in d["attempt_log"]] == [500, 503, 200]
    assert all(a["duration_ms"] >= 0 for a in d["attempt_log"])


async def test_dead_letter_after_a_day_then_redeliver(
    client, world, session, settings, receiver, worker
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["report.overdue"])
    receiver.scripts["/h"] = [500] * 20
    await emit(session, "report.overdue", VILLAGE, report_id="r1")
    t0 = utcnow()
    await worker.run_once(t0)
    # Retries never get scheduled past the 24-hour window ...
    stats = await worker.run_once(t0 + timedelta(hours=23, minutes=59))
    assert stats.failed == 1
    [d] = await deliveries(client, c.headers, sub["id"])
    assert _parse(d["next_attempt_at"]) <= t0 + timedelta(hours=24, seconds=5)
    # ... and the attempt after it is the last.
    stats = await worker.run_once(t0 + timedelta(hours=25))
    assert stats.dead == 1
    assert (await worker.run_once(t0 + timedelta(hours=48))).claimed == 0
    [d] = await deliveries(client, c.headers, sub["id"], status="dead")
    assert d["attempts"] == 3 and len(d["attempt_log"]) == 3 and d["next_attempt_at"] is None
    assert len(receiver.hits) == 3

    receiver.scripts["/h"] = []
    r = await client.post(f"{HOOKS}/{sub['id']}/deliveries/{d['id']}/redeliver", headers=c.headers)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert (await worker.run_once()).delivered == 1
    assert receiver.hits[-1].status == 200 and receiver.hits[-1].signature_ok
    [d] = await deliveries(client, c.headers, sub["id"])
    assert d["status"] == "delivered" and len(d["attempt_log"]) == 4
    # A delivered one can be sent again too (the receiver lost it).
    r = await client.post(
        f"{HOOKS}/{sub['id']}/deliveries/{d['id']}/redeliver", headers=world["admin"].headers
    )
    assert r.status_code == 202
    await worker.run_once()
    assert len(receiver.ok_hits()) == 2


async def test_redeliver_refuses_a_delivery_in_flight(
    client, world, session, settings, receiver, worker
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    await emit(session, "visit.overdue", VILLAGE, child_id="c1")
    await worker.fan_out(utcnow())
    await session.execute(
        update(WebhookDelivery).values(
            status="delivering", next_attempt_at=utcnow() + timedelta(minutes=1)
        )
    )
    await session.commit()
    [d] = await deliveries(client, c.headers, sub["id"])
    r = await client.post(f"{HOOKS}/{sub['id']}/deliveries/{d['id']}/redeliver", headers=c.headers)
    assert r.status_code == 409 and r.json()["code"] == "delivery_in_flight"
    r = await client.post(
        f"{HOOKS}/{sub['id']}/deliveries/{uuid.uuid4()}/redeliver", headers=c.headers
    )
    assert r.status_code == 404
    # A worker that died mid-flight: once the lease ends, another worker sends it.
    assert (await worker.run_once()).claimed == 0
    assert (await worker.run_once(utcnow() + timedelta(minutes=2))).delivered == 1


async def test_delivery_log_pages_and_filters(client, world, session, settings, receiver, worker):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    sub = await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    events = [await emit(session, "visit.overdue", VILLAGE, child_id=str(i)) for i in range(3)]
    await worker.run_once()
    url = f"{HOOKS}/{sub['id']}/deliveries"
    r = await client.get(url, params={"limit": 2}, headers=c.headers)
    page = r.json()
    assert [d["event_id"] for d in page["items"]] == [events[2].id, events[1].id]
    r = await client.get(url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=c.headers)
    assert [d["event_id"] for d in r.json()["items"]] == [events[0].id]
    assert r.json()["next_cursor"] is None
    assert await deliveries(client, c.headers, sub["id"], status="dead") == []
    for params in ({"status": "lost"}, {"cursor": "!!"}, {"cursor": "WyJ4Il0"}, {"limit": 0}):
        r = await client.get(url, params=params, headers=c.headers)
        assert r.status_code == 422, params


async def test_deleted_subscriptions_and_disabled_clients_get_nothing(
    client, world, session, settings, receiver, worker
):
    a = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="a")
    b = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY, name="b")
    sa = await subscribe(client, a.headers, receiver, "/a", ["visit.overdue"])
    await subscribe(client, b.headers, receiver, "/b", ["visit.overdue"])
    await emit(session, "visit.overdue", VILLAGE, child_id="c1")
    await worker.fan_out(utcnow())
    assert (await client.delete(f"{HOOKS}/{sa['id']}", headers=a.headers)).status_code == 204
    r = await client.post(f"/api/v1/clients/{b.id}/disable", headers=world["admin"].headers)
    assert r.status_code == 200
    await worker.run_once()
    assert receiver.hits == []
    rows = (await session.execute(select(WebhookDelivery))).scalars().all()
    assert sorted((d.status, d.last_error) for d in rows) == [
        ("dead", "client disabled"),
        ("dead", "subscription deleted"),
    ]
    # New events are not even fanned out to them.
    await emit(session, "visit.overdue", VILLAGE, child_id="c2")
    assert (await worker.run_once()).fanned_out == 0


# --- concurrency and the outbox cursor ---------------------------------------------------


async def test_two_workers_never_deliver_the_same_event_twice(
    client, world, session, settings, receiver, db
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    events = [await emit(session, "visit.overdue", VILLAGE, child_id=str(i)) for i in range(30)]
    receiver.delay = 0.02
    assert settings.database_url
    other_db = Database.create(settings.database_url, pool_size=2, max_overflow=0)
    workers = [
        WebhookWorker(db, settings, batch_size=5),
        WebhookWorker(other_db, settings, batch_size=5),
    ]
    claimed = [0, 0]

    async def drain(i: int) -> None:
        for _ in range(20):
            stats = await workers[i].run_once()
            claimed[i] += stats.claimed
            if stats.claimed == 0 and stats.fanned_out == 0:
                await asyncio.sleep(0.05)
                if (await workers[i].run_once()).claimed == 0:
                    return

    try:
        await asyncio.gather(drain(0), drain(1))
    finally:
        await other_db.dispose()
    ids = [h.body["id"] for h in receiver.hits]
    assert sorted(ids) == sorted(e.id for e in events), "each event exactly once"
    assert sum(claimed) == 30 and min(claimed) > 0, claimed
    count = (await session.execute(select(func.count()).select_from(WebhookDelivery))).scalar()
    assert count == 30


async def test_an_event_committed_late_is_not_skipped(
    client, world, session, settings, receiver, worker, db
):
    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    async with db.sessionmaker() as slow:
        # A transaction takes an outbox id first but commits after a later one.
        early = await outbox.emit(
            slow, "visit.overdue", resource_type="visit", resource_id=None, area_code=VILLAGE
        )
        later = await emit(session, "visit.overdue", VILLAGE)
        assert early.id < later.id
        await worker.run_once()
        assert [h.body["id"] for h in receiver.hits] == [later.id]
        await slow.commit()
    await worker.run_once()
    await worker.run_once()
    assert sorted(h.body["id"] for h in receiver.hits) == [early.id, later.id]


# --- running it ----------------------------------------------------------------------------


async def test_worker_runs_in_the_app_lifespan(settings, db, session, receiver, world):
    from childprotect_api.main import create_app

    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    app = create_app(settings.model_copy(update={"jobs_enabled": True}), db)
    import httpx

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            await subscribe(http, c.headers, receiver, "/h", ["child.transferred"])
        await emit(session, "child.transferred", VILLAGE, child_id="c1")
        for _ in range(100):
            if receiver.hits:
                break
            await asyncio.sleep(0.1)
    assert [h.status for h in receiver.hits] == [200]


async def test_worker_command_once(
    database_url, monkeypatch, session, settings, receiver, world, client
):
    from childprotect_api.cli import main
    from childprotect_api.config import get_settings

    c = await seed_client(session, settings, scopes=READ_ALL, area=COUNTY)
    await subscribe(client, c.headers, receiver, "/h", ["visit.overdue"])
    await emit(session, "visit.overdue", VILLAGE)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CHILDPROTECT_ENV", "test")
    monkeypatch.setenv("CHILDPROTECT_WEBHOOK_ALLOW_NETWORKS", settings.webhook_allow_networks)
    monkeypatch.setenv("CHILDPROTECT_DATA_DIR", str(Path(settings.data_dir)))
    get_settings.cache_clear()
    try:
        assert await asyncio.to_thread(main, ["worker", "--once"]) == 0
    finally:
        get_settings.cache_clear()
    assert [h.status for h in receiver.hits] == [200]


def _parse(value: str):
    from datetime import datetime

    return datetime.fromisoformat(value)
