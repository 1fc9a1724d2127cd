"""Offline sync at the HTTP level: the changes feed (and, later, the batch push).

    python -m bench.sync                    # a village of 300 children, two years of visits
    python -m bench.sync --scale tiny       # CI smoke: a few seconds
    python -m bench.sync --reuse            # measure again on the dataset already built

Layout of this file:
- the dataset: `build()` makes, in its own database (default `bench_sync` on
  postgresql://postgres@127.0.0.1:5432), one county, one township and `villages` villages of
  `children` children each, every child with an agreement (a third also with an expired
  earlier one) and a visit about every `visit_every_days` days over `history_days`. Rows are
  written by plain INSERT ... SELECT with the triggers ON, so the change log (sync_changes)
  holds what production would: one row per record, for every village (the feed's scoped
  read has the neighbours' rows to skip).
- the feed: `measure_initial()` times a village director's initial load (every page, until
  `has_more` is false, the catch-up call included); `a_days_work()` logs visits and edits
  children through the API; `measure_incremental()` times the sync that follows.
- `main()` starts the real API (uvicorn, one worker, as bench/worklist.py does), runs the
  rounds and prints the figures with the load average. Targets (the issue): initial load
  <= 1 s, incremental <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import datagen
from bench.worklist import _free_port, start_server, wait_ready
from childprotect_api.config import Settings

TARGET_INITIAL_S = 1.0
TARGET_INCREMENTAL_MS = 100.0
COUNTY, TOWNSHIP = "620799", "620799100"


@dataclass(frozen=True)
class SyncScale:
    name: str
    villages: int
    children: int  # per village
    history_days: int
    visit_every_days: int


SCALES: dict[str, SyncScale] = {
    "tiny": SyncScale("tiny", 2, 30, 120, 30),
    # The village: 300 children, two years of visits (about monthly: ~24 a child).
    "village": SyncScale("village", 6, 300, 730, 30),
}


@dataclass
class SyncDataset:
    scale: SyncScale
    villages: list[str] = field(default_factory=list)
    children: int = 0
    agreements: int = 0
    visits: int = 0
    log_rows: int = 0
    seconds: float = 0.0


# --- the dataset ---------------------------------------------------------------------------


def village_codes(scale: SyncScale) -> list[str]:
    return [f"{TOWNSHIP}{i + 1:03d}" for i in range(scale.villages)]


async def build(url: str, scale: SyncScale) -> SyncDataset:
    """Fill a migrated, empty database (module docstring). Triggers stay on."""
    started = time.perf_counter()
    data = SyncDataset(scale, village_codes(scale))
    conn = await datagen.connect(url)
    try:
        areas = [
            ("62", "甘肃省", None, "province"),
            ("6207", "张掖市", "62", "city"),
            (COUNTY, "同步县", "6207", "county"),
            (TOWNSHIP, "同步镇", COUNTY, "township"),
        ] + [(v, f"第{i + 1}村", TOWNSHIP, "village") for i, v in enumerate(data.villages)]
        await conn.copy_records_to_table(
            "areas", records=areas, columns=["code", "name", "parent_code", "level"]
        )
        staff = uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, username, display_name, role, area_code, password_hash, "
            "is_active, version) VALUES ($1, 'bench_sync_staff', '历史录入', "
            "'county_officer', $2, '!', false, 1)",
            staff,
            COUNTY,
        )
        await conn.execute(
            'CREATE TEMP TABLE bench_village (idx int PRIMARY KEY, code text COLLATE "C")'
        )
        await conn.copy_records_to_table(
            "bench_village", records=list(enumerate(data.villages)), columns=["idx", "code"]
        )
        datagen.log(f"{scale.villages} villages of {scale.children} children")
        await conn.execute(_CHILDREN, scale.children, staff, scale.history_days)
        await conn.execute(_AGREEMENTS, staff)
        datagen.log("visits")
        await conn.execute(_VISITS, staff, scale.history_days, scale.visit_every_days)
        # What the visits moved on the children (as the API does after each visit).
        await conn.execute(_VISITED)
        await conn.execute("ANALYZE")
        data.children = await conn.fetchval("SELECT count(*) FROM children")
        data.agreements = await conn.fetchval("SELECT count(*) FROM agreements")
        data.visits = await conn.fetchval("SELECT count(*) FROM visits")
        data.log_rows = await conn.fetchval("SELECT count(*) FROM sync_changes")
        await conn.execute(
            "CREATE TABLE bench_sync_meta (scale text, made_at timestamptz DEFAULT now())"
        )
        await conn.execute("INSERT INTO bench_sync_meta (scale) VALUES ($1)", scale.name)
    finally:
        await conn.close()
    data.seconds = time.perf_counter() - started
    return data


_CHILDREN = """
INSERT INTO children (
    id, county_code, area_code, name, gender, birth_date, id_number_masked, address,
    household_registration, residence, categories, family_situation, main_income_source,
    father, mother, subsidies, school, grade, risk_level, status, version, created_at,
    updated_at, created_by)
SELECT md5('sync-child/' || v.idx || '/' || g)::uuid, left(v.code, 6), v.code,
       (ARRAY['王','李','张','刘','陈','杨','赵','黄'])[1 + g % 8]
           || (ARRAY['小明','佳怡','浩然','梓涵','子轩','欣怡','宇航','雨桐'])[1 + (g / 8) % 8],
       CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
       date '2010-01-01' + (g * 37 % 4000), '6207**********' || lpad((g % 10000)::text, 4, '0'),
       '第' || (1 + g % 9) || '村民小组' || (1 + g % 60) || '号',
       '甘肃省' || v.code, '甘肃省' || v.code,
       ARRAY['left_behind']::varchar[], '父母在外务工，由祖父母照看。', '务工收入',
       '{"situation": "working_away", "work_place": "新疆"}'::jsonb,
       '{"situation": "working_away", "work_place": "浙江"}'::jsonb,
       '[]'::jsonb, '同步镇中心小学', (1 + g % 6) || '年级',
       (ARRAY['blue','blue','blue','yellow','yellow','orange','blue','red'])[1 + g % 8],
       'active', 1, now() - make_interval(days => $3 + 30), now(), $2
FROM bench_village v CROSS JOIN generate_series(1, $1) g
"""

_AGREEMENTS = """
INSERT INTO agreements (
    id, child_id, county_code, area_code, guardian_name, guardian_relation, guardian_phone,
    guardian_id_number_masked, guardian_work_place, caregiver_name, caregiver_relation,
    caregiver_phone, caregiver_id_number_enc, caregiver_id_number_hash,
    caregiver_id_number_masked, caregiver_birth_date, caregiver_address, checklist,
    times_per_week_child, times_per_week_caregiver, starts_on, ends_on, status,
    activated_at, create_fingerprint, version, created_at, updated_at, created_by)
SELECT md5('sync-agreement/' || c.id || '/' || k)::uuid, c.id, c.county_code, c.area_code,
       '王建国', 'father', '13800000001', '6207**********0011', '新疆',
       '李秀英', 'paternal_grandparent', '13800000002', '\\x00'::bytea,
       md5('caregiver/' || c.id), '6207**********0022', date '1960-04-09', c.address,
       '{}'::jsonb, 2, 1,
       CASE k WHEN 0 THEN current_date - 200 ELSE current_date - 565 END,
       CASE k WHEN 0 THEN current_date + 165 ELSE current_date - 200 END,
       CASE k WHEN 0 THEN 'active' ELSE 'expired' END,
       now() - make_interval(days => CASE k WHEN 0 THEN 200 ELSE 565 END),
       md5('fp/' || c.id || '/' || k), 1, now() - interval '200 days', now(), $1
FROM children c CROSS JOIN generate_series(0, 1) k
WHERE k = 0 OR abs(hashtext(c.id::text)) % 3 = 0
"""

_VISITS = (
    """
INSERT INTO visits (
    id, original_id, revision, is_current, child_id, county_code, area_code, visitor_id,
    visited_at, kind, latitude, longitude, accuracy_m, checklist, notes, suggested_risk_level,
    follow_up_actions, status, reviewed_by, reviewed_at, content_hash, version, created_at,
    updated_at)
SELECT vid, vid, 1, true, c.id, c.county_code, c.area_code, $1, at,
       CASE WHEN j % 4 = 3 THEN 'phone' ELSE 'home' END, 38.43, 100.81, 12.5,
       '"""
    + datagen._CHECKLIST
    + """'::jsonb, '孩子状态良好，按时上学。', c.risk_level,
       '[]'::jsonb, CASE WHEN j = 0 THEN 'submitted' ELSE 'accepted' END,
       CASE WHEN j > 0 THEN $1::uuid END, CASE WHEN j > 0 THEN at + interval '2 days' END,
       md5(vid::text) || md5(c.id::text), 1, at, at
FROM children c
CROSS JOIN generate_series(0, $2::int / $3::int - 1) j
CROSS JOIN LATERAL (
    SELECT md5('sync-visit/' || c.id || '/' || j)::uuid AS vid,
           now() - make_interval(days => j * $3::int + abs(hashtext(c.id::text)) % $3::int,
                                 hours => 2) AS at
) x
"""
)

_VISITED = """
UPDATE children c SET last_visit_at = v.last, next_visit_due = v.last + interval '30 days',
       version = c.version + 1, updated_at = now()
FROM (SELECT child_id, max(visited_at) AS last FROM visits GROUP BY child_id) v
WHERE v.child_id = c.id
"""


async def existing(url: str, scale: SyncScale) -> SyncDataset | None:
    try:
        conn = await datagen.connect(url)
    except Exception:  # no such database
        return None
    try:
        made = await conn.fetchval(
            "SELECT scale FROM bench_sync_meta WHERE scale = $1 LIMIT 1", scale.name
        )
        if made is None:
            return None
        return SyncDataset(
            scale,
            village_codes(scale),
            children=await conn.fetchval("SELECT count(*) FROM children"),
            agreements=await conn.fetchval("SELECT count(*) FROM agreements"),
            visits=await conn.fetchval("SELECT count(*) FROM visits"),
            log_rows=await conn.fetchval("SELECT count(*) FROM sync_changes"),
        )
    except Exception:  # no meta table: not a dataset of ours
        return None
    finally:
        await conn.close()


# --- the feed ------------------------------------------------------------------------------


@dataclass
class Initial:
    seconds: float
    pages: int
    items: int
    cursor: str


def _auth(caller: datagen.Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


async def _page(
    client: httpx.AsyncClient, caller: datagen.Caller, cursor: str | None, limit: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    r = await client.get("/api/v1/sync/changes", params=params, headers=_auth(caller))
    if r.status_code != 200:
        raise RuntimeError(f"sync: {r.status_code} {r.text[:300]}")
    body: dict[str, Any] = r.json()
    return body


async def measure_initial(
    client: httpx.AsyncClient, caller: datagen.Caller, limit: int = 1000
) -> Initial:
    """A fresh phone: every page from no cursor until `has_more` is false."""
    started = time.perf_counter()
    cursor, pages, items = None, 0, 0
    while True:
        body = await _page(client, caller, cursor, limit)
        pages += 1
        items += len(body["items"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    return Initial(time.perf_counter() - started, pages, items, cursor)


async def measure_incremental(
    client: httpx.AsyncClient, caller: datagen.Caller, cursor: str, limit: int = 1000
) -> tuple[float, int, str]:
    """The phone comes back online: (milliseconds until up to date, items, the new cursor)."""
    started = time.perf_counter()
    items = 0
    while True:
        body = await _page(client, caller, cursor, limit)
        items += len(body["items"])
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    return (time.perf_counter() - started) * 1000, items, cursor


async def a_days_work(
    client: httpx.AsyncClient,
    caller: datagen.Caller,
    visits: int = 20,
    edits: int = 5,
) -> None:
    """A director's day through the API: `visits` visits logged, `edits` children edited."""
    headers = _auth(caller)
    r = await client.get("/api/v1/children", params={"limit": 200}, headers=headers)
    r.raise_for_status()
    children = r.json()["items"]
    checklist = {
        item: {"rating": "good"}
        for item in (
            "living_conditions",
            "health",
            "schooling",
            "guardian_present",
            "caregiver_capacity",
            "safety_hazards",
            "emotional_state",
        )
    }
    now = datetime.now(UTC)
    for i in range(visits):
        child = children[(i * 7) % len(children)]
        body = {
            "child_id": child["id"],
            "visited_at": (now - timedelta(minutes=30 + i)).isoformat(),
            "kind": "home",
            "latitude": 38.43,
            "longitude": 100.81,
            "checklist": checklist,
            "notes": "入户走访，孩子在家写作业。",
        }
        r = await client.put(f"/api/v1/visits/{uuid.uuid4()}", json=body, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"visit: {r.status_code} {r.text[:300]}")
    for i in range(edits):
        child = children[(i * 11 + 3) % len(children)]
        r = await client.get(f"/api/v1/children/{child['id']}", headers=headers)
        r.raise_for_status()
        r = await client.patch(
            f"/api/v1/children/{child['id']}",
            json={"grade": f"{1 + (i + int(time.time())) % 6}年级"},
            headers={**headers, "If-Match": f'"{r.json()["version"]}"'},
        )
        if r.status_code != 200:
            raise RuntimeError(f"edit: {r.status_code} {r.text[:300]}")


async def baseline(client: httpx.AsyncClient, caller: datagen.Caller, n: int = 20) -> float:
    """The median of a trivial authenticated request (GET /auth/me) at the same moment: what
    the machine's load adds to every request, to read the figures against."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        r = await client.get("/api/v1/auth/me", headers=_auth(caller))
        r.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


# --- running it ----------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f}  max {max(values):7.1f}"


async def run(args: argparse.Namespace) -> int:
    scale = SCALES[args.scale]
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER,
        "bench_sync" if scale.name == "village" else f"bench_sync_{scale.name}",
    )
    dataset = await existing(url, scale) if args.reuse else None
    if dataset is None:
        datagen.log(f"building the {scale.name} sync dataset in {datagen.database_name(url)}")
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        dataset = await build(url, scale)
        datagen.log(f"built in {dataset.seconds:.1f} s")
    village = dataset.villages[0]
    settings = Settings(env="local", DATABASE_URL=url, access_token_minutes=240)
    (caller,) = await datagen.make_callers(url, settings, "village_director", [village])
    load_before = os.getloadavg()[0]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # The bench makes many calls a minute: lift the sync rate limit for it.
    env_extra = {
        "CHILDPROTECT_ACCESS_TOKEN_MINUTES": "240",
        "CHILDPROTECT_RATE_LIMITS": '{"default": 100000, "sync": 100000}',
        "CHILDPROTECT_JOBS_ENABLED": "false",
    }
    proc = start_server(url, port, env_extra)
    initial: list[Initial] = []
    incremental: list[float] = []
    incremental_items: list[int] = []
    try:
        await wait_ready(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await measure_initial(client, caller, args.limit)  # warm-up, untimed
            for _ in range(args.rounds):
                initial.append(await measure_initial(client, caller, args.limit))
            cursor = initial[-1].cursor
            for _ in range(args.rounds):
                await a_days_work(client, caller, args.visits, args.edits)
                ms, items, cursor = await measure_incremental(client, caller, cursor, args.limit)
                incremental.append(ms)
                incremental_items.append(items)
            default_page = await measure_initial(client, caller, 200)
            floor_ms = await baseline(client, caller)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    load_after = os.getloadavg()[0]
    per_village = dataset.children // len(dataset.villages)
    print()
    print(
        f"sync feed, scale={scale.name}: {len(dataset.villages)} villages of {per_village} "
        f"children; {dataset.children:,} children, {dataset.agreements:,} agreements, "
        f"{dataset.visits:,} visits, {dataset.log_rows:,} change-log rows (at build)"
    )
    print(
        f"load average (1 min) before {load_before:.2f}, after {load_after:.2f}; "
        f"{os.cpu_count()} CPUs"
    )
    seconds = [r.seconds for r in initial]
    ok_initial = statistics.median(seconds) <= TARGET_INITIAL_S
    ok_incremental = statistics.median(incremental) <= TARGET_INCREMENTAL_MS
    print(
        f"initial load, village director, limit={args.limit}: {initial[-1].items:,} items in "
        f"{initial[-1].pages} requests; seconds {statistics.median(seconds):.3f} median, "
        f"{max(seconds):.3f} max over {len(seconds)}  target <= {TARGET_INITIAL_S:.0f} s "
        f"{'ok' if ok_initial else 'MISSED'}"
    )
    print(
        f"initial load at the default page size (200): {default_page.items:,} items in "
        f"{default_page.pages} requests, {default_page.seconds:.3f} s"
    )
    print(
        f"incremental after a day's work ({args.visits} visits + {args.edits} child edits, "
        f"~{statistics.median(incremental_items):.0f} items): ms {_ms(incremental)} over "
        f"{len(incremental)}  target <= {TARGET_INCREMENTAL_MS:.0f} ms "
        f"{'ok' if ok_incremental else 'MISSED'}"
    )
    print(f"a trivial request (GET /auth/me) meanwhile: median {floor_ms:.1f} ms")
    if args.drop:
        await datagen.drop_database(url)
    return 0 if (ok_initial and ok_incremental) or not args.strict else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="village")
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep a dataset of this scale if present")
    p.add_argument("--rounds", type=int, default=5, help="timed repetitions of each measure")
    p.add_argument("--limit", type=int, default=1000, help="page size of the timed loads")
    p.add_argument("--visits", type=int, default=20, help="visits in a day's work")
    p.add_argument("--edits", type=int, default=5, help="child edits in a day's work")
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
