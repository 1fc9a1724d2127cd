"""Storage footprint and database cost of the hot reads, measured on a built dataset, and the
national projection that docs/scaling.md quotes.

    python -m bench.footprint                                  # bench_province (1M children)
    python -m bench.footprint --database-url postgresql://.../bench_small --samples 20
    python -m bench.footprint --wal-per-visit 9000 --wal-per-read 600   # from bench.writes

READ-ONLY: every connection runs with default_transaction_read_only = on. Prints:

1. rows and bytes (heap, TOAST, indexes) per table, and the biggest indexes;
2. bytes per child record and per visit; the active children's risk mix, hence the visits a
   child needs in a year under the policy's default intervals (blue 90 d, yellow 30, orange 7,
   red 1) and the bytes of a child-year (its record + a year of visits);
3. the national projection: 10M children, 120M visits a year (and what the policy mix would
   ask), storage per year, peak write and read rates under the stated assumptions, and WAL
   per second when the WAL per visit / per read is given (bench/writes.py measures it);
4. server-side execution time of the hot reads (EXPLAIN ANALYZE of the statements the API
   issues: village/township/county worklist page, the returned-visits probe, the session
   check, a children list page, a child by id) over random callers, warm cache;
5. pgbench: transactions per second of the village worklist request's SQL (BEGIN, session
   check, page, returned visits, COMMIT; -M prepared like the API's asyncpg) at several
   client counts. The API's audit INSERT is left out (read-only here): bench/writes.py
   measures writes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import literal
from sqlalchemy.dialects import postgresql

from bench import datagen, pgcluster
from childprotect_api.core.rawsql import Raw
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.security.scope import Scope, scope_filter
from childprotect_api.services.children import listing as child_list
from childprotect_api.services.children import registry as children
from childprotect_api.services.visits import worklist
from childprotect_api.services.visits.worklist import _C

MB = 1024 * 1024
GB = 1024 * MB
YEAR_S = 365 * 86400

# The national deployment (issue #11 / DESIGN.md "Scale").
NATIONAL_CHILDREN = 10_000_000
NATIONAL_VISITS_PER_YEAR = 120_000_000

# Assumptions for peak rates (printed with the figures).
WORKING_DAYS = 250  # visits are made on working days...
WORKING_HOURS = 8  # ...in working hours
PEAK_FACTOR = 3.0  # busiest hour of the year over the working-hour average
PHONES = 300_000  # "several hundred thousand phones"
PEAK_ACTIVE_SHARE = 0.5  # share of phones in use in the peak hour
READS_PER_ACTIVE_PHONE_MINUTE = 0.2  # one worklist/sync read per active phone every 5 min


def _sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _raw_sql(raw: Raw, params: dict[str, Any]) -> str:
    """A prepared statement of the API's hot paths (rawsql.Raw: $1, $2, ...) with its
    parameters written in as literals, for EXPLAIN and pgbench."""
    sql = raw.sql
    args = raw.args(params)
    for n in range(len(args), 0, -1):  # $10 before $1
        value = args[n - 1]
        text = f"'{value}'::uuid" if isinstance(value, uuid.UUID) else _sql(literal(value))
        sql = sql.replace(f"${n}", text)
    return sql


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        datagen.dsn(url), server_settings={"default_transaction_read_only": "on", "jit": "off"}
    )


# --- 1. tables --------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    rows: int
    heap: int
    toast: int
    indexes: int
    index_count: int

    @property
    def total(self) -> int:
        return self.heap + self.toast + self.indexes

    def per_row(self) -> float:
        return self.total / self.rows if self.rows else 0.0


async def tables(conn: asyncpg.Connection) -> list[Table]:
    rows = await conn.fetch(
        """
        SELECT c.relname AS name,
               pg_table_size(c.oid)
                 - coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS heap,
               coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast,
               pg_indexes_size(c.oid) AS indexes,
               (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid) AS index_count
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
        ORDER BY pg_total_relation_size(c.oid) DESC
        """
    )
    out = []
    for r in rows:
        count = await conn.fetchval(f'SELECT count(*) FROM "{r["name"]}"')
        out.append(Table(r["name"], count, r["heap"], r["toast"], r["indexes"], r["index_count"]))
    return out


async def biggest_indexes(conn: asyncpg.Connection, limit: int = 12) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT i.relname AS index, t.relname AS table, pg_relation_size(i.oid) AS bytes
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' ORDER BY 3 DESC LIMIT $1
        """,
        limit,
    )


def print_tables(ts: list[Table], idx: list[asyncpg.Record]) -> None:
    print("\n1. tables (exact row counts; bytes from pg_table_size / pg_indexes_size)")
    print(
        f"{'table':<26} {'rows':>12} {'heap MB':>9} {'toast MB':>9} {'index MB':>9} "
        f"{'total MB':>9} {'B/row':>7} {'index %':>7}"
    )
    for t in ts:
        if t.total < 64 * 1024 and t.rows < 100:
            continue
        print(
            f"{t.name:<26} {t.rows:>12,} {t.heap / MB:>9.1f} {t.toast / MB:>9.1f} "
            f"{t.indexes / MB:>9.1f} {t.total / MB:>9.1f} {t.per_row():>7.0f} "
            f"{t.indexes / max(t.total, 1):>7.0%}"
        )
    total = sum(t.total for t in ts)
    print(f"{'all tables':<26} {'':>12} {'':>9} {'':>9} {'':>9} {total / MB:>9.1f}")
    print("biggest indexes:")
    for r in idx:
        print(f"  {r['index']:<40} {r['table']:<14} {r['bytes'] / MB:>9.1f} MB")


# --- 2. per child, per visit, per child-year ----------------------------------------------


@dataclass
class Footprint:
    indexes: dict[str, int]  # table -> number of indexes
    child_bytes: float
    visit_bytes: float
    visit_index_bytes: float
    audit_bytes: float | None
    risk_mix: dict[str, float]
    visits_per_child_year: float

    @property
    def child_year_bytes(self) -> float:
        return self.child_bytes + self.visits_per_child_year * self.visit_bytes


async def risk_mix(conn: asyncpg.Connection) -> dict[str, float]:
    rows = await conn.fetch(
        "SELECT risk_level, count(*) AS n FROM children WHERE status = 'active' GROUP BY 1"
    )
    total = sum(r["n"] for r in rows) or 1
    return {r["risk_level"]: r["n"] / total for r in rows}


def footprint(ts: list[Table], mix: dict[str, float]) -> Footprint:
    by = {t.name: t for t in ts}
    per_year = sum(share * 365 / DEFAULT_INTERVAL_DAYS[level] for level, share in mix.items())
    audit = by.get("audit_log")
    return Footprint(
        indexes={t.name: t.index_count for t in ts},
        child_bytes=by["children"].per_row(),
        visit_bytes=by["visits"].per_row(),
        visit_index_bytes=by["visits"].indexes / max(by["visits"].rows, 1),
        audit_bytes=audit.per_row() if audit and audit.rows >= 1000 else None,
        risk_mix=mix,
        visits_per_child_year=per_year,
    )


def print_footprint(f: Footprint) -> None:
    print("\n2. per child, per visit, per child-year")
    n = f.indexes
    print(f"child record (heap + TOAST + {n['children']} indexes): {f.child_bytes:,.0f} B")
    print(
        f"visit (heap + TOAST + {n['visits']} indexes):        {f.visit_bytes:,.0f} B "
        f"(of which indexes {f.visit_index_bytes:,.0f} B)"
    )
    if f.audit_bytes is not None:
        print(f"audit event (heap + {n['audit_log']} indexes):           {f.audit_bytes:,.0f} B")
    mix = ", ".join(f"{lv} {share:.1%}" for lv, share in sorted(f.risk_mix.items()))
    intervals = ", ".join(f"{lv} {d} d" for lv, d in DEFAULT_INTERVAL_DAYS.items())
    print(f"active children's risk mix: {mix}")
    print(f"policy intervals: {intervals}")
    print(
        f"visits per child-year at that mix: {f.visits_per_child_year:.2f} "
        "(sum of share x 365 / interval)"
    )
    visits = f.visits_per_child_year * f.visit_bytes
    print(
        f"bytes per child-year: {f.child_bytes:,.0f} + {f.visits_per_child_year:.2f} x "
        f"{f.visit_bytes:,.0f} = {f.child_year_bytes:,.0f} B "
        f"({visits / f.child_year_bytes:.0%} visits)"
    )
    print(
        f"(the national figures, {NATIONAL_VISITS_PER_YEAR / 1e6:,.0f}M visits a year for "
        f"{NATIONAL_CHILDREN / 1e6:,.0f}M children, are "
        f"{NATIONAL_VISITS_PER_YEAR / NATIONAL_CHILDREN:.1f} visits per child-year)"
    )


# --- 3. national projection ---------------------------------------------------------------


@dataclass
class Peak:
    visits: float  # visit submissions per second at peak
    reads: float  # worklist/sync reads per second at peak


def projection(f: Footprint, args: argparse.Namespace) -> Peak:
    print("\n3. national projection")
    policy_visits = NATIONAL_CHILDREN * f.visits_per_child_year
    records = NATIONAL_CHILDREN * f.child_bytes
    visits_year = NATIONAL_VISITS_PER_YEAR * f.visit_bytes
    print(
        f"{NATIONAL_CHILDREN:,} children: records {records / GB:,.1f} GB; "
        f"{NATIONAL_VISITS_PER_YEAR:,} visits a year: +{visits_year / GB:,.1f} GB a year, "
        f"of which indexes +{NATIONAL_VISITS_PER_YEAR * f.visit_index_bytes / GB:,.1f} GB "
        f"(the policy mix above would ask {policy_visits / 1e6:,.0f}M visits: "
        f"+{policy_visits * f.visit_bytes / GB:,.1f} GB a year)"
    )
    print(
        "attachments (none in this dataset): every 100 kB of photos per visit adds "
        f"{NATIONAL_VISITS_PER_YEAR * 100_000 / 1e12:,.0f} TB a year"
    )
    work_seconds = WORKING_DAYS * WORKING_HOURS * 3600
    avg = NATIONAL_VISITS_PER_YEAR / YEAR_S
    work = NATIONAL_VISITS_PER_YEAR / work_seconds
    peak = work * PEAK_FACTOR
    print(
        f"visit writes: {avg:.1f}/s averaged over the year; {work:.1f}/s averaged over working "
        f"hours ({WORKING_DAYS} days x {WORKING_HOURS} h); peak {peak:.0f}/s "
        f"(assumed peak factor {PEAK_FACTOR:g} over the working-hour average)"
    )
    reads = PHONES * PEAK_ACTIVE_SHARE * READS_PER_ACTIVE_PHONE_MINUTE / 60
    print(
        f"worklist/sync reads at peak: {reads:.0f}/s (assumed: {PHONES:,} phones, "
        f"{PEAK_ACTIVE_SHARE:.0%} active in the peak hour, one read every "
        f"{1 / READS_PER_ACTIVE_PHONE_MINUTE:g} min each); working-hour average "
        f"{reads / PEAK_FACTOR:.0f}/s"
    )
    if f.audit_bytes is not None:
        audit_year = reads / PEAK_FACTOR * work_seconds * f.audit_bytes
        print(
            f"audit log from those reads alone (one event each at the working-hour average): "
            f"+{audit_year / GB:,.0f} GB a year; a children list page writes 50 events"
        )
    years = 5
    audit_years = (reads / PEAK_FACTOR * work_seconds * (f.audit_bytes or 0.0)) * years
    total = records + (visits_year * years) + audit_years
    print(
        f"after {years} years (retention anonymises closed records; no visit or audit event "
        f"is deleted): records + visits + read audit = {total / GB / 1024:,.2f} TB"
    )
    wal_visit = (args.wal_per_visit or 0.0) + (args.wal_per_review or 0.0)
    if args.wal_per_visit is not None:
        read = args.wal_per_read or 0.0
        wal = peak * wal_visit + reads * read
        day = (work * wal_visit + reads / PEAK_FACTOR * read) * WORKING_HOURS * 3600
        print(
            f"WAL per visit (submission {args.wal_per_visit:,.0f} B + review "
            f"{args.wal_per_review or 0:,.0f} B) = {wal_visit:,.0f} B; per read {read:,.0f} B"
        )
        print(
            f"WAL at peak: {peak:.0f} visits/s x {wal_visit:,.0f} B + {reads:.0f} reads/s x "
            f"{read:,.0f} B = {wal / MB:.2f} MB/s ({peak * wal_visit / MB:.2f} from visits, "
            f"{reads * read / MB:.2f} from reads); a working day at the average rates: "
            f"{day / GB:,.0f} GB of WAL"
        )
    else:
        print("WAL at peak: give --wal-per-visit, --wal-per-review, --wal-per-read (bench.writes)")
    return Peak(peak, reads)


# --- 4. hot reads: EXPLAIN ANALYZE --------------------------------------------------------


@dataclass
class Timing:
    name: str
    execution_ms: list[float]
    planning_ms: list[float]
    buffers: list[int]
    rows: list[int]

    def pct(self, values: list[float], p: int) -> float:
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def _scope(role: str, area: str) -> Scope:
    return Scope("user", uuid.uuid4(), role, area)


def worklist_sql(area: str, now: datetime, within_days: int = 7, limit: int = 50) -> str:
    flt = scope_filter(_scope("village_director", area), _C.area_code, _C.county_code)
    params = {
        **flt.params,
        "now": now,
        "horizon": now + timedelta(days=within_days),
        "page_limit": limit,
    }
    return _raw_sql(worklist._statement("page", flt), params)


def returned_sql(area: str, visitor: uuid.UUID) -> str:
    flt = scope_filter(_scope("village_director", area), _C.area_code, _C.county_code)
    return _raw_sql(worklist._statement("returned", flt), {**flt.params, "visitor_id": visitor})


def session_check_sql(user_id: uuid.UUID, session_id: uuid.UUID) -> str:
    from childprotect_api.security.scope import _SESSION_CHECK

    return _raw_sql(_SESSION_CHECK, {"user_id": user_id, "session_id": session_id})


def list_sql(area: str, limit: int = 50) -> str:
    scope = _scope("village_director", area)
    stmt, params = child_list.list_statement(scope, child_list.ChildFilters(), limit, None)
    return _raw_sql(stmt, params)


def child_sql(area: str, child_id: uuid.UUID) -> str:
    flt = scope_filter(_scope("village_director", area), _C.area_code, _C.county_code)
    return _raw_sql(children._by_id(flt), {**flt.params, "child_id": child_id})


async def explain(conn: asyncpg.Connection, sql: str) -> tuple[float, float, int, int]:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    top = plan["Plan"]
    buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return plan["Execution Time"], plan["Planning Time"], buffers, top.get("Actual Rows", 0)


async def time_queries(
    conn: asyncpg.Connection, name: str, sqls: list[str], warm_rounds: int = 1
) -> Timing:
    t = Timing(name, [], [], [], [])
    for _ in range(warm_rounds):
        for sql in sqls:
            await explain(conn, sql)
    for sql in sqls:
        ex, pl, buf, rows = await explain(conn, sql)
        t.execution_ms.append(ex)
        t.planning_ms.append(pl)
        t.buffers.append(buf)
        t.rows.append(rows)
    return t


@dataclass
class Sample:
    villages: list[str]
    townships: list[str]
    counties: list[str]
    children: list[tuple[uuid.UUID, str]]
    sessions: list[tuple[uuid.UUID, uuid.UUID]]


async def sample(conn: asyncpg.Connection, n: int, seed: int) -> Sample:
    rng = random.Random(seed)

    async def codes(level: str, k: int) -> list[str]:
        rows = await conn.fetch("SELECT code FROM areas WHERE level = $1 ORDER BY code", level)
        all_codes = [r["code"] for r in rows]
        return rng.sample(all_codes, min(k, len(all_codes)))

    villages = await codes("village", n)
    # Children by key, as a phone opens one: random pages of the table (cheap), then n rows.
    total = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'children'::regclass")
    percent = min(100.0, max(0.01, 100.0 * 50 * n / max(total, 1.0)))
    kids = list(
        await conn.fetch(
            f"SELECT id, area_code FROM children TABLESAMPLE SYSTEM ({percent:.4f}) "
            f"REPEATABLE ({seed})"
        )
    )
    rng.shuffle(kids)
    kids = kids[:n]
    sessions = await conn.fetch(
        "SELECT u.id AS user_id, f.id AS session_id FROM users u "
        "JOIN token_families f ON f.user_id = u.id LIMIT 50"
    )
    return Sample(
        villages=villages,
        townships=await codes("township", max(1, n // 2)),
        counties=await codes("county", max(1, n // 4)),
        children=[(r["id"], r["area_code"]) for r in kids],
        sessions=[(r["user_id"], r["session_id"]) for r in sessions]
        or [(uuid.uuid4(), uuid.uuid4())],
    )


async def hot_reads(conn: asyncpg.Connection, s: Sample) -> list[Timing]:
    now = datetime.now(UTC)
    visitor = s.sessions[0][0]
    cases: list[tuple[str, list[str]]] = [
        ("worklist page, village", [worklist_sql(v, now) for v in s.villages]),
        ("worklist page, township", [worklist_sql(t, now) for t in s.townships]),
        ("worklist page, county", [worklist_sql(c, now) for c in s.counties]),
        ("returned visits, village", [returned_sql(v, visitor) for v in s.villages]),
        ("session check (every request)", [session_check_sql(u, f) for u, f in s.sessions]),
        ("children list page, village", [list_sql(v) for v in s.villages]),
        ("children list page, township", [list_sql(t) for t in s.townships]),
        ("child by id", [child_sql(a, c) for c, a in s.children]),
    ]
    return [await time_queries(conn, name, sqls) for name, sqls in cases]


def print_hot_reads(ts: list[Timing]) -> None:
    print("\n4. hot reads: server-side time (EXPLAIN ANALYZE, warm cache, random callers)")
    print(
        f"{'statement':<32} {'n':>4} {'exec p50':>9} {'exec p95':>9} {'plan p50':>9} "
        f"{'buffers':>8} {'rows':>6}"
    )
    for t in ts:
        print(
            f"{t.name:<32} {len(t.execution_ms):>4} {t.pct(t.execution_ms, 50):>7.3f}ms "
            f"{t.pct(t.execution_ms, 95):>7.3f}ms {t.pct(t.planning_ms, 50):>7.3f}ms "
            f"{statistics.mean(t.buffers):>8.0f} {statistics.mean(t.rows):>6.1f}"
        )


# --- 5. pgbench ---------------------------------------------------------------------------


def find_pgbench() -> str | None:
    for bindir in pgcluster.candidate_bindirs():
        if (bindir / "pgbench").exists():
            return str(bindir / "pgbench")
    return shutil.which("pgbench")


def pgbench_scripts(folder: Path, s: Sample, k: int = 20) -> list[Path]:
    """One script per village (pgbench picks one at random per transaction): the SQL of one
    village director's GET /api/v1/worklist, in one transaction as the API runs it."""
    now = datetime.now(UTC)
    paths = []
    for i, village in enumerate(s.villages[:k]):
        user, session = s.sessions[i % len(s.sessions)]
        body = ";\n".join(
            [
                "BEGIN",
                session_check_sql(user, session).replace("\n", " "),
                worklist_sql(village, now).replace("\n", " "),
                returned_sql(village, user).replace("\n", " "),
                "COMMIT",
            ]
        )
        path = folder / f"worklist_{i}.sql"
        path.write_text(body + ";\n")
        paths.append(path)
    return paths


def pgbench(
    exe: str, url: str, scripts: list[Path], clients: int, seconds: int
) -> dict[str, float]:
    cmd = [exe, "-n", "-M", "prepared", "-T", str(seconds), "-c", str(clients)]
    cmd += ["-j", str(min(clients, os.cpu_count() or 1))]
    for p in scripts:
        cmd += ["-f", str(p)]
    env = dict(os.environ, PGOPTIONS="-c default_transaction_read_only=on -c jit=off")
    out = subprocess.run(  # noqa: S603 (pgbench with arguments of our making)
        [*cmd, datagen.dsn(url)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
    result: dict[str, float] = {}
    for line in out.stdout.splitlines():
        if line.startswith("tps = "):
            result["tps"] = float(line.split()[2])
        elif line.startswith("latency average"):
            result["latency_ms"] = float(line.split()[3])
        elif line.startswith("number of failed transactions"):
            result["failed"] = float(line.split(":")[1].split()[0])
    return result


def run_pgbench(url: str, s: Sample, clients: list[int], seconds: int, peak: Peak) -> None:
    print(
        f"\n5. pgbench: village worklist request SQL (BEGIN, session check, page, returned, "
        f"COMMIT), -M prepared, {seconds} s per run, {min(20, len(s.villages))} villages"
    )
    exe = find_pgbench()
    if exe is None:
        print("pgbench not found: skipped")
        return
    with tempfile.TemporaryDirectory(prefix="cp-pgbench-") as tmp:
        scripts = pgbench_scripts(Path(tmp), s)
        print(f"{'clients':>7} {'tps':>9} {'latency ms':>11} {'load 1m':>8}")
        best = 0.0
        for c in clients:
            r = pgbench(exe, url, scripts, c, seconds)
            best = max(best, r.get("tps", 0.0))
            print(
                f"{c:>7} {r.get('tps', 0):>9.0f} {r.get('latency_ms', 0):>11.2f} "
                f"{os.getloadavg()[0]:>8.2f}"
            )
    cpus = os.cpu_count() or 1
    if best > 0:
        per_cpu = best / cpus
        print(
            f"best {best:,.0f} tps on {cpus} CPUs shared with pgbench itself (and whatever "
            f"else runs): >= {per_cpu:,.0f} worklist transactions/s per CPU. The national "
            f"peak of {peak.reads:.0f} reads/s needs {peak.reads / per_cpu:.1f} CPUs of "
            f"PostgreSQL at that rate; ten times the assumed read rate, "
            f"{10 * peak.reads / per_cpu:.1f}"
        )


# --- main ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    url = args.database_url
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    conn = await connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        settings = {
            k: await conn.fetchval(f"SHOW {k}")
            for k in ("shared_buffers", "work_mem", "effective_cache_size")
        }
        print(
            f"database {datagen.database_name(url)}: PostgreSQL {version}, "
            + ", ".join(f"{k} {v}" for k, v in settings.items())
            + f"; {os.cpu_count()} CPUs, load average (1 min) {load_before:.2f}"
        )
        ts = await tables(conn)
        print_tables(ts, await biggest_indexes(conn))
        f = footprint(ts, await risk_mix(conn))
        print_footprint(f)
        peak = projection(f, args)
        s = await sample(conn, args.samples, args.seed)
        if not args.skip_explain:
            print_hot_reads(await hot_reads(conn, s))
    finally:
        await conn.close()
    if args.pgbench_seconds > 0:
        run_pgbench(url, s, args.pgbench_clients, args.pgbench_seconds, peak)
    print(
        f"\ndone in {time.perf_counter() - started:.0f} s; load average (1 min) "
        f"before {load_before:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--database-url", default=datagen.with_database(datagen.DEFAULT_SERVER, "bench_province")
    )
    p.add_argument("--samples", type=int, default=60, help="villages sampled (townships /2)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--skip-explain", action="store_true")
    p.add_argument("--pgbench-seconds", type=int, default=30, help="0 skips pgbench")
    p.add_argument("--pgbench-clients", type=_ints, default=[2, 4, 8])
    p.add_argument(
        "--wal-per-visit", type=float, default=None, help="bytes per submission (bench.writes)"
    )
    p.add_argument(
        "--wal-per-review", type=float, default=None, help="bytes per review (bench.writes)"
    )
    p.add_argument(
        "--wal-per-read", type=float, default=None, help="bytes per worklist (bench.writes)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
