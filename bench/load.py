"""Load test: simulated phones of village directors against the real API (uvicorn, 2 workers).

    python -m bench.load                                  # 200 phones, 5 minutes, province
    python -m bench.load --phones 20 --duration 10 --scale tiny --database-url URL --reuse
                                                          # the CI smoke size

Each phone is the village director of a distinct village, with its own user and token, and
loops: think (uniform 0.5-1.5 x `--think` seconds, 5 by default), then one operation drawn
from the mix

    50%  worklist      GET /api/v1/worklist
    25%  child read    GET /api/v1/children/{id}         (a child of its village)
    15%  visit create  PUT /api/v1/visits/{new uuid}     (a child of its village)
    10%  sync          GET /api/v1/sync/changes          (the initial load, then its changes,
                                                          following next_cursor; counted as
                                                          skipped while the endpoint is absent)

Phones start spread over one think time; the first `--warmup` seconds are not measured. Prints
per operation: requests, throughput, p50/p95/p99/max in ms and errors (any answer other than
the expected 200/201, or a transport error), the totals, the load average and the rows the run
added to the database. Targets: zero errors, p95 of every operation <= 300 ms.

The run WRITES to the dataset: visits (with their audit and outbox rows, and the children's
last visit and due date), audit rows for every read, and one user and login session per
village (reused by later runs: `bench_load_<village>`). It never touches other villages'
children. The rows added are printed at the end."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import datagen
from bench.own_postgres import free_port
from bench.worklist import start_server, wait_ready
from childprotect_api.config import Settings
from childprotect_api.security.tokens import create_access_token

TARGET_P95_MS = 300.0
MIX = [("worklist", 0.50), ("child", 0.25), ("visit", 0.15), ("sync", 0.10)]
EXPECTED = {"worklist": 200, "child": 200, "visit": 201, "sync": 200}
SYNC_PATH = "/api/v1/sync/changes"


@dataclass
class Phone:
    area_code: str
    user_id: uuid.UUID
    token: str
    children: list[uuid.UUID]
    sync_cursor: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Stats:
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    visits_created: int = 0
    measuring: bool = False

    def add(self, op: str, ms: float) -> None:
        if self.measuring:
            self.samples.setdefault(op, []).append(ms)

    def error(self, op: str, what: str) -> None:
        if self.measuring:
            self.errors[(op, what)] += 1


def pct(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


# --- callers --------------------------------------------------------------------------------


async def make_phones(url: str, settings: Settings, villages: list[str]) -> tuple[list[Phone], int]:
    """A village director per village (created once, reused by later runs) with a login
    session and a fresh token, and the village's open children. Answers the phones and how
    many users were created now."""
    conn = await datagen.connect(url)
    phones, created = [], 0
    try:
        kids: dict[str, list[uuid.UUID]] = {}
        for r in await conn.fetch(
            "SELECT id, area_code FROM children WHERE area_code = ANY($1::text[]) "
            "AND county_code = ANY($2::text[]) AND status = 'active' "
            # Not about to turn 18 (the API's daily job would close them mid-run).
            "AND birth_date > current_date - interval '17 years'",
            villages,
            sorted({v[:6] for v in villages}),
        ):
            kids.setdefault(r["area_code"], []).append(r["id"])
        for village in villages:
            username = f"bench_load_{village}"
            user_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", username)
            if user_id is None:
                user_id = uuid.uuid4()
                created += 1
                await conn.execute(
                    "INSERT INTO users (id, username, display_name, role, area_code, "
                    "password_hash, is_active, version) "
                    "VALUES ($1, $2, '负载测试', 'village_director', $3, '!', true, 1)",
                    user_id,
                    username,
                    village,
                )
            family_id = await conn.fetchval(
                "SELECT id FROM token_families WHERE user_id = $1 LIMIT 1", user_id
            )
            if family_id is None:
                family_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO token_families (id, user_id) VALUES ($1, $2)", family_id, user_id
                )
            token, _ = create_access_token(
                settings,
                subject=user_id,
                kind="user",
                role="village_director",
                area=village,
                session_id=family_id,
            )
            phones.append(Phone(village, user_id, token, kids.get(village, [])))
    finally:
        await conn.close()
    return phones, created


async def written(url: str) -> dict[str, tuple[int, int]]:
    """Rows inserted and updated so far, per table (the server's statistics)."""
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch("SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables")
    finally:
        await conn.close()
    return {r["relname"]: (int(r["n_tup_ins"]), int(r["n_tup_upd"])) for r in rows}


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    parts = []
    for table in sorted(after):
        ins = after[table][0] - before.get(table, (0, 0))[0]
        upd = after[table][1] - before.get(table, (0, 0))[1]
        if ins or upd:
            parts.append(
                f"{table} " + " ".join(x for x in (ins and f"+{ins:,}", upd and f"~{upd:,}") if x)
            )
    return ", ".join(parts) or "none"


# --- one phone ----------------------------------------------------------------------------


def visit_body(child_id: uuid.UUID, rng: random.Random) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=rng.uniform(1, 3 * 24 * 60))
    good = {"rating": "good"}
    return {
        "child_id": str(child_id),
        "visited_at": at.isoformat(),
        "kind": "home" if rng.random() < 0.75 else "phone",
        "latitude": round(rng.uniform(35, 40), 5),
        "longitude": round(rng.uniform(98, 106), 5),
        "accuracy_m": round(rng.uniform(5, 40), 1),
        "checklist": {
            "living_conditions": good,
            "health": good,
            "schooling": good,
            "guardian_present": {"rating": "fair", "note": "奶奶在家"},
            "caregiver_capacity": good,
            "safety_hazards": good,
            "emotional_state": {"rating": "fair", "note": "想念在外打工的父母"},
        },
        "notes": "孩子按时上学，家中整洁。",
        "follow_up_actions": [],
    }


def draw(rng: random.Random) -> str:
    roll = rng.random()
    for op, share in MIX:
        if roll < share:
            return op
        roll -= share
    return MIX[-1][0]


async def call(
    client: httpx.AsyncClient, phone: Phone, op: str, rng: random.Random
) -> httpx.Response:
    if op == "worklist":
        return await client.get("/api/v1/worklist", headers=phone.headers)
    if op == "child":
        child = rng.choice(phone.children)
        return await client.get(f"/api/v1/children/{child}", headers=phone.headers)
    if op == "visit":
        return await client.put(
            f"/api/v1/visits/{uuid.uuid4()}",
            json=visit_body(rng.choice(phone.children), rng),
            headers=phone.headers,
        )
    params = {"cursor": phone.sync_cursor} if phone.sync_cursor else {}
    return await client.get(SYNC_PATH, params=params, headers=phone.headers)


async def run_phone(
    client: httpx.AsyncClient,
    phone: Phone,
    stats: Stats,
    stop_at: float,
    think: float,
    sync_present: bool,
    seed: int,
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, think))  # spread the starts
    while time.monotonic() < stop_at:
        op = draw(rng)
        if op == "sync" and not sync_present:
            if stats.measuring:
                stats.skipped[op] += 1
        elif phone.children or op in ("worklist", "sync"):
            started = time.perf_counter()
            try:
                r = await call(client, phone, op, rng)
            except httpx.TransportError as e:
                stats.error(op, type(e).__name__)
            else:
                ms = (time.perf_counter() - started) * 1000
                if r.status_code == EXPECTED[op]:
                    stats.add(op, ms)
                    if op == "visit":
                        stats.visits_created += 1
                    elif op == "sync":
                        phone.sync_cursor = r.json().get("next_cursor") or phone.sync_cursor
                else:
                    code = ""
                    if r.headers.get("content-type", "").endswith("json"):
                        code = str(r.json().get("code", ""))
                    stats.error(op, f"{r.status_code} {code}".strip())
                    if op == "sync" and r.status_code == 410:
                        phone.sync_cursor = None  # reload from scratch, as the app would
        await asyncio.sleep(
            min(rng.uniform(0.5, 1.5) * think, max(0.0, stop_at - time.monotonic()))
        )


async def sync_endpoint_present(base: str, phone: Phone) -> bool:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.get(SYNC_PATH, params={"limit": 1}, headers=phone.headers)
    return r.status_code not in (404, 405)


# --- the run --------------------------------------------------------------------------------


def report(
    stats: Stats,
    seconds: float,
    phones: int,
    workers: int,
    think: float,
    dataset: datagen.Dataset,
    load: tuple[float, float, float],
    added: str,
    users_created: int,
) -> bool:
    print()
    print(
        f"load test, scale={dataset.scale.name} ({dataset.children:,} children, "
        f"{dataset.visits:,} visits): {phones} phones, {workers} server workers, "
        f"{seconds:.0f} s measured, think time {think:.1f} s (offered about "
        f"{phones / think:.0f} req/s)"
    )
    print(
        f"load average (1 min): before {load[0]:.2f}, during (max sampled) {load[1]:.2f}, "
        f"after {load[2]:.2f}; {os.cpu_count()} CPUs"
    )
    print(
        f"{'operation':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}  target p95"
    )
    ok = True
    total = 0
    for op, _ in MIX:
        samples = stats.samples.get(op, [])
        errors = sum(n for (o, _), n in stats.errors.items() if o == op)
        total += len(samples) + errors
        if not samples:
            note = f"skipped {stats.skipped[op]} (endpoint absent)" if stats.skipped[op] else ""
            print(
                f"{op:<10} {0:>8} {0:>7.1f} {'-':>8} {'-':>8} {'-':>8} {'-':>8} {errors:>7}  {note}"
            )
            ok = ok and errors == 0 and bool(stats.skipped[op])
            continue
        p95 = pct(samples, 95)
        met = p95 <= TARGET_P95_MS and errors == 0
        ok = ok and met
        print(
            f"{op:<10} {len(samples):>8} {len(samples) / seconds:>7.1f} {pct(samples, 50):>8.1f} "
            f"{p95:>8.1f} {pct(samples, 99):>8.1f} {max(samples):>8.1f} {errors:>7}  "
            f"<= {TARGET_P95_MS:.0f} {'ok' if met else 'MISSED'}"
        )
    n_errors = sum(stats.errors.values())
    print(f"total: {total} requests, {total / seconds:.1f} req/s, {n_errors} errors")
    for (op, what), n in sorted(stats.errors.items()):
        print(f"  error {op}: {what} x {n}")
    print(f"rows written to the dataset (+inserted ~updated, warm-up and setup included): {added}")
    print(
        f"  visits answered 201 while measured: {stats.visits_created:,}; "
        f"bench users created by this run: {users_created}"
    )
    return ok


async def run(args: argparse.Namespace) -> int:
    scale = datagen.SCALES[args.scale]
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER, "bench_province" if scale.name == "full" else f"bench_{scale.name}"
    )
    dataset = await datagen.existing(url, scale)
    if scale.name == "full" or datagen.database_name(url) == "bench_province":
        # The province dataset is shared and built by others: only ever used, never rebuilt.
        if dataset is None:
            datagen.log(f"waiting for the province dataset in {datagen.database_name(url)}")
        while dataset is None:
            await asyncio.sleep(30)
            dataset = await datagen.existing(url, scale)
    elif dataset is None or not args.reuse:
        datagen.log(f"building the {scale.name} dataset in {datagen.database_name(url)}")
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        dataset = await datagen.generate(url, scale)
    rng = random.Random(args.seed)
    villages = rng.sample(dataset.villages, min(args.phones, len(dataset.villages)))
    minutes = int((args.duration + args.warmup) / 60) + 60
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=minutes)
    before = await written(url)
    phones, users_created = await make_phones(url, settings, villages)
    # Fewer villages than phones (small scales): phones share them.
    while len(phones) < args.phones:
        phones.append(phones[len(phones) % len(villages)])
    datagen.log(f"{len(phones)} phones over {len(villages)} villages")

    load_before = os.getloadavg()[0]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"CHILDPROTECT_ACCESS_TOKEN_MINUTES": str(minutes)}
    with tempfile.TemporaryDirectory(prefix="cp-load-") as tmp:
        logfile = (Path(tmp) / "api.log").open("wb")
        proc = start_server(url, port, env, workers=args.workers, output=logfile)
        stats = Stats()
        load_max = 0.0
        try:
            await wait_ready(base, proc, within_s=120)
            sync_present = await sync_endpoint_present(base, phones[0])
            datagen.log(
                f"API ready on {base} ({args.workers} workers); sync feed "
                f"{'present' if sync_present else 'absent: that op is skipped'}; "
                f"warm-up {args.warmup:.0f} s, then {args.duration:.0f} s measured"
            )
            # Idle connections are dropped well before the server's keep-alive timeout (5 s):
            # reusing one the server is closing would count as an error of the API.
            limits = httpx.Limits(
                max_connections=len(phones),
                max_keepalive_connections=len(phones),
                keepalive_expiry=2.0,
            )
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
                start = time.monotonic()
                stop_at = start + args.warmup + args.duration
                tasks = [
                    asyncio.create_task(
                        run_phone(
                            client, phone, stats, stop_at, args.think, sync_present, args.seed + i
                        )
                    )
                    for i, phone in enumerate(phones)
                ]
                await asyncio.sleep(args.warmup)
                stats.measuring = True
                measured_from = time.monotonic()
                while time.monotonic() < stop_at:
                    await asyncio.sleep(min(5.0, max(0.1, stop_at - time.monotonic())))
                    load_max = max(load_max, os.getloadavg()[0])
                seconds = stop_at - measured_from
                await asyncio.gather(*tasks)  # the requests in flight at the end still count
                stats.measuring = False
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()
            logfile.close()
            server_log = (Path(tmp) / "api.log").read_text(errors="replace")
    await asyncio.sleep(1)  # table statistics reach pg_stat_user_tables with a short delay
    added = changes(before, await written(url))
    ok = report(
        stats,
        seconds,
        len(phones),
        args.workers,
        args.think,
        dataset,
        (load_before, load_max, os.getloadavg()[0]),
        added,
        users_created,
    )
    if stats.errors and server_log.strip():
        print("\nserver output (last lines):")
        print("\n".join(server_log.strip().splitlines()[-30:]))
    if args.drop and datagen.database_name(url) != "bench_province":
        await datagen.drop_database(url)
    return 0 if ok or not args.strict else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(datagen.SCALES), default="full")
    p.add_argument("--database-url", default=None, help="the dataset's database")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="use a dataset of this scale if present (the full one is always reused, never built)",
    )
    p.add_argument("--phones", type=int, default=200, help="concurrent simulated phones")
    p.add_argument("--duration", type=float, default=300, help="measured seconds")
    p.add_argument("--warmup", type=float, default=20, help="seconds run before measuring")
    p.add_argument(
        "--think",
        type=float,
        default=5.0,
        help="mean think time per phone in seconds (5: someone reading the screen between "
        "taps); the offered load is about phones / (think + latency) requests a second",
    )
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
