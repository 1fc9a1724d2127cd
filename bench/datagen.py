"""A province-sized synthetic dataset, generated inside PostgreSQL (INSERT ... SELECT over
generate_series; the area tree through COPY), for benchmarks of any feature.

    from bench import datagen
    url = await datagen.fresh_database(datagen.DEFAULT_SERVER, "bench_x")
    datagen.migrate(url)
    dataset = await datagen.generate(url, datagen.SCALES["tiny"])
    callers = await datagen.make_callers(url, settings, "village_director", codes)

What it makes, at `full` scale: 1 province (62), 14 cities, 90 counties, 1,200 townships,
17,000 villages; 1,000,000 children spread over the villages (risk levels about 70% blue, 20%
yellow, 8% orange, 2% red; 3% closed; 0.5% never visited) and 10 visits per visited child,
15 for orange and red ones (about 10,450,000 visits), the latest one at `last_visit_at`, each
earlier one about one interval before the next. `next_visit_due` follows the default policy,
and the last visit is spread over 1.25 intervals, so about 20% of the children are overdue.

Loading drops the secondary indexes (and the visits' keys) first and rebuilds them after, with
foreign-key triggers off for the load (session_replication_role = replica), then VACUUM
ANALYZE: what a restored production database looks like. Children carry no ID numbers (the
worklist does not read them; encrypting a million in Python would dominate the run)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from childprotect_api.config import Settings
from childprotect_api.core.db import to_asyncpg_url
from childprotect_api.core.migrate import upgrade
from childprotect_api.models.visit_policy import DEFAULT_INTERVAL_DAYS
from childprotect_api.security.tokens import create_access_token

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PROVINCE = "62"


@dataclass(frozen=True)
class Scale:
    name: str
    cities: int
    counties: int
    townships: int
    villages: int
    children: int
    visits_per_child: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 1, 2, 6, 40, 3_000, 10),
    "small": Scale("small", 4, 12, 150, 2_000, 100_000, 10),
    "full": Scale("full", 14, 90, 1_200, 17_000, 1_000_000, 10),
}


@dataclass
class Dataset:
    scale: Scale
    counties: list[str] = field(default_factory=list)
    townships: list[str] = field(default_factory=list)
    villages: list[str] = field(default_factory=list)
    children: int = 0
    visits: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Caller:
    role: str
    area_code: str
    user_id: uuid.UUID
    token: str


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def dsn(url: str) -> str:
    return to_asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn(url))


async def fresh_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server; answer its URL."""
    conn = await connect(with_database(server_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(url: str) -> None:
    conn = await connect(with_database(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        await conn.close()


def migrate(url: str) -> None:
    upgrade(url)


# --- the area tree ------------------------------------------------------------------------


def area_tree(scale: Scale) -> list[tuple[str, str, str | None, str]]:
    """(code, name, parent, level): codes follow the 12-digit pattern, children spread evenly
    over their parents."""
    rows: list[tuple[str, str, str | None, str]] = [(PROVINCE, "甘肃省", None, "province")]
    cities = [f"{PROVINCE}{i + 1:02d}" for i in range(scale.cities)]
    rows += [(c, f"第{i + 1}市", PROVINCE, "city") for i, c in enumerate(cities)]
    counties = _spread(cities, scale.counties, lambda p, n: f"{p}{n + 1:02d}")
    rows += [(c, f"第{i + 1}县", c[:4], "county") for i, c in enumerate(counties)]
    townships = _spread(counties, scale.townships, lambda p, n: f"{p}{100 + n:03d}")
    rows += [(t, f"第{i + 1}镇", t[:6], "township") for i, t in enumerate(townships)]
    villages = _spread(townships, scale.villages, lambda p, n: f"{p}{n + 1:03d}")
    rows += [(v, f"第{i + 1}村", v[:9], "village") for i, v in enumerate(villages)]
    return rows


def _spread(parents: list[str], total: int, code) -> list[str]:  # type: ignore[no-untyped-def]
    seen: dict[str, int] = {}
    out = []
    for i in range(total):
        parent = parents[i % len(parents)]
        n = seen.get(parent, 0)
        seen[parent] = n + 1
        out.append(code(parent, n))
    return sorted(out)


# --- bulk loading ---------------------------------------------------------------------------


async def _strip(conn: asyncpg.Connection, table: str) -> list[str]:
    """Drop a table's secondary indexes (and, for `keys`, its primary key and the foreign keys
    that point at it); answer the DDL that restores them, in order."""
    pk = await conn.fetchrow(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype = 'p'",
        table,
    )
    referencing = await conn.fetch(
        "SELECT conname, conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE confrelid = $1::regclass AND contype = 'f' "
        "AND conrelid = $1::regclass",
        table,
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND tablename = $1 AND indexname <> $2",
        table,
        pk["conname"],
    )
    restore = [f"ALTER TABLE {table} ADD CONSTRAINT {pk['conname']} {pk['def']}"]
    restore += [r["indexdef"] for r in indexes]
    restore += [
        f"ALTER TABLE {r['tbl']} ADD CONSTRAINT {r['conname']} {r['def']}" for r in referencing
    ]
    for r in referencing:
        await conn.execute(f"ALTER TABLE {r['tbl']} DROP CONSTRAINT {r['conname']}")
    for r in indexes:
        await conn.execute(f"DROP INDEX {r['indexname']}")
    if table != "children":  # other tables reference the children's key: keep it
        await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {pk['conname']}")
    else:
        restore = restore[1:]
    return restore


_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
_GIVEN = [
    "小明", "佳怡", "浩然", "梓涵", "子轩", "欣怡", "宇航", "雨桐", "俊杰", "思琪",
    "一鸣", "梦瑶", "天佑", "诗涵", "博文", "雅婷", "志强", "丽娟", "家豪", "静怡",
]  # fmt: skip

_CHECKLIST = (
    '{"health": {"note": null, "rating": "good"}, "schooling": {"note": null, "rating": "good"}, '
    '"safety_hazards": {"note": null, "rating": "good"}, '
    '"emotional_state": {"note": "想念父母", "rating": "fair"}, '
    '"guardian_present": {"note": null, "rating": "good"}, '
    '"living_conditions": {"note": null, "rating": "good"}, '
    '"caregiver_capacity": {"note": "奶奶年纪大", "rating": "fair"}}'
)

_INTERVAL = (
    "CASE risk_level WHEN 'blue' THEN {blue} WHEN 'yellow' THEN {yellow} "
    "WHEN 'orange' THEN {orange} ELSE {red} END"
).format(**DEFAULT_INTERVAL_DAYS)


async def _load_children(conn: asyncpg.Connection, scale: Scale, bulk_user: uuid.UUID) -> None:
    surnames = "ARRAY[" + ",".join(f"'{s}'" for s in _SURNAMES) + "]"
    given = "ARRAY[" + ",".join(f"'{g}'" for g in _GIVEN) + "]"
    # One row per child, with its village picked by a stride so neighbours differ (children
    # of one village are scattered over the heap: the pessimistic layout).
    await conn.execute(
        f"""
        CREATE TEMP TABLE bench_child AS
        SELECT x.*,
               CASE WHEN never_visited THEN NULL
                    ELSE now() - make_interval(secs => lateness * 1.25 * 86400 * days)
               END AS last_visit_at
        FROM (
            SELECT g, md5('child/' || g)::uuid AS id, v.code AS area_code, risk_level,
                   CASE WHEN r2 < 0.03 THEN 'closed' ELSE 'active' END AS status,
                   now() - make_interval(days => 400 + (r3 * 1000)::int) AS created_at,
                   r4 AS lateness, r5 < 0.005 AS never_visited, {_INTERVAL} AS days,
                   CASE WHEN risk_level IN ('orange', 'red') THEN {scale.visits_per_child * 3 // 2}
                        ELSE {scale.visits_per_child} END AS n_visits
            FROM (SELECT g, random() r2, random() r3, random() r4, random() r5,
                         CASE WHEN r1 < 0.70 THEN 'blue' WHEN r1 < 0.90 THEN 'yellow'
                              WHEN r1 < 0.98 THEN 'orange' ELSE 'red' END AS risk_level
                  FROM (SELECT g, random() r1 FROM generate_series(1, {scale.children}) g) a
                  ) s
            JOIN bench_village v ON v.idx = (s.g::bigint * 7919) % {scale.villages}
        ) x
        """
    )
    await conn.execute(
        f"""
        INSERT INTO children (
            id, county_code, area_code, name, gender, birth_date, address,
            household_registration, residence, categories, family_situation,
            main_income_source, father, mother, subsidies, risk_level, risk_reason, status,
            closed_reason, closed_at, last_visit_at, next_visit_due, version, created_at,
            updated_at, created_by)
        SELECT id, left(area_code, 6), area_code,
               ({surnames})[1 + g % 20] || ({given})[1 + (g / 20) % 20],
               CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
               -- born 1 to 17 years ago: nobody the hourly job closes at 18
               current_date - 6205 + (g * 37 % 5800),
               '第' || (1 + g % 9) || '村民小组' || (1 + g % 60) || '号',
               '甘肃省' || area_code, '甘肃省' || area_code,
               CASE g % 10 WHEN 0 THEN ARRAY['left_behind', 'low_income']
                           WHEN 1 THEN ARRAY['in_difficulty', 'disabled']
                           WHEN 2 THEN ARRAY['de_facto_unsupported']
                           WHEN 3 THEN ARRAY['migrant']
                           ELSE ARRAY['left_behind'] END::varchar[],
               '父母在外务工，由祖父母照看。', '务工收入',
               '{{"situation": "working_away", "work_place": "新疆"}}'::jsonb,
               '{{"situation": "working_away", "work_place": "浙江"}}'::jsonb,
               '[]'::jsonb, risk_level, CASE WHEN risk_level <> 'blue' THEN '摸排评估' END,
               status, CASE WHEN status = 'closed' THEN 'moved_away' END,
               -- closed recently: still kept on the phones (no tombstone due yet)
               CASE WHEN status = 'closed' THEN now() - interval '10 days' END,
               last_visit_at,
               coalesce(last_visit_at, created_at) + make_interval(hours => 24 * days), 1,
               created_at, now(), $1
        FROM bench_child ORDER BY g
        """,
        bulk_user,
    )


async def _load_visits(conn: asyncpg.Connection, scale: Scale, bulk_user: uuid.UUID) -> None:
    """`visits_per_child` visits per visited child (half as many again for orange and red
    children, who are visited more often), oldest first (the order they would have been
    inserted in); visit j (0 = latest) lies j intervals (give or take 20%) before the
    last visit. 20% of the latest visits leave an open follow-up action. The latest visit is
    awaiting review, the older ones accepted (returned visits are corrected in practice, so
    only the benchmark callers get a few: see make_callers)."""
    await conn.execute(
        f"""
        INSERT INTO visits (
            id, original_id, revision, is_current, child_id, county_code, area_code,
            visitor_id, visited_at, kind, latitude, longitude, accuracy_m, checklist, notes,
            suggested_risk_level, follow_up_actions, status, reviewed_by, reviewed_at,
            content_hash, version, created_at, updated_at)
        SELECT vid, vid, 1, true, c.id, left(c.area_code, 6), c.area_code, $1, at,
               CASE WHEN j % 4 = 3 THEN 'phone' ELSE 'home' END,
               36 + (c.g % 500) / 100.0, 100 + (c.g % 700) / 100.0, 10 + c.g % 40,
               '{_CHECKLIST}'::jsonb, '孩子状态良好，按时上学。', c.risk_level,
               CASE WHEN j = 0 AND c.g % 5 = 0
                    THEN jsonb_build_array(jsonb_build_object(
                        'action', '联系学校了解出勤', 'due_on', (at + interval '7 days')::date,
                        'done', false))
                    ELSE '[]'::jsonb END,
               CASE WHEN j = 0 THEN 'submitted' ELSE 'accepted' END,
               CASE WHEN j > 0 THEN $1::uuid END,
               CASE WHEN j > 0 THEN at + interval '2 days' END,
               md5(vid::text) || md5(c.g::text), 1, at, at
        FROM generate_series({scale.visits_per_child * 3 // 2 - 1}, 0, -1) j
        CROSS JOIN LATERAL (
            SELECT c.*, md5('visit/' || c.g || '/' || j)::uuid AS vid,
                   greatest(c.created_at, c.last_visit_at - make_interval(
                       secs => j * c.days * 86400 * (0.8 + (c.g * 13 + j * 7) % 40 / 100.0)
                   )) AS at
            FROM bench_child c
            WHERE NOT c.never_visited AND j < c.n_visits
        ) c
        """,
        bulk_user,
    )


async def _load_duties(conn: asyncpg.Connection) -> None:
    """The duties the level opens (DESIGN.md "Care work"): every orange and red child needs a
    pairing (about a third of them overdue), every red one a case; as the app would have
    opened them, so the worklist reads them at scale."""
    await conn.execute(
        """
        INSERT INTO child_duties (child_id, county_code, area_code, kind, opened_at, due_at)
        SELECT c.id, c.county_code, c.area_code, k.kind,
               now() - (random() * interval '14 days') AS opened_at,
               now() + ((random() - 0.35) * interval '14 days')
        FROM children c
        CROSS JOIN LATERAL (
            SELECT 'needs_pairing' AS kind
            UNION ALL SELECT 'needs_case' WHERE c.risk_level = 'red'
        ) k
        WHERE c.status = 'active' AND c.risk_level IN ('orange', 'red')
        """
    )


async def generate(url: str, scale: Scale) -> Dataset:
    """Fill a migrated, empty database. Answers what was made."""
    started = time.perf_counter()
    conn = await connect(url)
    data = Dataset(scale)
    try:
        await conn.execute("SET session_replication_role = replica")  # no FK triggers
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET work_mem = '256MB'")
        await conn.execute("SELECT setseed(0.42)")
        tree = area_tree(scale)
        await conn.copy_records_to_table(
            "areas", records=tree, columns=["code", "name", "parent_code", "level"]
        )
        data.counties = [c for c, _, _, lv in tree if lv == "county"]
        data.townships = [c for c, _, _, lv in tree if lv == "township"]
        data.villages = [c for c, _, _, lv in tree if lv == "village"]
        await conn.execute("CREATE TEMP TABLE bench_village (idx int PRIMARY KEY, code text)")
        await conn.copy_records_to_table(
            "bench_village", records=list(enumerate(data.villages)), columns=["idx", "code"]
        )
        bulk_user = uuid.uuid4()
        await conn.execute(
            "INSERT INTO users (id, username, display_name, role, area_code, password_hash, "
            "is_active, version) VALUES ($1, 'bench_bulk_visitor', '历史探访', "
            "'county_officer', NULL, '!', false, 1)",
            bulk_user,
        )
        restore = await _strip(conn, "children") + await _strip(conn, "visits")
        log(f"loading {scale.children:,} children")
        await _load_children(conn, scale, bulk_user)
        log(f"loading about {scale.children * scale.visits_per_child * 21 // 20:,} visits")
        await _load_visits(conn, scale, bulk_user)
        log("rebuilding indexes and keys")
        for ddl in restore:
            await conn.execute(ddl)
        log("opening the risk duties of orange and red children")
        await _load_duties(conn)
        log("vacuum analyze")
        await conn.execute("VACUUM (ANALYZE) children")
        await conn.execute("VACUUM (ANALYZE) child_duties")
        await conn.execute("VACUUM (ANALYZE) visits")
        await conn.execute("ANALYZE")
        data.children = await conn.fetchval("SELECT count(*) FROM children")
        data.visits = await conn.fetchval("SELECT count(*) FROM visits")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (scale text, children bigint, visits bigint, "
            "made_at timestamptz DEFAULT now())"
        )
        await conn.execute(
            "INSERT INTO bench_meta (scale, children, visits) VALUES ($1, $2, $3)",
            scale.name,
            data.children,
            data.visits,
        )
    finally:
        await conn.close()
    await settle(url)
    data.seconds = time.perf_counter() - started
    return data


async def settle(url: str, *, max_passes: int = 200) -> dict[str, int]:
    """Run the API's periodic jobs (services/periodic.py) until they find nothing more to do,
    then ANALYZE:
    the dataset as a running server keeps it (snapshots computed, nothing overdue for a job),
    so that a benchmark's server does not spend its first minute catching up on work that a
    bulk load left behind. Answers what each job did."""
    from childprotect_api.core.db import Database
    from childprotect_api.services.periodic import periodic_jobs, run_job_once

    db = Database.create(url)
    done: dict[str, int] = {}
    try:
        for job in periodic_jobs(Settings(env="local", DATABASE_URL=url)):
            total = 0
            for _ in range(max_passes):
                n = await run_job_once(db, job)
                total += n
                # Jobs that work in batches answer a full batch while there is more.
                if n < 500 or job.name == "stats_snapshots":
                    break
            done[job.name] = total
    finally:
        await db.dispose()
    conn = await connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    log("settled: " + ", ".join(f"{k} {v}" for k, v in done.items() if v))
    return done


async def existing(url: str, scale: Scale) -> Dataset | None:
    """The dataset already in `url` when it was made at this scale (for --reuse)."""
    try:
        conn = await connect(url)
    except (asyncpg.InvalidCatalogNameError, OSError):
        return None
    try:
        row = await conn.fetchrow(
            "SELECT children, visits FROM bench_meta WHERE scale = $1 "
            "AND to_regclass('bench_meta') IS NOT NULL",
            scale.name,
        )
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()
    if row is None:
        return None
    tree = area_tree(scale)
    return Dataset(
        scale,
        counties=[c for c, _, _, lv in tree if lv == "county"],
        townships=[c for c, _, _, lv in tree if lv == "township"],
        villages=[c for c, _, _, lv in tree if lv == "village"],
        children=row["children"],
        visits=row["visits"],
    )


async def dataset_at(url: str | None, scale: Scale) -> tuple[str, Dataset]:
    """(url, dataset): the dataset of this scale in `url` (default: `bench_province` for the
    full scale, `bench_<scale>` otherwise), built there when it is missing."""
    url = url or with_database(
        DEFAULT_SERVER, "bench_province" if scale.name == "full" else f"bench_{scale.name}"
    )
    dataset = await existing(url, scale)
    if dataset is None:
        log(f"building the {scale.name} dataset in {database_name(url)}")
        url = await fresh_database(url, database_name(url))
        await asyncio.to_thread(migrate, url)  # Alembic runs its own event loop
        dataset = await generate(url, scale)
    return url, dataset


async def make_callers(url: str, settings: Settings, role: str, areas: list[str]) -> list[Caller]:
    """One user per area with a live login session and an access token (signed with the
    settings' key, as the server will check it). Directors get three of their village's
    visits returned to them, so the worklist's "to fix" list has rows."""
    conn = await connect(url)
    callers = []
    try:
        for area in areas:
            user_id, family_id = uuid.uuid4(), uuid.uuid4()
            await conn.execute(
                "INSERT INTO users (id, username, display_name, role, area_code, "
                "password_hash, is_active, version) VALUES ($1, $2, $3, $4, $5, '!', true, 1)",
                user_id,
                f"bench_{role}_{area}_{user_id.hex[:6]}",
                f"bench {role}",
                role,
                area,
            )
            await conn.execute(
                "INSERT INTO token_families (id, user_id) VALUES ($1, $2)", family_id, user_id
            )
            if role == "village_director":
                await conn.execute(
                    "UPDATE visits SET visitor_id = $1, status = 'returned', "
                    "review_comment = '请补充照片', reviewed_at = now() WHERE id IN ("
                    "SELECT id FROM visits WHERE county_code = $2 AND area_code = $3 "
                    "AND is_current ORDER BY visited_at DESC LIMIT 3)",
                    user_id,
                    area[:6],
                    area,
                )
            token, _ = create_access_token(
                settings,
                subject=user_id,
                kind="user",
                role=role,
                area=area,
                session_id=family_id,
            )
            callers.append(Caller(role, area, user_id, token))
    finally:
        await conn.close()
    return callers


async def ensure_stats_extras(url: str, scale: Scale) -> object:
    """Add what the statistics benchmark needs (bench/datagen_stats.py), idempotently and
    without changing any existing row; answers the extras (their county code and size)."""
    from bench import datagen_stats

    return await datagen_stats.ensure(url, scale)
