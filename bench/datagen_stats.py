"""What the statistics benchmark needs on top of a datagen dataset, added to it without
changing or deleting any row already there (other benchmarks measure the same database):

- a county of 50,000 children under a new code (full scale; 2,000 at tiny scale), with its
  townships, villages and visits made like the rest of the dataset, 15% of its children
  receiving subsidies;
- village directors (nine villages in ten) and township supervisors everywhere;
- active agreements for half of the active left-behind children of the whole dataset, some
  ending within 30 days;
- mandatory reports over the last year (one per 200 children) with their timeline events;
- a year of care activities in every village of the dataset (about 20 each, the kinds mixed:
  trainings naming the village director, children's-home activities at the village's 儿童之家
  naming a few of its children, goods and school aid with amounts) and a quarterly training
  of each township's supervisor; sites (a 儿童之家 in two villages of three, a 未成年人保护工作站
  per township, a 家长学校 per county) (recorded apart as `<county>/activities`, so that a
  dataset made before them gains them);
- the statistics' own schema objects when the database predates them (the visit rollups, the
  county snapshots and the covering indexes, compiled from the models; the indexes built
  CONCURRENTLY, so the other benchmarks' reads and writes go on), and the rollups counted from
  the visits (datagen loads visits with triggers off). The alembic revision is left as it is.

Idempotent: the first complete run records itself in `bench_stats_meta`; later runs only
check the schema objects."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from bench.datagen import Scale, connect, log
from childprotect_api.models import stats as stats_models
from childprotect_api.services.stats.rollup import REBUILD


@dataclass(frozen=True)
class StatsExtras:
    county: str
    townships: int
    villages_per_township: int
    children: int

    @property
    def villages(self) -> int:
        return self.townships * self.villages_per_township


EXTRAS: dict[str, StatsExtras] = {
    "tiny": StatsExtras("620190", 2, 5, 2_000),
    "small": StatsExtras("620190", 10, 20, 20_000),
    "full": StatsExtras("621490", 20, 20, 50_000),
}

_INTERVAL = (
    "CASE risk_level WHEN 'blue' THEN 90 WHEN 'yellow' THEN 30 WHEN 'orange' THEN 7 ELSE 1 END"
)


def _ddl() -> list[str]:
    dialect = postgresql.dialect()
    out = []
    for model in (
        stats_models.VisitDayCount,
        stats_models.VisitMonthCount,
        stats_models.CountySnapshot,
    ):
        table = model.__table__  # type: ignore[attr-defined]
        out.append(str(CreateTable(table, if_not_exists=True).compile(dialect=dialect)))
        out += [_index(i) for i in sorted(table.indexes, key=lambda i: i.name)]
    out += [
        _index(i)
        for i in (
            stats_models.STATS_CHILDREN_INDEX,
            stats_models.STATS_SUBSIDISED_INDEX,
            stats_models.STATS_AGREEMENTS_INDEX,
        )
    ]
    return out


def _index(index: object) -> str:
    sql = str(CreateIndex(index, if_not_exists=True).compile(dialect=postgresql.dialect()))  # type: ignore[arg-type]
    return sql.replace("INDEX IF NOT EXISTS", "INDEX CONCURRENTLY IF NOT EXISTS", 1)


async def _schema(conn: asyncpg.Connection) -> None:
    for sql in _ddl():
        await conn.execute(sql)


async def _areas(conn: asyncpg.Connection, x: StatsExtras) -> list[str]:
    city = x.county[:4]
    rows = [(x.county, "统计基准县", city, "county")]
    villages = []
    for t in range(x.townships):
        township = f"{x.county}{100 + t:03d}"
        rows.append((township, f"基准{t + 1}镇", x.county, "township"))
        for v in range(x.villages_per_township):
            code = f"{township}{v + 1:03d}"
            rows.append((code, f"基准{t + 1}镇{v + 1}村", township, "village"))
            villages.append(code)
    await conn.execute(
        "INSERT INTO areas (code, name, parent_code, level) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
        "ON CONFLICT (code) DO NOTHING",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    return villages


async def _county_children(conn: asyncpg.Connection, x: StatsExtras, villages: list[str]) -> None:
    """Children and visits of the new county, in the manner of datagen (risk mix, 3% closed,
    about 20% overdue), registered over the last three years, 15% with subsidies."""
    await conn.execute("CREATE TEMP TABLE stats_village (idx int PRIMARY KEY, code text)")
    await conn.copy_records_to_table(
        "stats_village", records=list(enumerate(villages)), columns=["idx", "code"]
    )
    await conn.execute(
        f"""
        CREATE TEMP TABLE stats_child AS
        SELECT x.*,
               CASE WHEN never_visited THEN NULL ELSE greatest(created_at,
                    now() - make_interval(secs => lateness * 1.25 * 86400 * days)) END
                   AS last_visit_at
        FROM (
            SELECT g, md5('stats-child/{x.county}/' || g)::uuid AS id, v.code AS area_code,
                   risk_level, CASE WHEN r2 < 0.03 THEN 'closed' ELSE 'active' END AS status,
                   now() - make_interval(days => 30 + (r3 * 1000)::int) AS created_at,
                   r4 AS lateness, r5 < 0.005 AS never_visited, r6 AS money,
                   {_INTERVAL} AS days,
                   CASE WHEN risk_level IN ('orange', 'red') THEN 15 ELSE 10 END AS n_visits
            FROM (SELECT g, random() r2, random() r3, random() r4, random() r5, random() r6,
                         CASE WHEN r1 < 0.70 THEN 'blue' WHEN r1 < 0.90 THEN 'yellow'
                              WHEN r1 < 0.98 THEN 'orange' ELSE 'red' END AS risk_level
                  FROM (SELECT g, random() r1 FROM generate_series(1, {x.children}) g) a) s
            JOIN stats_village v ON v.idx = (s.g::bigint * 7919) % {len(villages)}
        ) x
        """
    )
    await conn.execute(
        """
        INSERT INTO children (
            id, county_code, area_code, name, gender, birth_date, categories, subsidies,
            risk_level, status, closed_reason, closed_at, last_visit_at, next_visit_due,
            version, created_at, updated_at)
        SELECT id, left(area_code, 6), area_code, '基准' || g,
               CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
               date '2010-06-01' + (g * 37 % 5000),
               CASE WHEN money < 0.03 THEN ARRAY['orphan', 'in_difficulty']
                    WHEN money < 0.06 THEN ARRAY['de_facto_unsupported', 'in_difficulty']
                    WHEN money < 0.12 THEN ARRAY['left_behind', 'low_income']
                    WHEN money < 0.15 THEN ARRAY['disabled', 'in_difficulty']
                    WHEN g % 10 = 3 THEN ARRAY['migrant']
                    ELSE ARRAY['left_behind'] END::varchar[],
               CASE WHEN money < 0.03 THEN '[{"kind": "orphan_allowance",
                        "monthly_amount": 1200, "from": "2024-01-01", "to": null}]'
                    WHEN money < 0.06 THEN '[{"kind": "de_facto_unsupported_allowance",
                        "monthly_amount": 1100, "from": "2024-01-01", "to": null}]'
                    WHEN money < 0.12 THEN '[{"kind": "minimum_living_allowance",
                        "monthly_amount": 520, "from": "2023-01-01", "to": null},
                        {"kind": "education_aid", "monthly_amount": 200,
                        "from": "2025-09-01", "to": null}]'
                    WHEN money < 0.15 THEN '[{"kind": "disability_allowance",
                        "monthly_amount": 300, "from": "2024-06-01", "to": null}]'
                    ELSE '[]' END::jsonb,
               risk_level, status,
               CASE WHEN status = 'closed' THEN (ARRAY['turned_18', 'moved_away',
                    'no_longer_eligible'])[1 + g % 3] END,
               CASE WHEN status = 'closed' THEN now() - make_interval(days => g % 300) END,
               last_visit_at,
               coalesce(last_visit_at, created_at) + make_interval(hours => 24 * days), 1,
               created_at, now()
        FROM stats_child ORDER BY g
        """
    )
    visitor = await conn.fetchval(
        "INSERT INTO users (id, username, display_name, role, area_code, password_hash, "
        "is_active, version) VALUES (md5('stats-bulk-visitor')::uuid, 'stats_bulk_visitor', "
        "'历史探访', 'county_officer', NULL, '!', false, 1) "
        "ON CONFLICT (username) DO UPDATE SET username = EXCLUDED.username RETURNING id"
    )
    await conn.execute(
        f"""
        INSERT INTO visits (
            id, original_id, revision, is_current, child_id, county_code, area_code,
            visitor_id, visited_at, kind, checklist, follow_up_actions, status, content_hash,
            version, created_at, updated_at)
        SELECT vid, vid, 1, true, c.id, left(c.area_code, 6), c.area_code, $1, at,
               CASE WHEN j % 4 = 3 THEN 'phone' WHEN j % 17 = 5 THEN 'school' ELSE 'home' END,
               '{{}}'::jsonb, '[]'::jsonb, CASE WHEN j = 0 THEN 'submitted' ELSE 'accepted' END,
               md5(vid::text) || md5(c.g::text), 1, at, at
        FROM generate_series(14, 0, -1) j
        CROSS JOIN LATERAL (
            SELECT c.*, md5('stats-visit/{x.county}/' || c.g || '/' || j)::uuid AS vid,
                   greatest(c.created_at, c.last_visit_at - make_interval(
                       secs => j * c.days * 86400 * (0.8 + (c.g * 13 + j * 7) % 40 / 100.0)
                   )) AS at
            FROM stats_child c
            WHERE NOT c.never_visited AND j < c.n_visits
        ) c
        """,
        visitor,
    )


async def _workforce(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        INSERT INTO users (id, username, display_name, role, area_code, password_hash,
                           is_active, version)
        SELECT md5('stats-user/' || code)::uuid, 'stats_' || level || '_' || code, name,
               CASE level WHEN 'village' THEN 'village_director' ELSE 'township_supervisor' END,
               code, '!', true, 1
        FROM areas
        WHERE (level = 'village' AND abs(hashtext(code)) % 10 <> 0) OR level = 'township'
        ON CONFLICT (username) DO NOTHING
        """
    )


async def _agreements(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        INSERT INTO agreements (
            id, child_id, county_code, area_code, guardian_name, guardian_relation,
            caregiver_name, caregiver_relation, caregiver_id_number_enc,
            caregiver_id_number_hash, caregiver_id_number_masked, caregiver_birth_date,
            checklist, times_per_week_child, times_per_week_caregiver, starts_on, ends_on,
            status, activated_at, create_fingerprint, version, created_at, updated_at)
        SELECT md5('stats-agreement/' || c.id)::uuid, c.id, c.county_code, c.area_code,
               '父亲', 'father', '祖母', 'paternal_grandparent', '\\x00'::bytea,
               md5('stats-caregiver/' || c.id), '6207**********0000', date '1960-01-01',
               '{}'::jsonb, 2, 1, current_date - 200 + h % 100, current_date + h % 400,
               'active', now() - interval '150 days', md5('stats-fp/' || c.id), 1, now(), now()
        FROM (SELECT id, county_code, area_code, abs(hashtext(id::text)) AS h FROM children
              WHERE status = 'active' AND categories @> ARRAY['left_behind']::varchar[]) c
        WHERE c.h % 100 < 50
        ON CONFLICT DO NOTHING
        """
    )


async def _reports(conn: asyncpg.Connection) -> None:
    """One report per 200 children over the last year, a tenth filed for the township;
    acceptance 2 to 40 hours after filing (the limit is 24), a referral 2 to 98 hours after
    acceptance (72 after filing), a twentieth never accepted."""
    await conn.execute(
        """
        CREATE TEMP TABLE stats_report AS
        SELECT md5('stats-report/' || c.id)::uuid AS id,
               CASE WHEN h % 10 = 0 THEN left(c.area_code, 9) ELSE c.area_code END AS area,
               (ARRAY['genital_injury', 'sexual_assault_under_14', 'assault_pregnancy_14_plus',
                      'multiple_injuries_or_abuse', 'abnormal_disability_or_death',
                      'abandoned_or_no_care', 'missing_or_trafficked', 'organised_begging',
                      'other_serious_harm'])[1 + h % 9] AS situation,
               now() - make_interval(hours => h % 8760) AS filed, h
        FROM (SELECT id, area_code, abs(hashtext('r' || id::text)) AS h FROM children) c
        WHERE c.h % 200 = 0
        """
    )
    await conn.execute(
        """
        INSERT INTO reports (
            id, county_code, area_code, reported_area_code, situation, description,
            occurred_at, discovered_at, reporter_sector, police_notified, urgent, status,
            accept_deadline,
            first_referral_deadline, accepted_at, first_referral_at, closed_at, outcome,
            request_hash, version, created_at, updated_at)
        SELECT id, left(area, 6), area, area, situation, '基准测试报告', filed, filed, 'school',
               false, false,
               CASE WHEN acc IS NULL THEN 'submitted' WHEN ref IS NULL THEN 'accepted'
                    WHEN h % 3 = 0 THEN 'closed' ELSE 'referred' END,
               filed + interval '24 hours', filed + interval '72 hours', acc, ref,
               CASE WHEN ref IS NOT NULL AND h % 3 = 0 THEN ref + interval '10 days' END,
               CASE WHEN ref IS NOT NULL AND h % 3 = 0 THEN 'substantiated' END,
               md5(id::text), 1, filed, filed
        FROM (SELECT a.*,
                     CASE WHEN acc IS NOT NULL AND h % 5 <> 0
                               AND acc + make_interval(hours => 2 + h % 97) < now()
                          THEN acc + make_interval(hours => 2 + h % 97) END AS ref
              FROM (SELECT r.*,
                           CASE WHEN h % 20 <> 0
                                     AND filed + make_interval(hours => 2 + h % 39) < now()
                                THEN filed + make_interval(hours => 2 + h % 39) END AS acc
                    FROM stats_report r) a) x
        ON CONFLICT (id) DO NOTHING
        """
    )
    await conn.execute(
        """
        INSERT INTO report_events (report_id, county_code, area_code, at, kind, actor_role)
        SELECT id, county_code, area_code, created_at, 'submitted', 'reporter' FROM reports
        WHERE id IN (SELECT id FROM stats_report)
        UNION ALL
        SELECT id, county_code, area_code, accepted_at, 'accepted', 'county_officer'
        FROM reports WHERE id IN (SELECT id FROM stats_report) AND accepted_at IS NOT NULL
        UNION ALL
        SELECT id, county_code, area_code, first_referral_at, 'referred', 'county_officer'
        FROM reports WHERE id IN (SELECT id FROM stats_report) AND first_referral_at IS NOT NULL
        UNION ALL
        SELECT id, county_code, area_code, closed_at, 'closed', 'county_officer'
        FROM reports WHERE id IN (SELECT id FROM stats_report) AND closed_at IS NOT NULL
        """
    )


# A village's activities: kind by the row's hash (trainings 1 in 10, children's-home
# activities 2 in 10, goods and school aid 2 in 10 ...), over the last 365 days.
_KINDS = (
    "ARRAY['training', 'children_home_activity', 'children_home_activity', 'goods', "
    "'school_aid', 'safety_education', 'publicity', 'law_education', 'care_visit', "
    "'family_education', 'counselling', 'joint_meeting']"
)
_TITLES = (
    "ARRAY['儿童主任业务培训', '儿童之家主题活动', '儿童之家课后陪伴', '爱心物资发放', "
    "'助学金发放', '暑期防溺水安全教育', '未成年人保护宣传', '法治进校园讲座', '走访慰问困境儿童', "
    "'家庭教育指导讲座', '心理健康辅导', '儿童保护联席会议']"
)


async def _activities(conn: asyncpg.Connection) -> None:
    """Sites and a year of activities in every village (and township trainings)."""
    await conn.execute(
        """
        INSERT INTO sites (id, county_code, area_code, kind, name, opened_on, status,
                           content_hash, version, created_at, updated_at)
        SELECT md5('stats-site/' || code)::uuid, left(code, 6), code,
               CASE level WHEN 'village' THEN 'children_home'
                          WHEN 'township' THEN 'protection_station' ELSE 'parent_school' END,
               name || CASE level WHEN 'village' THEN '儿童之家'
                          WHEN 'township' THEN '未成年人保护工作站' ELSE '家长学校' END,
               date '2022-01-01' + (abs(hashtext(code)::bigint) % 1000)::int, 'open',
               md5('stats-site/' || code), 1, now(), now()
        FROM areas
        WHERE (level = 'village' AND abs(hashtext(code)::bigint) % 3 <> 0)
           OR level IN ('township', 'county')
        ON CONFLICT DO NOTHING
        """
    )
    await conn.execute(
        f"""
        INSERT INTO activities (
            id, county_code, area_code, kind, title, held_on, place, site_id, organiser,
            organiser_kind, participants, children_served, child_ids, staff_ids, amount,
            goods, content_hash, version, created_at, updated_at)
        SELECT md5('stats-activity/' || a.code || '/' || i)::uuid, left(a.code, 6), a.code,
               k.kind, ({_TITLES})[k.n], current_date - ((a.h + i * 7919) % 365)::int,
               a.name, CASE WHEN k.kind = 'children_home_activity' THEN s.id END,
               a.name || '村委会',
               CASE WHEN k.kind = 'school_aid' THEN 'social_organisation' ELSE 'government' END,
               CASE WHEN k.kind = 'training' THEN 3 ELSE 15 + (a.h + i) % 60 END,
               CASE WHEN k.kind IN ('training', 'joint_meeting') THEN 0
                    ELSE 5 + (a.h + i) % 30 END,
               CASE WHEN k.kind IN ('children_home_activity', 'care_visit', 'counselling')
                    THEN coalesce((SELECT array_agg(c.id) FROM (
                        SELECT id FROM children
                        WHERE county_code = left(a.code, 6) AND area_code = a.code
                          AND status = 'active'
                        ORDER BY id OFFSET (a.h + i) % 20 LIMIT 3 + i % 5) c), '{{}}')
                    ELSE '{{}}' END,
               CASE WHEN k.kind = 'training' AND u.id IS NOT NULL THEN ARRAY[u.id]
                    ELSE '{{}}' END,
               CASE WHEN k.kind IN ('goods', 'school_aid') THEN 500 + (a.h + i) % 5000 END,
               CASE WHEN k.kind = 'goods' THEN '爱心包' || (1 + i % 9) || '箱' END,
               md5('stats-activity/' || a.code || '/' || i), 1, now(), now()
        FROM (SELECT code, name, abs(hashtext(code)::bigint) AS h FROM areas
              WHERE level = 'village') a
        CROSS JOIN generate_series(1, 20) i
        CROSS JOIN LATERAL (SELECT 1 + (a.h + i * 31) % 12 AS n) kn
        CROSS JOIN LATERAL (SELECT ({_KINDS})[kn.n] AS kind, kn.n) k
        LEFT JOIN sites s ON s.id = md5('stats-site/' || a.code)::uuid
        LEFT JOIN users u ON u.id = md5('stats-user/' || a.code)::uuid
        ON CONFLICT DO NOTHING
        """
    )
    await conn.execute(
        """
        INSERT INTO activities (
            id, county_code, area_code, kind, title, held_on, organiser, organiser_kind,
            participants, children_served, staff_ids, content_hash, version, created_at,
            updated_at)
        SELECT md5('stats-training/' || t.code || '/' || q)::uuid, left(t.code, 6), t.code,
               'training', '儿童督导员和儿童主任业务培训', current_date - 30 - q * 90,
               '县民政局', 'government', 40, 0,
               CASE WHEN u.id IS NULL THEN '{}'::uuid[] ELSE ARRAY[u.id] END,
               md5('stats-training/' || t.code || '/' || q), 1, now(), now()
        FROM areas t CROSS JOIN generate_series(0, 3) q
        LEFT JOIN users u ON u.id = md5('stats-user/' || t.code)::uuid
        WHERE t.level = 'township'
        ON CONFLICT DO NOTHING
        """
    )


async def _made(conn: asyncpg.Connection, county: str) -> bool:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_stats_meta (county text PRIMARY KEY, "
        "made_at timestamptz DEFAULT now())"
    )
    return bool(await conn.fetchval("SELECT 1 FROM bench_stats_meta WHERE county = $1", county))


async def refresh_snapshots(url: str) -> int:
    """The county snapshots as the API's periodic job makes them (the benchmark runs the API
    with jobs off): city and province figures read them."""
    from childprotect_api.core.db import Database
    from childprotect_api.models.base import utcnow
    from childprotect_api.services.stats import snapshots as stats_snapshots

    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            done = await stats_snapshots.refresh(session, utcnow())
            await session.commit()
            return done
    finally:
        await db.dispose()


async def refresh_periods(url: str) -> int:
    """The counties' distinct children of the periods asked most, as the same periodic job
    makes them (services/stats/periods.py): city and province figures add them up."""
    from childprotect_api.core.db import Database
    from childprotect_api.models.base import utcnow
    from childprotect_api.services.stats import periods as stats_periods

    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            done = await stats_periods.refresh(session, utcnow())
            await session.commit()
            return done
    finally:
        await db.dispose()


async def ensure(url: str, scale: Scale) -> StatsExtras:
    x = EXTRAS[scale.name]
    conn = await connect(url)
    try:
        await _schema(conn)
        if await _made(conn, x.county):
            await _ensure_activities(conn, x)
            return x
        log(f"adding the statistics extras: county {x.county} ({x.children:,} children)")
        await conn.execute("SET session_replication_role = replica")  # no FK checks, no triggers
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SELECT setseed(0.19)")
        async with conn.transaction():
            villages = await _areas(conn, x)
            await _county_children(conn, x, villages)
            log("workforce, agreements, reports")
            await _workforce(conn)
            await _agreements(conn)
            await _reports(conn)
            log("counting the visit rollups")
            for sql in REBUILD:
                await conn.execute(sql)
            await conn.execute("INSERT INTO bench_stats_meta (county) VALUES ($1)", x.county)
        log("vacuum analyze")
        for table in ("areas", "users", "children", "visits", "agreements", "reports"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("VACUUM (ANALYZE) stats_visit_days")
        await conn.execute("VACUUM (ANALYZE) stats_visit_months")
        await _ensure_activities(conn, x)
    finally:
        await conn.close()
    return x


async def _ensure_activities(conn: asyncpg.Connection, x: StatsExtras) -> None:
    marker = f"{x.county}/activities"
    if await _made(conn, marker):
        return
    log("adding a year of care activities and sites in every village")
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("SET synchronous_commit = off")
    async with conn.transaction():
        await _activities(conn)
        await conn.execute("INSERT INTO bench_stats_meta (county) VALUES ($1)", marker)
    await conn.execute("SET session_replication_role = DEFAULT")
    for table in ("sites", "activities"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")
