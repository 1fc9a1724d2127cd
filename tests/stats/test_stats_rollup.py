"""The visit rollups and each child's latest current visit follow every change of the visits
(new, corrected, moved with their child), and compaction changes no figure."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from childprotect_api.models.base import utcnow
from childprotect_api.services.children.rules import today as china_today
from childprotect_api.services.periodic import periodic_jobs
from childprotect_api.services.stats import rollup as stats_rollup
from tests.conftest import COUNTY, VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.stats import stats_support as data
from tests.visits.visit_factories import if_match, put_visit, registered_child, visit_body

_RECOUNT = {
    "stats_visit_days": """
        SELECT county_code, (visited_at AT TIME ZONE 'Asia/Shanghai')::date, kind, count(*)
        FROM visits WHERE is_current GROUP BY 1, 2, 3""",
    "stats_visit_months": """
        SELECT county_code, area_code,
               date_trunc('month', visited_at AT TIME ZONE 'Asia/Shanghai')::date, kind,
               visitor_id, count(*)
        FROM visits WHERE is_current GROUP BY 1, 2, 3, 4, 5""",
    "children": """
        SELECT c.id, max(v.visited_at) FROM children c
        LEFT JOIN visits v ON v.child_id = c.id AND v.is_current GROUP BY c.id""",
}
_SUMMED = {
    "stats_visit_days": """
        SELECT county_code, day, kind, sum(visits) FROM stats_visit_days
        GROUP BY 1, 2, 3 HAVING sum(visits) <> 0""",
    "stats_visit_months": """
        SELECT county_code, area_code, month, kind, visitor_id, sum(visits)
        FROM stats_visit_months GROUP BY 1, 2, 3, 4, 5 HAVING sum(visits) <> 0""",
    "children": "SELECT id, stats_visited_at FROM children",
}


async def _rollups_match_the_visits(session) -> None:  # type: ignore[no-untyped-def]
    for table in _RECOUNT:
        recount = {tuple(r) for r in await session.execute(text(_RECOUNT[table]))}
        summed = {tuple(r) for r in await session.execute(text(_SUMMED[table]))}
        assert summed == recount, table


async def test_corrections_and_transfers_move_the_counts(client, session, settings, world):
    child = await registered_child(session, settings, VILLAGE)
    first = await put_visit(client, world["director"], child.id, visited_at=utcnow())
    await put_visit(client, world["director"], child.id, visited_at=utcnow() - timedelta(days=40))
    corrected = {
        **visit_body(child.id, utcnow(), kind="phone"),
        "id": str(uuid.uuid4()),
        "correction_reason": "是电话随访",
    }
    r = await client.post(
        f"/api/v1/visits/{first['id']}/corrections",
        json=corrected,
        headers={**world["director"].headers, **if_match(first)},
    )
    assert r.status_code in (200, 201), r.text
    await _rollups_match_the_visits(session)
    body = await data.get(client, world["director"], "summary")
    assert body["visits"]["made_by_kind"]["phone"] == 1
    assert body["visits"]["made"] == 2

    r = await client.post(
        f"/api/v1/children/{child.id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随父母迁居"},
        headers=world["officer"].headers,
    )
    assert r.status_code == 200, r.text
    await _rollups_match_the_visits(session)
    old = await data.get(client, world["officer"], "summary", area=VILLAGE)
    new = await data.get(client, world["officer"], "summary", area=VILLAGE_SAME_TOWNSHIP)
    assert old["visits"]["made"] == 0
    assert new["visits"]["made"] == 2


async def test_children_visited_follow_corrections_and_later_visits(
    client, session, settings, world
):
    """A child visited in a period whose latest visit came after it still counts (its visits
    are probed); a correction that moves the latest visit back moves the child out of a
    period it no longer has a visit in."""
    child = await registered_child(session, settings, VILLAGE)
    await put_visit(client, world["director"], child.id, visited_at=utcnow() - timedelta(days=40))
    latest = await put_visit(client, world["director"], child.id, visited_at=utcnow())
    await _rollups_match_the_visits(session)
    today = china_today()

    async def visited(start: int, end: int) -> tuple[int, int]:
        span = {"from": (today - timedelta(days=start)).isoformat(),
                "to": (today - timedelta(days=end)).isoformat()}  # fmt: skip
        body = await data.get(client, world["officer"], "summary", area=VILLAGE, **span)
        roles = body["visited"]["visits_by_visitor_role"]
        return body["visited"]["children"], roles["village_director"]

    assert await visited(60, 0) == (1, 2)
    assert await visited(60, 10) == (1, 1)  # the latest visit lies after the period
    assert await visited(5, 0) == (1, 1)
    assert await visited(100, 50) == (0, 0)
    corrected = {
        **visit_body(child.id, utcnow() - timedelta(days=45)),
        "id": str(uuid.uuid4()),
        "correction_reason": "日期记错了",
    }
    r = await client.post(
        f"/api/v1/visits/{latest['id']}/corrections",
        json=corrected,
        headers={**world["director"].headers, **if_match(latest)},
    )
    assert r.status_code in (200, 201), r.text
    await _rollups_match_the_visits(session)
    assert await visited(5, 0) == (0, 0)
    assert await visited(60, 0) == (1, 2)
    assert await visited(44, 0) == (1, 1)


async def test_compaction_folds_rows_and_changes_no_figure(client, session, settings, world):
    await data.build(session, settings, world)
    before = await data.get(client, world["officer"], "breakdown", area=COUNTY, by="village",
                            metric=["visits.made", "visits.made.phone"], **data.period())  # fmt: skip
    pending = (
        await session.execute(text("SELECT count(*) FROM stats_visit_months WHERE NOT compacted"))
    ).scalar_one()
    assert pending > 0
    folded = await stats_rollup.compact(session)
    await session.commit()
    assert folded > 0
    assert (
        await session.execute(text("SELECT count(*) FROM stats_visit_months WHERE NOT compacted"))
    ).scalar_one() == 0
    await _rollups_match_the_visits(session)
    assert await stats_rollup.compact(session) == 0  # nothing left to fold
    await session.commit()
    after = await data.get(client, world["officer"], "breakdown", area=COUNTY, by="village",
                           metric=["visits.made", "visits.made.phone"], **data.period())  # fmt: skip
    assert after["rows"] == before["rows"] and after["total"] == before["total"]


async def test_rebuild_recounts_from_the_visits(session, settings, world):
    await data.build(session, settings, world)
    await session.execute(text("DELETE FROM stats_visit_days"))
    await stats_rollup.rebuild(session)
    await session.commit()
    await _rollups_match_the_visits(session)


def test_the_compaction_runs_with_the_other_jobs(settings):
    assert "stats_rollup" in {job.name for job in periodic_jobs(settings)}
