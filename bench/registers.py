"""Registers (台账) of one county: the children register (every active child, ID numbers in
full for a stated purpose, so each is decrypted), the visits register of the last year and
the payments register of the last year (a monthly allowance to each recipient for twelve
months, and one-off education grants), as XLSX and CSV, through the same code the endpoint
runs (services/registers/export.py: plan, snapshot and count, cursor batches, the streaming
writers). Prints per export the rows, the file size, the wall time, the process's CPU time
(steadier than wall time on a shared machine), the peak of Python's heap during the export
(tracemalloc, a second run: tracing slows Python down) and the process's peak RSS so far,
and the load averages.

Constant memory shows as the same heap peak at `tiny` (3,000 children) and `county`
(50,000 children, about 314,000 visits and 120,000 payments in the year).

    python -m bench.registers --scale county     # a 50,000-child county (a few minutes)
    python -m bench.registers --scale tiny       # CI (bench/smoke.py)
    python -m bench.registers --scale county --reuse --kinds visits --formats xlsx
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import timedelta

from bench import datagen
from childprotect_api.config import Settings
from childprotect_api.core.db import Database
from childprotect_api.security.scope import Scope
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import today
from childprotect_api.services.registers import export as registers

SCALES = {
    "tiny": datagen.SCALES["tiny"],
    # One county of 50,000 children in 15 townships and 250 villages.
    "county": datagen.Scale("county", 1, 1, 15, 250, 50_000, 10),
}
SETTINGS_KEY = Settings(env="local").data_key


@dataclass
class Result:
    kind: str
    fmt: str
    rows: int
    size: int
    seconds: float
    cpu: float
    heap_peak: int
    rss_peak: int


async def _id_numbers(url: str) -> None:
    """ID numbers for every child (datagen leaves them out), encrypted with the data key."""
    conn = await datagen.connect(url)
    try:
        rows = await conn.fetch("SELECT id, county_code, birth_date, gender FROM children")
        records = []
        for i, r in enumerate(rows):
            # 500 distinct numbers per region code and birth date: a region code per 500.
            region = f"{r['county_code'][:2]}{i // 500 % 10_000:04d}"
            number = id_numbers.make(region, r["birth_date"], i % 500, r["gender"])
            p = id_numbers.protect(SETTINGS_KEY, number)
            records.append((r["id"], p.encrypted, p.hash, p.masked))
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE ids (id uuid, enc bytea, hash text, masked text) ON COMMIT DROP"
            )
            await conn.copy_records_to_table("ids", records=records)
            await conn.execute(
                "UPDATE children c SET id_number_enc = ids.enc, id_number_hash = ids.hash, "
                "id_number_masked = ids.masked FROM ids WHERE ids.id = c.id"
            )
        await conn.execute("ANALYZE children")
    finally:
        await conn.close()


# Who is paid what each month: the benefit categories datagen gives (orphans are rare in it).
MONTHLY = (
    ("orphan", "orphan_allowance", "1400.00"),
    ("de_facto_unsupported", "de_facto_allowance", "1050.00"),
    ("low_income", "low_income", "380.00"),
)


async def _payments(url: str) -> int:
    """A year of payments (the twelve months before this one) in every county: each child of
    a benefit category paid that category's allowance monthly, and one in five of them a
    one-off education grant in September; made in PostgreSQL, like datagen's records."""
    conn = await datagen.connect(url)
    try:
        first = today().replace(day=1)
        start = (first - timedelta(days=365)).replace(day=1)
        async with conn.transaction():
            for category, kind, amount in MONTHLY:
                await conn.execute(
                    """
                    INSERT INTO benefit_payments (id, child_id, county_code, area_code, kind,
                        period, paid_on, month, amount, content_hash)
                    SELECT gen_random_uuid(), c.id, c.county_code, c.area_code, $2::text,
                        to_char(m, 'YYYY-MM'), NULL, m::date, $3::numeric,
                        md5(c.id::text || $2::text || m::text)
                    FROM children c
                    CROSS JOIN generate_series($4::date, $5::date - 1, interval '1 month') m
                    WHERE c.status = 'active' AND $1 = ANY(c.categories)
                    """,
                    category,
                    kind,
                    amount,
                    start,
                    first,
                )
            september = start.replace(month=9) if start.month <= 9 else first.replace(month=9)
            await conn.execute(
                """
                INSERT INTO benefit_payments (id, child_id, county_code, area_code, kind,
                    period, paid_on, month, amount, content_hash)
                SELECT gen_random_uuid(), c.id, c.county_code, c.area_code, 'education_grant',
                    NULL, $1::date + (abs(hashtext(c.id::text)) % 20), $1::date, 3100.00,
                    md5(c.id::text || 'education_grant')
                FROM children c
                WHERE c.status = 'active'
                  AND c.categories
                      && ARRAY['orphan', 'de_facto_unsupported', 'low_income']::varchar[]
                  AND abs(hashtext(c.id::text)) % 5 = 0
                """,
                september,
            )
        await conn.execute("ANALYZE benefit_payments")
        return int(await conn.fetchval("SELECT count(*) FROM benefit_payments"))
    finally:
        await conn.close()


async def _has_payments(url: str) -> bool:
    conn = await datagen.connect(url)
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM benefit_payments)"))
    finally:
        await conn.close()


async def _one(db: Database, scope: Scope, kind: str, fmt: str, traced: bool) -> Result:
    end = today()
    start = end - timedelta(days=364) if kind in ("visits", "payments") else None
    purpose = "核对花名册（bench）" if kind == "children" else None
    async with db.sessionmaker() as session:
        p = await registers.plan(
            session, scope, kind, scope.area_code, start, end if start else None, None, purpose
        )
    if traced:
        tracemalloc.start()
    began, cpu = time.perf_counter(), time.process_time()
    export = await registers.open_export(db, p, SETTINGS_KEY)
    chunks = export.xlsx_chunks() if fmt == "xlsx" else export.csv_chunks()
    size = 0
    async for chunk in chunks:
        size += len(chunk)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    heap = 0
    if traced:
        heap = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Result(kind, fmt, export.count, size, seconds, cpu, heap, rss)


async def run(args: argparse.Namespace) -> int:
    scale = SCALES[args.scale]
    url = args.database_url or datagen.with_database(
        datagen.DEFAULT_SERVER, f"bench_registers_{scale.name}"
    )
    data = await datagen.existing(url, scale) if args.reuse else None
    if data is None:
        url = await datagen.fresh_database(url, datagen.database_name(url))
        await asyncio.to_thread(datagen.migrate, url)
        data = await datagen.generate(url, scale)
        datagen.log("ID numbers for every child")
        await _id_numbers(url)
    if not await _has_payments(url):
        datagen.log(f"a year of payments: {await _payments(url):,}")
    county = data.counties[0]
    db = Database.create(url, command_timeout=None)
    scope = Scope("user", uuid.uuid4(), "county_officer", county)
    mb = 1024 * 1024
    print(f"\nregisters of county {county} ({scale.name}: {data.children:,} children)")
    print(
        f"{'register':<10} {'fmt':<5} {'rows':>8} {'MB':>7} {'s':>7} {'cpu s':>7} "
        f"{'heap MB':>8} {'RSS MB':>7}  load"
    )
    try:
        for kind in args.kinds.split(","):
            for fmt in args.formats.split(","):
                r = await _one(db, scope, kind, fmt, traced=False)
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                heap = "-"
                if not args.no_trace:
                    traced = await _one(db, scope, kind, fmt, traced=True)
                    heap = f"{traced.heap_peak / mb:.1f}"
                print(
                    f"{r.kind:<10} {r.fmt:<5} {r.rows:>8,} {r.size / mb:>7.1f} "
                    f"{r.seconds:>7.1f} {r.cpu:>7.1f} {heap:>8} {r.rss_peak / mb:>7.0f}  {load}",
                    flush=True,
                )
    finally:
        await db.dispose()
        if args.drop:
            await datagen.drop_database(url)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    p.add_argument("--database-url", default=None, help="the database to (re)build and use")
    p.add_argument("--reuse", action="store_true", help="keep a dataset of this scale if present")
    p.add_argument("--drop", action="store_true", help="drop the database afterwards")
    p.add_argument("--kinds", default="children,visits,payments", help="registers, comma-separated")
    p.add_argument("--formats", default="csv,xlsx", help="csv, xlsx or both")
    p.add_argument(
        "--no-trace", action="store_true", help="skip the second, traced run (no heap peak)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
