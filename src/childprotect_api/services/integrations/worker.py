"""Delivers webhooks from the outbox, safely with any number of workers.

One pass (`run_once`):
1. fan-out: outbox events past the cursor become one delivery row per matching subscription
   (`webhooks.may_receive` decides; a unique (subscription, event) makes it idempotent). The
   cursor row is locked (SKIP LOCKED: one worker fans out at a time) and only moves past
   events once every transaction that could still commit an older outbox id has ended.
2. deliver: due deliveries are claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, marked
   `delivering` with a lease, and committed; then POSTed (signed) outside any transaction;
   then the result is recorded, only if the claim is still ours. A worker that dies mid-way
   leaves a lease that runs out, and the delivery is tried again.

It runs inside `serve` (app lifespan, when settings.jobs_enabled) and as
`childprotect-api worker`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.models.base import utcnow
from childprotect_api.models.client import IntegrationClient
from childprotect_api.models.outbox import OutboxEvent
from childprotect_api.models.webhook import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from childprotect_api.security import netguard
from childprotect_api.services.integrations.fanout import FANOUT_BATCH, fan_out
from childprotect_api.services.integrations.webhooks import check_url, may_receive, signing_secret

log = logging.getLogger(__name__)

DELIVERY_BATCH = 50
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# A claimed delivery belongs to its worker this long; then any worker may take it again.
LEASE = timedelta(seconds=60)
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
POLL_SECONDS = 2.0
# Keys a payload must never carry, whatever an emitter put in: webhooks carry ids.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "child_name",
        "id_number",
        "phone",
        "address",
        "description",
        "child_description",
        "notes",
        "reporter",
        "reporter_name",
        "reporter_phone",
        "caregiver_name",
    }
)
USER_AGENT = "childprotect-api-webhooks/1"
# All a delivery log says of a URL whose address is refused (security/netguard.py).
REFUSED = "refused"


@dataclass
class RunStats:
    fanned_out: int = 0
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class _Job:
    delivery_id: uuid.UUID
    attempt: int
    event_type: str
    url: str
    secret: str
    body: bytes
    retry_until: datetime
    skip: str | None = None  # why not to send (the delivery dies)


@dataclass(frozen=True)
class _Result:
    job: _Job
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Childprotect-Signature value: HMAC-SHA256 over "{timestamp}.{body}"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def retry_delay(attempt: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour, each with +-20 % jitter so receivers that
    come back are not hit by every delivery at the same instant."""
    base = min(FIRST_RETRY_SECONDS * 2 ** max(attempt - 1, 0), MAX_RETRY_SECONDS)
    jitter = random.uniform(0.8, 1.2)  # noqa: S311  (spreading load, not security)
    return timedelta(seconds=min(base * jitter, MAX_RETRY_SECONDS))


def _strip_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_personal(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [_strip_personal(v) for v in value]
    return value


def payload_body(event: OutboxEvent) -> bytes:
    payload = {
        "id": event.id,
        "type": event.event_type,
        "created_at": event.created_at.isoformat() if event.created_at else None,
        "area_code": event.area_code,
        "resource": {
            "type": event.resource_type,
            "id": str(event.resource_id) if event.resource_id else None,
        },
        "data": _strip_personal(event.payload),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        batch_size: int = DELIVERY_BATCH,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.batch_size = batch_size
        self._http = http
        # How host names are resolved (tests give their own, so nothing leaves the machine).
        self.resolve = netguard.resolve

    async def run_once(self, now: datetime | None = None) -> RunStats:
        """One pass: fan out new events, then deliver what is due at `now`."""
        now = now or utcnow()
        stats = RunStats(fanned_out=await self.fan_out(now))
        jobs = await self.claim(now)
        stats.claimed = len(jobs)
        if not jobs:
            return stats
        to_send = [j for j in jobs if j.skip is None]
        if self._http is not None:
            results = await self._send_all(self._http, to_send, now)
        else:
            async with _http_client() as http:
                results = await self._send_all(http, to_send, now)
        skipped = [_Result(j, None, j.skip, 0) for j in jobs if j.skip is not None]
        await self._record(results, skipped, now, stats)
        return stats

    # --- fan-out ---------------------------------------------------------------------------

    async def fan_out(self, now: datetime) -> int:
        return await fan_out(self.db, now)

    # --- claim, send, record ---------------------------------------------------------------

    async def claim(self, now: datetime) -> list[_Job]:
        async with self.db.sessionmaker() as session, session.begin():
            rows = list(
                (
                    await session.execute(
                        select(WebhookDelivery)
                        # Literal, so the partial index's predicate is provably implied.
                        .where(
                            text("webhook_deliveries.status IN ('pending', 'delivering', 'failed')")
                        )
                        .where(col(WebhookDelivery.next_attempt_at) <= now)
                        .order_by(col(WebhookDelivery.next_attempt_at))
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not rows:
                return []
            for d in rows:
                d.status = DeliveryStatus.delivering.value
                d.attempts += 1
                d.next_attempt_at = now + LEASE
            jobs = await self._jobs(session, rows)
            await session.flush()
            return jobs

    async def _jobs(self, session: AsyncSession, rows: list[WebhookDelivery]) -> list[_Job]:
        subs = await _by_id(session, WebhookSubscription, {d.subscription_id for d in rows})
        clients = await _by_id(session, IntegrationClient, {s.client_id for s in subs.values()})
        events = {
            e.id: e
            for e in (
                await session.execute(
                    select(OutboxEvent).where(
                        col(OutboxEvent.id).in_({d.outbox_event_id for d in rows})
                    )
                )
            ).scalars()
        }
        jobs = []
        for d in rows:
            sub = subs[d.subscription_id]
            client = clients[sub.client_id]
            event = events[d.outbox_event_id]
            skip = None
            if not sub.is_active or sub.deleted_at is not None:
                skip = "subscription deleted"
            elif not client.is_active:
                skip = "client disabled"
            elif not may_receive(
                client.area_code, client.scopes, event.event_type, event.area_code
            ):
                skip = "no longer allowed for this client"
            secret = ""
            if skip is None:
                try:
                    secret = signing_secret(self.settings, sub)
                except Exception:  # a changed data key: this one can never be signed
                    skip = "signing secret unreadable"
            jobs.append(
                _Job(
                    d.id,
                    d.attempts,
                    d.event_type,
                    sub.url,
                    secret,
                    payload_body(event),
                    d.retry_until,
                    skip,
                )
            )
        return jobs

    async def _send_all(
        self, http: httpx.AsyncClient, jobs: list[_Job], now: datetime
    ) -> list[_Result]:
        return list(await asyncio.gather(*(self._send(http, j, now) for j in jobs)))

    async def _send(self, http: httpx.AsyncClient, job: _Job, now: datetime) -> _Result:
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Childprotect-Event": job.event_type,
            "X-Childprotect-Delivery": str(job.delivery_id),
            "X-Childprotect-Timestamp": timestamp,
            "X-Childprotect-Signature": sign(job.secret, timestamp, job.body),
        }
        try:
            target = await self._pinned(job.url, headers)
        except Exception:
            # A refused address, or a name that does not resolve now: nothing more (the
            # status, error and time of an attempt would tell a client what lives on the
            # server's own network, and which internal names exist). Retried like any failure
            # (DNS may answer otherwise later), so both read the same.
            return _Result(job, None, REFUSED, 0)
        url, extensions = target
        started = time.monotonic()
        code: int | None = None
        try:
            # Streamed and never read: a receiver's answer body is none of our business.
            async with http.stream(
                "POST", url, content=job.body, headers=headers, extensions=extensions
            ) as r:
                code = r.status_code
            error = None if 200 <= code < 300 else f"HTTP {code}"
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as e:
            error = f"connection failed ({type(e).__name__})"
        except Exception as e:  # anything unexpected: keep the worker alive
            error = f"not sent ({type(e).__name__})"
        elapsed = int((time.monotonic() - started) * 1000)
        return _Result(job, code, error, elapsed)

    async def _pinned(self, url: str, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The URL to POST to, with its host replaced by the checked address (the Host header
        and TLS server name keep the name): resolved now, every address allowed, or refused."""
        check_url(url, self.settings)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        allow = self.settings.webhook_allowed_networks
        address = netguard.choose(await self.resolve(host, port), allow)
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        extensions: dict[str, Any] = {}
        if parts.scheme == "https":
            extensions["sni_hostname"] = host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), extensions

    async def _record(
        self, results: list[_Result], skipped: list[_Result], now: datetime, stats: RunStats
    ) -> None:
        async with self.db.sessionmaker() as session, session.begin():
            for res in [*results, *skipped]:
                d = await session.get(WebhookDelivery, res.job.delivery_id, with_for_update=True)
                if res.job.skip is None:
                    session.add(
                        WebhookAttempt(
                            delivery_id=res.job.delivery_id,
                            attempted_at=now,
                            status_code=res.status_code,
                            error=res.error,
                            duration_ms=res.duration_ms,
                        )
                    )
                # The lease ran out and another worker took the delivery: its result wins.
                if (
                    d is None
                    or d.status != DeliveryStatus.delivering
                    or d.attempts != res.job.attempt
                ):
                    continue
                d.last_status_code = res.status_code
                d.last_error = res.error
                if res.ok:
                    d.status = DeliveryStatus.delivered.value
                    d.delivered_at = now
                    stats.delivered += 1
                elif res.job.skip is not None or now >= d.retry_until:
                    d.status = DeliveryStatus.dead.value
                    stats.dead += 1
                else:
                    d.status = DeliveryStatus.failed.value
                    d.next_attempt_at = min(now + retry_delay(d.attempts), d.retry_until)
                    stats.failed += 1
            await session.flush()

    # --- the loop --------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = POLL_SECONDS) -> None:
        errors = 0
        async with _http_client() as http:
            self._http = http
            while not stop.is_set():
                try:
                    stats = await self.run_once()
                    errors = 0
                    busy = stats.claimed >= self.batch_size or stats.fanned_out >= FANOUT_BATCH
                except Exception as e:
                    # Type only: messages can quote SQL parameters.
                    log.error("webhook worker pass failed: %s", type(e).__name__)
                    errors += 1
                    busy = False
                if busy:
                    continue
                wait = poll_seconds * min(2**errors, 30)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        self._http = None


def _http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False, trust_env=False)


async def _by_id(session: AsyncSession, model: Any, ids: Iterable[uuid.UUID]) -> dict[Any, Any]:
    rows = await session.execute(select(model).where(model.id.in_(list(ids))))
    return {r.id: r for r in rows.scalars()}


class BackgroundWorker:
    """The worker as a task of the API process (started and stopped by the app lifespan)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(WebhookWorker(db, settings).run_forever(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=15)
        except TimeoutError:
            self._task.cancel()


async def run_worker(url: str, settings: Settings, *, once: bool) -> RunStats | None:
    """`childprotect-api worker`: until SIGINT/SIGTERM, or one pass with --once."""
    import signal

    db = Database.create(
        url, pool_size=2, max_overflow=2, transaction_pooling=settings.db_transaction_pooling
    )
    try:
        worker = WebhookWorker(db, settings)
        if once:
            return await worker.run_once()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("webhook worker running")
        await worker.run_forever(stop)
        return None
    finally:
        await db.dispose()
