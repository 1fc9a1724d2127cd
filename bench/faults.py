"""Fault scenarios against the real API (uvicorn subprocesses): the server killed (SIGKILL) in
the middle of the work, then restarted; the database stopped and started under a running
server. Each scenario runs several times, with the fault at a random point, checks its
invariants in the database every time and prints PASS, FAIL or SKIP.

    python -m bench.faults                          # every scenario, 5 runs each
    python -m bench.faults --scenario import --runs 3
    python -m bench.faults --quick                  # 1 run each, small sizes (about a minute)

Scenarios:
  attachment  PUT a visit, then stream a large attachment slowly and SIGKILL the server at a
              random chunk (or just after the last one). After the restart: the visit is
              there, at most one attachment row and only a whole one (the file's SHA-256 and
              size); a retry (PUT again, upload again) leaves exactly one, and a second
              upload of the same file answers 200 without a second row.
  import      A bulk import large enough to run as a job, SIGKILL at a random point of it.
              After the restart: every child of the file is either whole (its risk history
              and its audit event with it) or absent, the job's counters say exactly what is
              committed, the job is marked failed when its lease runs out (it never stays
              running), and importing the file again creates the rest: each ID number once.
  push        POST /api/v1/sync/push (see the sync contract) with new children and visits,
              SIGKILL at a random moment while the server works on it. After the restart:
              each record is whole or absent (a stored visit moved its child's last visit and
              has its audit event), the same batch again stores the rest, and a third time
              answers `unchanged` for everything: exactly once. SKIP while the endpoint is
              absent (404/405).
  push_lost   A push whose database connection is terminated (pg_terminate_backend of the
              API's backends on this run's database) at a random moment of it: 200 with
              everything stored, or 503 `database_unavailable` with Retry-After and nothing
              stored; never a 500 nor an item rejected 500. The same batch again stores the
              rest, a third time answers `unchanged` for everything.
  push_concurrent
              Two phones (director, county officer) push at once, crosswise over the same
              children (A visits X and edits Y, B visits Y and edits X), several rounds: every
              item applied, never an item rejected 500; a whole-batch 503 `database_busy` is
              allowed (retried, counted).
  db_restart  Its own PostgreSQL (never the shared one) under an API with 2 workers and a
              steady stream of requests (worklist, child read, visit PUT): the database is
              stopped (fast or immediate, alternately) and started again. While it is down
              every answer is 503 `database_unavailable` with Retry-After and arrives within
              a bounded time, /readyz says not ready; after it is back every answer succeeds,
              with no restart of the API; never a 500; a visit answered 503 was not stored.

Uses a fresh database `bench_faults_<pid>` on the shared server (dropped at the end) for the
first three, and a throwaway server of its own for db_restart."""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from bench import datagen
from bench.own_postgres import OwnPostgres, StopMode, free_port
from bench.worklist import start_server, wait_ready
from childprotect_api.config import Settings
from childprotect_api.services.children import id_numbers

# A small area tree and registry: 1 county, 2 townships, 4 villages, 400 children.
FAULT_SCALE = datagen.Scale("faults", 1, 1, 2, 4, 400, 2)
SERVER_ENV = {
    "CHILDPROTECT_ACCESS_TOKEN_MINUTES": "240",
    # The scenarios import and push again and again: no rate limit in the way.
    "CHILDPROTECT_RATE_LIMITS": json.dumps(
        dict.fromkeys(("default", "stats", "export", "sync", "import"), 1_000_000)
    ),
    # A short lease, so that a killed job is seen reaped within seconds.
    "CHILDPROTECT_JOB_LEASE_SECONDS": "4",
}
LEASE_S = 4.0
# Children that stay open for the run: active, and not about to be closed at 18 by the API's
# start-up job (the generated birth dates reach 18 years back).
ACTIVE_CHILDREN = (
    "SELECT id, area_code FROM children WHERE status = 'active' "
    "AND birth_date > current_date - interval '17 years'"
)
PUSH_PATH = "/api/v1/sync/push"


class Skip(Exception):
    """The scenario cannot run here (e.g. the endpoint does not exist yet)."""


class Failed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def say(message: str) -> None:
    datagen.log(message)


# --- the API under test -----------------------------------------------------------------------


class Api:
    """A uvicorn server subprocess that can be killed outright and started again."""

    def __init__(
        self, url: str, logdir: Path, *, workers: int = 1, env: dict[str, str] | None = None
    ):
        self.url = url
        self.workers = workers
        self.env = dict(SERVER_ENV, **(env or {}))
        self.logfile: IO[bytes] = (logdir / "api.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    async def start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = start_server(
            self.url, port, self.env, workers=self.workers, output=self.logfile
        )
        await wait_ready(self.base, self.proc)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when the machine loses power."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def client(self, timeout: float = 60) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=timeout)


@dataclass
class World:
    url: str
    settings: Settings
    director: datagen.Caller
    officer: datagen.Caller
    children: list[uuid.UUID]  # active children of the director's village
    logdir: Path
    pushed: Iterator[int] = field(default_factory=itertools.count)

    def auth(self, caller: datagen.Caller) -> dict[str, str]:
        return {"Authorization": f"Bearer {caller.token}"}


async def make_world(url: str, logdir: Path) -> World:
    if datagen.database_name(url) in ("bench_province", "postgres"):
        raise SystemExit(f"refusing to rebuild {datagen.database_name(url)}: name a new database")
    url = await datagen.fresh_database(url, datagen.database_name(url))
    await asyncio.to_thread(datagen.migrate, url)
    dataset = await datagen.generate(url, FAULT_SCALE)
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    village = dataset.villages[0]
    (director,) = await datagen.make_callers(url, settings, "village_director", [village])
    (officer,) = await datagen.make_callers(url, settings, "county_officer", [village[:6]])
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch(ACTIVE_CHILDREN + " AND area_code = $1 ORDER BY id", village)
    finally:
        await conn.close()
    return World(url, settings, director, officer, [r["id"] for r in rows], logdir)


async def db_fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await datagen.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def visit_body(child_id: uuid.UUID, minutes_ago: float) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    rating = {"rating": "good"}
    return {
        "child_id": str(child_id),
        "visited_at": at.isoformat(),
        "kind": "home",
        "latitude": 38.43,
        "longitude": 100.81,
        "accuracy_m": 12.5,
        "checklist": {
            "living_conditions": rating,
            "health": rating,
            "schooling": rating,
            "guardian_present": rating,
            "caregiver_capacity": rating,
            "safety_hazards": rating,
            "emotional_state": {"rating": "fair", "note": "想念在外打工的妈妈"},
        },
        "notes": "孩子在家写作业。",
        "follow_up_actions": [],
    }


# --- attachment: SIGKILL mid-upload -----------------------------------------------------------

BOUNDARY = "faults-boundary-7d1c"


def multipart_parts(filename: str, data: bytes) -> tuple[bytes, bytes, bytes]:
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head, data, f"\r\n--{BOUNDARY}--\r\n".encode()


async def slow_upload(
    api: Api, path: str, headers: dict[str, str], data: bytes, kill_at_chunk: int, chunk: int
) -> str:
    """Stream the multipart body in chunks with a pause between them; SIGKILL the server
    once `kill_at_chunk` chunks of the file have gone out. Answers what the client saw."""
    head, body, tail = multipart_parts("探访登记表.pdf", data)

    async def kill_soon(delay: float) -> None:
        await asyncio.sleep(delay)
        if api.proc is not None and api.proc.poll() is None:
            api.kill()

    later: list[asyncio.Task[None]] = []

    async def stream() -> AsyncIterator[bytes]:
        yield head
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]
            await asyncio.sleep(0.01)
            if i // chunk + 1 == kill_at_chunk:
                api.kill()
        yield tail
        if kill_at_chunk > -(-len(body) // chunk):
            # The whole body is sent: kill while the server stores it (or just after).
            later.append(asyncio.create_task(kill_soon(random.uniform(0, 0.08))))

    h = dict(headers, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    try:
        async with api.client() as c:
            r = await c.post(path, content=stream(), headers=h)
        seen = f"answered {r.status_code} before the kill"
    except httpx.TransportError as e:
        seen = f"cut off ({type(e).__name__})"
    for task in later:
        await task
    if api.proc is not None and api.proc.poll() is None:
        api.kill()
    return seen


async def scenario_attachment(world: World, run: int, rng: random.Random, quick: bool) -> str:
    size = (2 if quick else 6) * 1024 * 1024
    chunk = 64 * 1024
    chunks = -(-size // chunk)
    data = b"%PDF-1.7\n" + rng.randbytes(size - 9)
    digest = hashlib.sha256(data).hexdigest()
    # Mid-upload at a random chunk; every fifth run once the whole body is sent (while the
    # server stores it, or just after it answered).
    kill_at = chunks + 1 if run % 5 == 4 else rng.randint(1, chunks)
    visit_id = uuid.uuid4()
    child = rng.choice(world.children)
    body = visit_body(child, minutes_ago=rng.uniform(5, 600))
    h = world.auth(world.director)
    api = Api(world.url, world.logdir)
    await api.start()
    try:
        async with api.client() as c:
            r = await c.put(f"/api/v1/visits/{visit_id}", json=body, headers=h)
            check(r.status_code == 201, f"visit PUT answered {r.status_code}: {r.text[:200]}")
        seen = await slow_upload(
            api, f"/api/v1/visits/{visit_id}/attachments", h, data, kill_at, chunk
        )
        await api.start()  # a new process on the same database
        rows = await db_fetch(
            world.url,
            "SELECT sha256, size_bytes FROM attachments WHERE owner_type = 'visit' "
            "AND owner_id = $1",
            visit_id,
        )
        visits = await db_fetch(
            world.url, "SELECT count(*) AS n FROM visits WHERE original_id = $1", visit_id
        )
        check(visits[0]["n"] == 1, f"the visit has {visits[0]['n']} rows after the kill")
        check(len(rows) <= 1, f"{len(rows)} attachment rows after the kill")
        for row in rows:
            check(
                row["sha256"] == digest and row["size_bytes"] == size,
                "a partial attachment was stored",
            )
        before = len(rows)
        async with api.client() as c:
            r = await c.put(f"/api/v1/visits/{visit_id}", json=body, headers=h)
            check(r.status_code == 200, f"the visit retry answered {r.status_code}")
            files = {"file": ("探访登记表.pdf", data, "application/pdf")}
            path = f"/api/v1/visits/{visit_id}/attachments"
            first = await c.post(path, files=files, headers=h)
            want = 200 if before else 201
            check(first.status_code == want, f"the retry answered {first.status_code}, not {want}")
            again = await c.post(path, files=files, headers=h)
            check(again.status_code == 200, f"a second retry answered {again.status_code}")
            check(again.json()["id"] == first.json()["id"], "a second attachment id")
            listed = await c.get(path, headers=h)
            items = listed.json()["items"]
            check(len(items) == 1, f"{len(items)} attachments listed")
        rows = await db_fetch(
            world.url,
            "SELECT sha256 FROM attachments WHERE owner_type = 'visit' AND owner_id = $1",
            visit_id,
        )
        check([r["sha256"] for r in rows] == [digest], f"{len(rows)} rows after the retry")
    finally:
        api.stop()
    where = f"at chunk {kill_at}/{chunks}" if kill_at <= chunks else "after the whole body"
    return f"killed {where} ({seen}); rows after restart: {before}; after the retry: 1"


# --- import: SIGKILL during the job -----------------------------------------------------------


def import_file(village: str, run: int, rows: int) -> tuple[bytes, list[str]]:
    """A screening file with `rows` children of one village, ID numbers unique to this run."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "性别", "身份证号", "出生日期", "村代码"])
    numbers = []
    for i in range(rows):
        born = date(2011, 1, 1) + timedelta(days=i)
        gender = "male" if i % 2 else "female"
        number = id_numbers.make(village[:6], born, run * 7 + 11, gender)
        numbers.append(number)
        writer.writerow([f"导入{i}", "男" if i % 2 else "女", number, born.isoformat(), village])
    return out.getvalue().encode(), numbers


async def wait_job(
    c: httpx.AsyncClient,
    h: dict[str, str],
    job_id: str,
    until: Callable[[dict], bool],
    within: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        r = await c.get(f"/api/v1/jobs/{job_id}", headers=h)
        check(r.status_code == 200, f"getJob answered {r.status_code}")
        job: dict[str, Any] = r.json()
        if until(job) or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.1)


async def import_state(world: World, hashes: list[str], job_id: str) -> tuple[int, dict]:
    """How many children of the file are stored (checking each is whole), and the job row."""
    children = await db_fetch(
        world.url,
        "SELECT c.id, c.id_number_hash, "
        "  (SELECT count(*) FROM child_risk_changes r WHERE r.child_id = c.id) AS risk_rows, "
        "  (SELECT count(*) FROM audit_log a WHERE a.resource_id = c.id "
        "     AND a.action = 'child.create') AS audit_rows "
        "FROM children c WHERE c.id_number_hash = ANY($1::text[])",
        hashes,
    )
    per_hash = Counter(r["id_number_hash"] for r in children)
    check(all(n == 1 for n in per_hash.values()), "an ID number registered twice")
    for r in children:
        check(r["risk_rows"] == 1 and r["audit_rows"] == 1, "a child stored without its history")
    (job,) = await db_fetch(world.url, "SELECT * FROM jobs WHERE id = $1", uuid.UUID(job_id))
    return len(children), dict(job)


async def scenario_import(world: World, run: int, rng: random.Random, quick: bool) -> str:
    rows = 700 if quick else 1500
    village = (await db_fetch(world.url, "SELECT area_code FROM children LIMIT 1"))[0][0]
    content, numbers = import_file(village, run, rows)
    hashes = [
        id_numbers.hash_of(world.settings.data_key, id_numbers.parse(n).normalized) for n in numbers
    ]
    h = world.auth(world.officer)
    files = {"file": ("摸排.csv", content, "text/csv")}
    target = rng.randrange(0, rows - 100)
    api = Api(world.url, world.logdir)
    await api.start()
    try:
        async with api.client() as c:
            r = await c.post("/api/v1/children/import", files=files, headers=h)
            check(r.status_code == 202, f"the import answered {r.status_code}: {r.text[:200]}")
            job_id = r.json()["id"]
            job = await wait_job(
                c,
                h,
                job_id,
                lambda j: j["processed"] >= target or j["status"] in ("done", "failed"),
                120,
            )
            await asyncio.sleep(rng.uniform(0, 0.5))
        api.kill()
        if job["status"] == "done":
            return "SKIP: the job finished before the kill"  # counted, not failed
        await api.start()
        stored, row = await import_state(world, hashes, job_id)
        check(
            row["created"] == stored,
            f"the job says {row['created']} created, {stored} are stored",
        )
        check(row["processed"] == row["created"] + row["duplicates"] + row["invalid"], "counters")
        async with api.client() as c:
            # Reaped when its lease runs out (plus a reaper pass), never left running.
            job = await wait_job(c, h, job_id, lambda j: j["status"] == "failed", 6 * LEASE_S + 10)
            check(job["status"] == "failed", f"the killed job is still {job['status']}")
            check("interrupted" in (job["error"] or ""), f"the job's error: {job['error']}")
            r = await c.post("/api/v1/children/import", files=files, headers=h)
            check(r.status_code == 202, f"the retry answered {r.status_code}")
            retry = await wait_job(
                c, h, r.json()["id"], lambda j: j["status"] in ("done", "failed"), 180
            )
        check(retry["status"] == "done", f"the retry's job is {retry['status']}")
        check(
            (retry["created"], retry["duplicates"], retry["invalid"]) == (rows - stored, stored, 0),
            f"the retry created {retry['created']}, found {retry['duplicates']} duplicates",
        )
        final, _ = await import_state(world, hashes, retry["id"])
        check(final == rows, f"{final} of {rows} children stored after the retry")
    finally:
        api.stop()
    return (
        f"killed at {row['processed']}/{rows} rows ({stored} committed); job reaped as failed; "
        f"retry created {rows - stored}, {stored} duplicates; each ID number once"
    )


# --- push: SIGKILL while the server applies a batch -------------------------------------------


def push_batch(world: World, run: int, rng: random.Random, size: int) -> dict[str, Any]:
    """New children (ID numbers unique to this run) and new visits of existing children."""
    village = world.director.area_code
    ops: list[dict[str, Any]] = []
    for i in range(size // 4):
        # A new ID number each time: (birth date, sequence) pairs never repeat in a world.
        k = next(world.pushed)
        born = date(2016, 1, 1) + timedelta(days=k % 2000)
        gender = "male" if i % 2 else "female"
        child_id = str(uuid.uuid4())
        data = {
            "id": child_id,
            "area_code": village,
            "name": f"推送{run}_{i}",
            "gender": gender,
            "birth_date": born.isoformat(),
            "id_number": id_numbers.make(village[:6], born, k // 2000 % 500, gender),
            "categories": ["left_behind"],
        }
        ops.append(
            {"op": "create_child", "client_id": str(uuid.uuid4()), "id": child_id, "data": data}
        )
    for child in rng.choices(world.children, k=size - len(ops)):
        visit_id = str(uuid.uuid4())
        ops.append(
            {
                "op": "create_visit",
                "client_id": str(uuid.uuid4()),
                "id": visit_id,
                "data": visit_body(child, minutes_ago=rng.uniform(1, 240)),
            }
        )
    rng.shuffle(ops)
    return {"operations": ops}


async def push_state(world: World, batch: dict[str, Any]) -> tuple[int, int]:
    """(children, visits) of the batch that are stored, each checked whole."""
    ops = batch["operations"]
    child_ids = [uuid.UUID(o["id"]) for o in ops if o["op"] == "create_child"]
    visit_ids = [uuid.UUID(o["id"]) for o in ops if o["op"] == "create_visit"]
    children = await db_fetch(
        world.url,
        "SELECT c.id, (SELECT count(*) FROM audit_log a WHERE a.resource_id = c.id "
        "  AND a.action = 'child.create') AS audit_rows FROM children c WHERE c.id = ANY($1)",
        child_ids,
    )
    for r in children:
        check(r["audit_rows"] == 1, "a pushed child stored without its audit event")
    visits = await db_fetch(
        world.url,
        "SELECT v.id, v.visited_at, c.last_visit_at, "
        "  (SELECT count(*) FROM audit_log a WHERE a.resource_id = v.id "
        "     AND a.action = 'create') AS audit_rows, "
        "  (SELECT count(*) FROM visits w WHERE w.original_id = v.id) AS versions "
        "FROM visits v JOIN children c ON c.id = v.child_id WHERE v.id = ANY($1)",
        visit_ids,
    )
    for r in visits:
        check(r["versions"] == 1, "a pushed visit stored twice")
        check(r["audit_rows"] == 1, "a pushed visit stored without its audit event")
        check(
            r["last_visit_at"] is not None and r["last_visit_at"] >= r["visited_at"],
            "a pushed visit stored without moving its child's last visit",
        )
    return len(children), len(visits)


async def scenario_push(world: World, run: int, rng: random.Random, quick: bool) -> str:
    size = 40 if quick else 200
    h = world.auth(world.director)
    api = Api(world.url, world.logdir)
    await api.start()
    try:
        # Calibrate: how long does a batch of this size take here, now?
        calibration = push_batch(world, run + 1000, rng, size)
        async with api.client() as c:
            started = time.perf_counter()
            r = await c.post(PUSH_PATH, json=calibration, headers=h)
            took = time.perf_counter() - started
        if r.status_code in (404, 405):
            raise Skip(f"{PUSH_PATH} answers {r.status_code}: the endpoint is not built yet")
        check(r.status_code == 200, f"the push answered {r.status_code}: {r.text[:300]}")
        bad = [x for x in r.json()["results"] if x["status"] not in ("created",)]
        check(not bad, f"calibration batch: {bad[:2]}")

        batch = push_batch(world, run, rng, size)
        kill_after = rng.uniform(0.0, took * 1.1)

        async def push() -> str:
            try:
                async with api.client() as c:
                    r = await c.post(PUSH_PATH, json=batch, headers=h)
                return f"answered {r.status_code} before the kill"
            except httpx.TransportError as e:
                return f"cut off ({type(e).__name__})"

        task = asyncio.create_task(push())
        await asyncio.sleep(kill_after)
        api.kill()
        seen = await task
        await api.start()
        children, visits = await push_state(world, batch)
        n_children = sum(1 for o in batch["operations"] if o["op"] == "create_child")
        n_visits = size - n_children
        async with api.client() as c:
            r = await c.post(PUSH_PATH, json=batch, headers=h)
            check(r.status_code == 200, f"the retry answered {r.status_code}: {r.text[:300]}")
            results = r.json()["results"]
            check(len(results) == size, f"{len(results)} results for {size} operations")
            statuses = Counter(x["status"] for x in results)
            check(
                set(statuses) <= {"created", "unchanged"},
                f"the retry answered {dict(statuses)}: "
                f"{[x for x in results if x['status'] not in ('created', 'unchanged')][:2]}",
            )
            check(
                statuses["unchanged"] == children + visits,
                f"the retry says {statuses['unchanged']} unchanged, "
                f"{children + visits} were stored",
            )
            r = await c.post(PUSH_PATH, json=batch, headers=h)
            again = Counter(x["status"] for x in r.json()["results"])
            check(again == Counter({"unchanged": size}), f"a third push answered {dict(again)}")
        final = await push_state(world, batch)
        check(final == (n_children, n_visits), f"stored after the retry: {final}")
    finally:
        api.stop()
    return (
        f"killed {kill_after * 1000:.0f} ms into a {took * 1000:.0f} ms batch ({seen}); "
        f"{children} children + {visits} visits of {size} ops committed; retry stored the rest; "
        "third push all unchanged"
    )


# --- push_lost: the push's database connection terminated mid-batch ---------------------------


async def terminate_api_backends(url: str) -> int:
    """pg_terminate_backend of the API's connections to this run's database (never another)."""
    rows = await db_fetch(
        url,
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'childprotect-api' "
        "AND pid <> pg_backend_pid()",
    )
    return sum(1 for r in rows if r["done"])


def problem_code(r: httpx.Response) -> str | None:
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        code = r.json().get("code")
        return str(code) if code is not None else None
    return None


async def scenario_push_lost(world: World, run: int, rng: random.Random, quick: bool) -> str:
    """A push whose backend is terminated (a failover, a restart, an idle reaper) at a random
    moment: it answers 200 (it had committed) or 503 `database_unavailable` with Retry-After
    and nothing of it committed; never a 500, never an item rejected 500. The same batch again
    stores the rest, a third time is all `unchanged`."""
    size = 40 if quick else 200
    h = world.auth(world.director)
    api = Api(world.url, world.logdir)
    await api.start()
    try:
        calibration = push_batch(world, run + 2000, rng, size)
        async with api.client() as c:
            started = time.perf_counter()
            r = await c.post(PUSH_PATH, json=calibration, headers=h)
            took = time.perf_counter() - started
        if r.status_code in (404, 405):
            raise Skip(f"{PUSH_PATH} answers {r.status_code}: the endpoint is not built yet")
        check(r.status_code == 200, f"the push answered {r.status_code}: {r.text[:300]}")

        batch = push_batch(world, run + 3000, rng, size)
        kill_after = rng.uniform(0.0, took)
        async with api.client() as c:
            task = asyncio.create_task(c.post(PUSH_PATH, json=batch, headers=h))
            await asyncio.sleep(kill_after)
            killed = await terminate_api_backends(world.url)
            r = await task
        n_children = sum(1 for o in batch["operations"] if o["op"] == "create_child")
        stored = await push_state(world, batch)
        if r.status_code == 503:
            check(problem_code(r) == "database_unavailable", f"503 with code {problem_code(r)}")
            check("retry-after" in r.headers, "a 503 without Retry-After")
            check(stored == (0, 0), f"answered 503 but {stored} (children, visits) committed")
        else:
            check(r.status_code == 200, f"the push answered {r.status_code}: {r.text[:300]}")
            results = r.json()["results"]
            rejected = [x for x in results if x["status"] == "rejected"]
            check(not rejected, f"items rejected: {[x['problem'] for x in rejected[:2]]}")
            check(stored == (n_children, size - n_children), f"answered 200, stored {stored}")
        async with api.client() as c:
            again = await c.post(PUSH_PATH, json=batch, headers=h)
            check(again.status_code == 200, f"the retry answered {again.status_code}")
            statuses = Counter(x["status"] for x in again.json()["results"])
            check(set(statuses) <= {"created", "unchanged"}, f"the retry: {dict(statuses)}")
            third = await c.post(PUSH_PATH, json=batch, headers=h)
            final = Counter(x["status"] for x in third.json()["results"])
            check(final == Counter({"unchanged": size}), f"a third push answered {dict(final)}")
        check(
            await push_state(world, batch) == (n_children, size - n_children),
            "not all stored after the retry",
        )
    finally:
        api.stop()
    return (
        f"{killed} backends terminated {kill_after * 1000:.0f} ms into a {took * 1000:.0f} ms "
        f"batch: answered {r.status_code} {problem_code(r) or ''}, committed {stored}; "
        "retry stored the rest; third push all unchanged"
    )


# --- push_concurrent: two phones pushing crosswise in one village -----------------------------


def crossed_batches(
    world: World, rng: random.Random, versions: dict[uuid.UUID, int], pairs: int, visits: int
) -> tuple[dict[str, Any], dict[str, Any], list[uuid.UUID]]:
    """Phone A visits the X children and edits the Y children; phone B visits Y and edits X:
    without one ordered lock of every child a batch touches, these cross (a deadlock)."""
    chosen = rng.sample(world.children, 2 * pairs)
    xs, ys = chosen[:pairs], chosen[pairs:]

    def batch(visited: list[uuid.UUID], edited: list[uuid.UUID], field_: str) -> dict[str, Any]:
        ops: list[dict[str, Any]] = []
        for child in visited:
            for _ in range(visits):
                ops.append(
                    {
                        "op": "create_visit",
                        "client_id": str(uuid.uuid4()),
                        "id": str(uuid.uuid4()),
                        "data": visit_body(child, minutes_ago=rng.uniform(1, 240)),
                    }
                )
        for child in edited:
            ops.append(
                {
                    "op": "update_child",
                    "client_id": str(uuid.uuid4()),
                    "id": str(child),
                    "base_version": versions[child],
                    "data": {field_: f"并发{rng.randrange(1000)}"},
                }
            )
        return {"operations": ops}

    visit_ids = []
    a, b = batch(xs, ys, "school"), batch(ys, xs, "grade")
    for op in [*a["operations"], *b["operations"]]:
        if op["op"] == "create_visit":
            visit_ids.append(uuid.UUID(op["id"]))
    return a, b, visit_ids


async def scenario_push_concurrent(world: World, run: int, rng: random.Random, quick: bool) -> str:
    """Two phones (the village's director and the county officer) push at the same moment,
    crosswise over the same children, several rounds: every item is applied (a child edit
    `updated` or `merged`), never an item rejected 500; a whole-batch 503 `database_busy`
    with Retry-After would be allowed (retryable, nothing committed) and is counted."""
    rounds, pairs, visits = (3, 3, 2) if quick else (10, 6, 4)
    api = Api(world.url, world.logdir)
    await api.start()
    busy = 0
    try:
        async with api.client() as c:
            for _ in range(rounds):
                rows = await db_fetch(
                    world.url, "SELECT id, version FROM children WHERE id = ANY($1)", world.children
                )
                versions = {r["id"]: r["version"] for r in rows}
                a, b, visit_ids = crossed_batches(world, rng, versions, pairs, visits)
                pending = [(a, world.director), (b, world.officer)]
                for _attempt in range(3):
                    answers = await asyncio.gather(
                        *(c.post(PUSH_PATH, json=x, headers=world.auth(who)) for x, who in pending)
                    )
                    retry = []
                    for (x, who), r in zip(pending, answers, strict=True):
                        if r.status_code == 503:
                            check(problem_code(r) == "database_busy", f"503 {problem_code(r)}")
                            check("retry-after" in r.headers, "a 503 without Retry-After")
                            busy += 1
                            retry.append((x, who))
                            continue
                        check(
                            r.status_code == 200, f"a push answered {r.status_code}: {r.text[:300]}"
                        )
                        results = r.json()["results"]
                        rejected = [y["problem"] for y in results if y["status"] == "rejected"]
                        check(not rejected, f"items rejected: {rejected[:2]}")
                        edits = {y["status"] for y in results if y["type"] == "child"}
                        check(edits <= {"updated", "merged"}, f"child edits answered {edits}")
                    pending = retry
                    if not pending:
                        break
                check(not pending, "still busy after 3 tries")
                stored = await db_fetch(
                    world.url, "SELECT count(*) AS n FROM visits WHERE id = ANY($1)", visit_ids
                )
                check(stored[0]["n"] == len(visit_ids), "a visit of the batches is missing")
    finally:
        api.stop()
    return (
        f"{rounds} rounds of two crossed pushes ({pairs} children each way, {visits} visits "
        f"each): every item applied, no 500; {busy} whole-batch 503 database_busy"
    )


# --- db_restart: the database stopped and started under a running API ------------------------


@dataclass
class Sample:
    t: float
    op: str
    status: int  # 0: transport error
    ms: float
    code: str | None = None
    retry_after: bool = False
    visit_id: uuid.UUID | None = None


@dataclass
class Traffic:
    samples: list[Sample] = field(default_factory=list)
    stop: bool = False


async def phone(
    api: Api, caller: datagen.Caller, children: list[uuid.UUID], traffic: Traffic, seed: int
) -> None:
    rng = random.Random(seed)
    h = {"Authorization": f"Bearer {caller.token}"}
    async with api.client(timeout=30) as c:
        while not traffic.stop:
            roll = rng.random()
            visit_id = None
            if roll < 0.5:
                op, call = "worklist", c.get("/api/v1/worklist", headers=h)
            elif roll < 0.8:
                op, call = "child", c.get(f"/api/v1/children/{rng.choice(children)}", headers=h)
            else:
                op, visit_id = "visit_put", uuid.uuid4()
                call = c.put(
                    f"/api/v1/visits/{visit_id}",
                    json=visit_body(rng.choice(children), rng.uniform(1, 600)),
                    headers=h,
                )
            t0 = time.monotonic()
            try:
                r = await call
                status, code = r.status_code, None
                if r.headers.get("content-type", "").startswith("application/problem+json"):
                    code = r.json().get("code")
                retry_after = "retry-after" in r.headers
            except httpx.TransportError:
                status, code, retry_after = 0, None, False
            traffic.samples.append(
                Sample(t0, op, status, (time.monotonic() - t0) * 1000, code, retry_after, visit_id)
            )
            await asyncio.sleep(rng.uniform(0.02, 0.1))


async def readyz_during(api: Api) -> int:
    async with api.client(timeout=30) as c:
        return (await c.get("/readyz")).status_code


@dataclass
class OwnWorld:
    pg: OwnPostgres
    logdir: Path
    url: str
    callers: list[datagen.Caller]
    children: dict[str, list[uuid.UUID]]


async def make_own_world(base: Path) -> OwnWorld:
    pg = OwnPostgres(base / "pg")
    server = await asyncio.to_thread(pg.start)
    url = await datagen.fresh_database(server, "childprotect")
    await asyncio.to_thread(datagen.migrate, url)
    dataset = await datagen.generate(url, FAULT_SCALE)
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    callers = await datagen.make_callers(url, settings, "village_director", dataset.villages)
    rows = await db_fetch(url, ACTIVE_CHILDREN)
    children: dict[str, list[uuid.UUID]] = {}
    for r in rows:
        children.setdefault(r["area_code"], []).append(r["id"])
    return OwnWorld(pg, base, url, callers, children)


async def scenario_db_restart(own: OwnWorld, run: int, rng: random.Random, quick: bool) -> str:
    """Runs alternate the stop mode (fast, immediate) and the pool's pre-ping (on for runs
    1-2, off for 3-4...): a fresh API of 2 workers each run."""
    mode = "fast" if run % 2 == 0 else "immediate"
    pre_ping = run % 4 < 2
    api = Api(
        own.url,
        own.logdir,
        workers=2,
        env={"CHILDPROTECT_DB_POOL_PRE_PING": "true" if pre_ping else "false"},
    )
    await api.start()
    try:
        return await _db_restart(own, api, mode, pre_ping, rng, quick)
    finally:
        api.stop()


async def _db_restart(
    own: OwnWorld, api: Api, mode: StopMode, pre_ping: bool, rng: random.Random, quick: bool
) -> str:
    up_s, down_s, after_s = (1.0, 2.0, 4.0) if quick else (2.0, 4.0, 6.0)
    traffic = Traffic()
    phones = [
        asyncio.create_task(
            phone(api, caller, own.children[caller.area_code], traffic, rng.randrange(1 << 30))
        )
        for caller in own.callers
        for _ in range(2)
    ]
    try:
        await asyncio.sleep(up_s)
        t_stop = time.monotonic()
        await asyncio.to_thread(own.pg.stop, mode)
        t_down = time.monotonic()
        await asyncio.sleep(down_s / 2)
        ready_down = await readyz_during(api)
        await asyncio.sleep(down_s / 2)
        t_start = time.monotonic()
        await asyncio.to_thread(own.pg.start)
        t_up = time.monotonic()
        await asyncio.sleep(after_s)
        ready_up = await readyz_during(api)
    finally:
        traffic.stop = True
        await asyncio.gather(*phones)
        if not own.pg.running():
            await asyncio.to_thread(own.pg.start)

    samples = traffic.samples
    statuses = Counter(s.status for s in samples)
    check(statuses[500] == 0, f"{statuses[500]} answers were 500")
    check(statuses[0] == 0, f"{statuses[0]} requests failed at the transport level")
    check(set(statuses) <= {200, 201, 503}, f"unexpected statuses: {dict(statuses)}")
    unavailable = [s for s in samples if s.status == 503]
    check(
        all(s.code == "database_unavailable" and s.retry_after for s in unavailable),
        "a 503 without code database_unavailable or Retry-After",
    )
    during = [s for s in samples if t_down + 0.2 <= s.t and s.t + s.ms / 1000 <= t_start]
    check(bool(during), "no request ran while the database was down")
    check(all(s.status == 503 for s in during), "a request succeeded while the database was down")
    worst_down = max((s.ms for s in samples if t_stop <= s.t <= t_up), default=0.0)
    check(worst_down < 10_000, f"a request was held {worst_down:.0f} ms during the outage")
    check(ready_down == 503 and ready_up == 200, f"/readyz {ready_down} down, {ready_up} up")
    settled = [s for s in samples if s.t >= t_up + 2.0]
    check(bool(settled), "no request after the database came back")
    failing = Counter(s.status for s in settled if s.status >= 300)
    check(not failing, f"after the restart: {dict(failing)}")
    first_ok = min((s.t for s in samples if s.t >= t_up and s.status < 300), default=None)
    check(first_ok is not None, "nothing succeeded after the restart")
    assert first_ok is not None
    # A visit answered 503 was not stored; one answered 201 was.
    refused = [s.visit_id for s in samples if s.op == "visit_put" and s.status == 503]
    stored = [s.visit_id for s in samples if s.op == "visit_put" and s.status == 201]
    found = {
        r["id"]
        for r in await db_fetch(
            own.url, "SELECT id FROM visits WHERE id = ANY($1)", [*refused, *stored]
        )
    }
    check(not (set(refused) & found), "a visit answered 503 was stored")
    check(set(stored) <= found, "a visit answered 201 is missing")
    by_op = Counter((s.op, s.status) for s in samples)
    return (
        f"stop -m {mode}, pre-ping {'on' if pre_ping else 'off'}: {len(samples)} requests, "
        f"{len(unavailable)} answered 503 "
        f"(worst {worst_down:.0f} ms during the outage), 0 x 500; first success "
        f"{(first_ok - t_up) * 1000:.0f} ms after the restart; "
        + ", ".join(f"{op} {st}: {n}" for (op, st), n in sorted(by_op.items()))
    )


# --- the driver --------------------------------------------------------------------------------

Scenario = Callable[[World, int, random.Random, bool], Awaitable[str]]
SCENARIOS: dict[str, Scenario] = {
    "attachment": scenario_attachment,
    "import": scenario_import,
    "push": scenario_push,
    "push_lost": scenario_push_lost,
    "push_concurrent": scenario_push_concurrent,
}
ALL = [*SCENARIOS, "db_restart"]


@dataclass
class Outcome:
    scenario: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    lines: list[str] = field(default_factory=list)

    def record(self, run: int, verdict: str, detail: str) -> None:
        if verdict == "PASS":
            self.passed += 1
        elif verdict == "FAIL":
            self.failed += 1
        else:
            self.skipped += 1
        line = f"{verdict} {self.scenario} run {run + 1}: {detail}"
        self.lines.append(line)
        print(line, flush=True)


async def run_runs(
    name: str, runs: int, rng: random.Random, call: Callable[[int], Awaitable[str]]
) -> Outcome:
    outcome = Outcome(name)
    for run in range(runs):
        try:
            detail = await call(run)
            if detail.startswith("SKIP:"):
                outcome.record(run, "SKIP", detail[5:].strip())
            else:
                outcome.record(run, "PASS", detail)
        except Skip as e:
            outcome.record(run, "SKIP", str(e))
            break  # the same for every run
        except Failed as e:
            outcome.record(run, "FAIL", str(e))
        except Exception as e:
            outcome.record(run, "FAIL", f"{type(e).__name__}: {e}")
            traceback.print_exc()
    return outcome


async def run(args: argparse.Namespace) -> int:
    names = ALL if args.scenario == "all" else [args.scenario]
    runs = 1 if args.quick and args.runs is None else (args.runs or 5)
    rng = random.Random(args.seed)
    load = os.getloadavg()[0]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cp-faults-") as tmp:
        logdir = Path(tmp)
        shared = [n for n in names if n in SCENARIOS]
        if shared:
            url = args.database_url or datagen.with_database(
                datagen.DEFAULT_SERVER, f"bench_faults_{os.getpid()}"
            )
            say(f"building the fault world in {datagen.database_name(url)}")
            world = await make_world(url, logdir)
            try:
                for name in shared:
                    scenario = SCENARIOS[name]
                    outcomes.append(
                        await run_runs(
                            name,
                            runs,
                            rng,
                            lambda r, s=scenario: s(world, r, rng, args.quick),  # type: ignore[misc]
                        )
                    )
            finally:
                if not args.keep:
                    await datagen.drop_database(world.url)
        if "db_restart" in names:
            say("starting an own PostgreSQL for db_restart (the shared server is left alone)")
            own = await make_own_world(logdir)
            try:
                outcomes.append(
                    await run_runs(
                        "db_restart",
                        runs,
                        rng,
                        lambda r: scenario_db_restart(own, r, rng, args.quick),
                    )
                )
            finally:
                await asyncio.to_thread(own.pg.destroy)
        if any(o.failed for o in outcomes):
            # The unexpected lines first (an unhandled error and its frames), then the tail:
            # a long outage's 503 warnings would push a 500's trace out of the tail.
            text = (logdir / "api.log").read_text(errors="replace")
            unexpected = [ln for ln in text.splitlines() if "database unavailable:" not in ln]
            print(f"\nserver output (without its 503 warnings) in {logdir / 'api.log'}:")
            print("\n".join(unexpected)[-6000:])
    print()
    print(
        f"load average (1 min) before {load:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"{os.cpu_count()} CPUs"
    )
    for o in outcomes:
        verdict = "FAIL" if o.failed else ("SKIP" if not o.passed else "PASS")
        print(f"{verdict} {o.scenario}: {o.passed} passed, {o.failed} failed, {o.skipped} skipped")
    return 1 if any(o.failed for o in outcomes) else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scenario", choices=[*ALL, "all"], default="all")
    p.add_argument("--runs", type=int, default=None, help="runs per scenario (5; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes, 1 run each")
    p.add_argument(
        "--database-url", default=None, help="database to (re)build on the shared server"
    )
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--seed", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
