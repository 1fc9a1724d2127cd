"""WAL and database time per request, measured on a private PostgreSQL cluster whose WAL only
this workload writes: visit submissions and reviews, and the reads that write an audit row.

    python -m bench.writes                          # small dataset: 100k children, ~1M visits
    python -m bench.writes --scale tiny --requests 40    # CI smoke

Makes a cluster with initdb (bench/pgcluster.py; skipped, saying why, without server
binaries) with pg_stat_statements, autovacuum off and checkpoints only when asked, builds the
dataset with bench/datagen.py, and runs the app in process (httpx over ASGI: the real request
path, without the network). Each phase:

- CHECKPOINT first ("cold"), unless the phase says "warm": after a checkpoint the first change
  to each page writes a full-page image (FPI) into the WAL. Cold is the regime of a national
  database, whose random-key indexes are far larger than what one checkpoint interval
  touches; warm repeats the change on the same children in the same interval.
- N requests by random callers, then: WAL bytes, records and FPIs per request (pg_stat_wal),
  the split between record and FPI bytes (pg_waldump --stats over the phase's WAL), and the
  server's execution time and statement count per request (pg_stat_statements).

Phases: visit submission (PUT /visits/{id}) cold, cold with wal_compression, warm; visit
review (accept); village worklist; children list page (50 children, one audit row each);
child by id. The cluster is removed at the end (--keep to look at it)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import datagen, pgcluster
from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.main import create_app
from childprotect_api.models.base import utcnow
from childprotect_api.schemas.visit import CHECKLIST_ITEMS

CONF = """
# bench/writes.py: only this workload writes WAL; checkpoints only when the bench asks
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 1d
autovacuum = off
fsync = off
maintenance_work_mem = 256MB
max_connections = 50
"""


@dataclass
class Phase:
    name: str
    requests: int
    wal_bytes: int
    wal_records: int
    wal_fpi: int
    record_bytes: int | None
    fpi_bytes: int | None
    exec_ms: float | None
    statements: float | None
    wall_s: float


@dataclass
class World:
    url: str
    client: httpx.AsyncClient
    directors: list[datagen.Caller]
    officers: dict[str, datagen.Caller]  # county -> officer
    children: dict[str, list[uuid.UUID]]  # village -> active children
    rng: random.Random
    visits: list[tuple[uuid.UUID, uuid.UUID, str, int]]  # (visit, child, county, version)


def _auth(caller: datagen.Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


def visit_body(child_id: uuid.UUID) -> dict[str, Any]:
    items: dict[str, Any] = {item: {"rating": "good"} for item in CHECKLIST_ITEMS}
    items["emotional_state"] = {"rating": "fair", "note": "想念在外打工的妈妈"}
    return {
        "child_id": str(child_id),
        "visited_at": (utcnow() - timedelta(minutes=30)).isoformat(),
        "kind": "home",
        "latitude": 38.43,
        "longitude": 100.81,
        "accuracy_m": 12.5,
        "checklist": items,
        "notes": "孩子在家写作业，奶奶身体尚可。",
        "suggested_risk_level": "yellow",
        "follow_up_actions": [{"action": "联系学校了解出勤", "due_on": "2030-01-10"}],
    }


def _check(r: httpx.Response, *ok: int) -> httpx.Response:
    if r.status_code not in ok:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r


# --- the requests of each phase -----------------------------------------------------------


async def submit_visit(w: World, targets: list[tuple[datagen.Caller, uuid.UUID]], i: int) -> None:
    director, child = targets[i]
    visit_id = uuid.uuid4()
    r = _check(
        await w.client.put(
            f"/api/v1/visits/{visit_id}", json=visit_body(child), headers=_auth(director)
        ),
        201,
    )
    w.visits.append((visit_id, child, director.area_code[:6], r.json()["version"]))


async def review_visit(w: World, i: int) -> None:
    visit_id, _, county, version = w.visits[i]
    _check(
        await w.client.post(
            f"/api/v1/visits/{visit_id}/review",
            json={"decision": "accept"},
            headers={**_auth(w.officers[county]), "If-Match": f'"{version}"'},
        ),
        200,
    )


async def worklist(w: World, _: int) -> None:
    director = w.rng.choice(w.directors)
    _check(await w.client.get("/api/v1/worklist", headers=_auth(director)), 200)


async def children_page(w: World, _: int) -> None:
    director = w.rng.choice(w.directors)
    r = await w.client.get("/api/v1/children", params={"limit": 50}, headers=_auth(director))
    _check(r, 200)


async def child_by_id(w: World, _: int) -> None:
    director = w.rng.choice(w.directors)
    child = w.rng.choice(w.children[director.area_code])
    _check(await w.client.get(f"/api/v1/children/{child}", headers=_auth(director)), 200)


# --- measuring ------------------------------------------------------------------------------


def waldump_split(bindir: Path, pgdata: Path, start: str, end: str) -> tuple[int, int] | None:
    """(record bytes, FPI bytes) of the WAL between two LSNs, from pg_waldump --stats."""
    exe = bindir / "pg_waldump"
    if not exe.exists() or start == end:
        return None
    out = subprocess.run(  # noqa: S603 (pg_waldump with arguments of our making)
        [str(exe), "--stats", "-p", str(pgdata / "pg_wal"), "-s", start, "-e", end],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("Total"):
            # Total  N  record_size [pct]  fpi_size [pct]  combined [pct]
            numbers = [int(x) for x in re.sub(r"\[[^\]]*\]", " ", line).split()[1:]]
            if len(numbers) >= 3:
                return numbers[1], numbers[2]
    return None


async def measure(
    w: World,
    admin: asyncpg.Connection,
    cluster: pgcluster.Cluster,
    name: str,
    n: int,
    request: Callable[[World, int], Awaitable[None]],
    *,
    cold: bool = True,
    statements: bool = True,
) -> Phase:
    if cold:
        await admin.execute("CHECKPOINT")
    if statements:
        await admin.execute("SELECT pg_stat_statements_reset()")
    start_lsn = await admin.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    started = time.perf_counter()
    for i in range(n):
        await request(w, i)
    wall = time.perf_counter() - started
    end_lsn = await admin.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    # The LSN range is exact (only this workload writes here); pg_stat_wal is not (backends
    # report to it lazily). pg_stat_statements counts each statement's WAL at once.
    wal_bytes = await admin.fetchval(
        "SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)::bigint", end_lsn, start_lsn
    )
    exec_ms = stmts = None
    records = fpi = 0
    if statements:
        row = await admin.fetchrow(
            "SELECT sum(total_exec_time) AS ms, sum(calls) AS calls, sum(wal_records) AS rec, "
            "sum(wal_fpi) AS fpi FROM pg_stat_statements "
            "WHERE query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_current_wal%' "
            "AND query NOT ILIKE '%pg_wal_lsn_diff%' AND query NOT ILIKE 'CHECKPOINT%'"
        )
        exec_ms, stmts = float(row["ms"] or 0) / n, float(row["calls"] or 0) / n
        records, fpi = int(row["rec"] or 0), int(row["fpi"] or 0)
    split = waldump_split(cluster.bindir, cluster.data, start_lsn, end_lsn)
    return Phase(
        name,
        n,
        int(wal_bytes),
        records,
        fpi,
        split[0] if split else None,
        split[1] if split else None,
        exec_ms,
        stmts,
        wall,
    )


def report(phases: list[Phase], header: str) -> None:
    print()
    print(header)
    print(
        f"{'phase':<38} {'n':>5} {'WAL B/req':>10} {'records':>8} {'FPIs':>6} "
        f"{'record B':>9} {'FPI B':>8} {'FPI %':>6} {'DB ms':>7} {'stmts':>6}"
    )
    for p in phases:
        n = p.requests

        share = (
            f"{p.fpi_bytes / (p.fpi_bytes + p.record_bytes):.0%}"
            if p.fpi_bytes is not None and p.record_bytes is not None
            else "n/a"
        )

        def per(value: float | None, fmt: str, n: int = n) -> str:
            return format(value / n, fmt) if value is not None else "n/a"

        print(
            f"{p.name:<38} {n:>5} {p.wal_bytes / n:>10,.0f} {p.wal_records / n:>8.1f} "
            f"{p.wal_fpi / n:>6.2f} {per(p.record_bytes, ',.0f'):>9} {per(p.fpi_bytes, ',.0f'):>8} "
            f"{share:>6} "
            f"{p.exec_ms if p.exec_ms is not None else float('nan'):>7.3f} "
            f"{p.statements if p.statements is not None else float('nan'):>6.1f}"
        )


# --- setup ----------------------------------------------------------------------------------


def start_cluster(root: Path) -> pgcluster.Cluster | str:
    bindir, reason = pgcluster.find_pg_bindir()
    if bindir is None:
        return reason
    user, reason = pgcluster.run_as_user()
    if reason:
        return reason
    cluster = pgcluster.Cluster(
        "bench", pgcluster.make_base(root, "bench", user), bindir, pgcluster.free_port(), user
    )
    conf = CONF
    if (bindir.parent / "lib" / "pg_stat_statements.so").exists():
        conf += "shared_preload_libraries = 'pg_stat_statements'\n"
    cluster.initdb(conf)
    cluster.start()
    return cluster


async def setup(url: str, scale: datagen.Scale, villages: int, seed: int) -> World:
    dataset = await datagen.generate(url, scale)
    datagen.log(f"built {dataset.children:,} children and {dataset.visits:,} visits")
    rng = random.Random(seed)
    chosen = rng.sample(dataset.villages, min(villages, len(dataset.villages)))
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    directors = await datagen.make_callers(url, settings, "village_director", chosen)
    counties = sorted({v[:6] for v in chosen})
    officers = await datagen.make_callers(url, settings, "county_officer", counties)
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT area_code, id FROM children WHERE area_code = ANY($1::text[]) "
            "AND status = 'active'",
            chosen,
        )
    finally:
        await conn.close()
    kids: dict[str, list[uuid.UUID]] = {}
    for r in rows:
        kids.setdefault(r["area_code"], []).append(r["id"])
    directors = [d for d in directors if kids.get(d.area_code)]
    return World(
        url,
        httpx.AsyncClient(base_url="http://bench"),  # replaced once the app exists
        directors,
        {o.area_code: o for o in officers},
        kids,
        rng,
        [],
    )


async def run(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="cp-writes-"))
    os.chmod(root, 0o755)  # noqa: S103 (the cluster's user must reach its folder)
    cluster: pgcluster.Cluster | str | None = None
    try:
        cluster = start_cluster(root)
        if isinstance(cluster, str):
            print(f"bench.writes skipped: {cluster}")
            return 0
        server = cluster.url("postgres")
        url = await datagen.fresh_database(server, "bench_writes")
        admin = await datagen.connect(url)
        statements = True
        try:
            await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        except asyncpg.PostgresError:
            statements = False  # the library is not preloaded: no per-statement times
        await asyncio.to_thread(datagen.migrate, url)
        scale = datagen.SCALES[args.scale]
        w = await setup(url, scale, args.villages, args.seed)
        await admin.execute("VACUUM ANALYZE")
        settings = Settings(
            env="local",
            DATABASE_URL=url,
            jobs_enabled=False,
            access_token_minutes=240,
            login_failure_delay_seconds=0,
        )
        db = Database.create(url, pool_size=2, max_overflow=0)
        app = create_app(settings, db)
        n = args.requests
        rng = w.rng
        targets = [
            (d, rng.choice(w.children[d.area_code]))
            for d in (rng.choice(w.directors) for _ in range(n))
        ]
        others = [
            (d, rng.choice(w.children[d.area_code]))
            for d in (rng.choice(w.directors) for _ in range(n))
        ]
        phases: list[Phase] = []
        compression = "lz4"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            w.client = client
            # Warm the app and the cache (plans, pools): a few of every request, untimed.
            warm = [(d, rng.choice(w.children[d.area_code])) for d in w.directors[:5]]
            for i in range(len(warm)):
                await submit_visit(w, warm, i)
            for i in range(len(warm)):
                await review_visit(w, i)
                await worklist(w, i)
                await children_page(w, i)
                await child_by_id(w, i)
            w.visits.clear()
            datagen.log(f"measuring, {n} requests per phase")

            async def first(w: World, i: int) -> None:
                await submit_visit(w, targets, i)

            async def second(w: World, i: int) -> None:
                await submit_visit(w, others, i)

            phases.append(
                await measure(
                    w, admin, cluster, "visit submission, cold", n, first, statements=statements
                )
            )
            try:
                await admin.execute(f"ALTER SYSTEM SET wal_compression = '{compression}'")
            except asyncpg.PostgresError:
                compression = "pglz"
                await admin.execute(f"ALTER SYSTEM SET wal_compression = '{compression}'")
            await admin.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(0.5)
            reviewed = list(w.visits)
            phases.append(
                await measure(
                    w, admin, cluster, f"visit submission, cold, {compression}", n, second,
                    statements=statements,
                )
            )  # fmt: skip
            await admin.execute("ALTER SYSTEM RESET wal_compression")
            await admin.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(0.5)
            phases.append(
                await measure(
                    w, admin, cluster, "visit submission, warm (same children)", n, first,
                    cold=False, statements=statements,
                )
            )  # fmt: skip
            w.visits = reviewed
            phases.append(
                await measure(
                    w, admin, cluster, "visit review (accept), cold", n, review_visit,
                    statements=statements,
                )
            )  # fmt: skip
            for name, request in (
                ("worklist, village, cold", worklist),
                ("children list page (50), cold", children_page),
                ("child by id, cold", child_by_id),
            ):
                phases.append(
                    await measure(w, admin, cluster, name, n, request, statements=statements)
                )
        await db.dispose()
        version = await admin.fetchval("SHOW server_version")
        await admin.close()
        report(
            phases,
            f"WAL and server time per request: private PostgreSQL {version} cluster, "
            f"{scale.name} dataset ({scale.children:,} children), {len(w.directors)} village "
            f"directors; full_page_writes on; DB ms = pg_stat_statements execution time per "
            f"request, stmts = statements per request",
        )
        print(
            f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}; "
            f"{os.cpu_count()} CPUs"
        )
        return 0
    finally:
        if isinstance(cluster, pgcluster.Cluster) and not args.keep:
            if cluster.is_running():
                cluster.stop("immediate")
            shutil.rmtree(root, ignore_errors=True)
        elif args.keep:
            print(f"kept the cluster in {root}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="small")
    p.add_argument("--requests", type=int, default=500, help="requests per phase")
    p.add_argument("--villages", type=int, default=100, help="village directors calling")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--keep", action="store_true", help="leave the cluster running")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
