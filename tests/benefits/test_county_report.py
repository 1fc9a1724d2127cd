"""The seeds' test: a county whose records match the figures of a real county report, and one
export (CSV, the county's total row) that reproduces them.

The report (县民政局年度工作总结, figures as quoted in issue #22): 152 rural left-behind
children and 8 orphans on the register; "审批认定事实无人抚养儿童13名，减员事实无人抚养儿童3名，
减员孤儿2名"; "累计为66名事实无人抚养儿童发放基本生活补贴"; "对5人按时按月1050元发放救助金"
(here: 5 orphans, 1,050 yuan each month of the year); "39名学生发放助学金121400元"; 3 village
child directors and 2 township supervisors; 12 home visits to 10 children."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from childprotect_api.services.stats.metrics import DEFS
from tests.benefits.benefit_helpers import (
    PAYMENTS,
    granted,
    payment_item,
    removal_body,
    removals_of,
)
from tests.conftest import COUNTY, VILLAGE, VILLAGE_OTHER_TOWNSHIP, VILLAGE_SAME_TOWNSHIP
from tests.factories import make_child
from tests.stats import stats_support as data
from tests.visits.visit_factories import put_visit

VILLAGES = (VILLAGE, VILLAGE_SAME_TOWNSHIP, VILLAGE_OTHER_TOWNSHIP)
REPORT = {
    "children.category.left_behind": 152,
    "children.category.orphan": 8,
    "children.category.de_facto_unsupported": 63,  # 50 before the year + 13 granted
    "decisions.granted.de_facto_unsupported": 13,
    "removals.category.de_facto_unsupported": 3,
    "removals.category.orphan": 2,
    "payments.recipients.de_facto_allowance": 66,  # the 63 and the 3 removed during the year
    "payments.recipients.orphan_allowance": 5,
    "payments.recipients.education_grant": 39,
    "payments.amount.education_grant": 121400,
    "workforce.village_directors": 3,
    "workforce.township_supervisors": 2,
    "visits.made": 12,
    "visited.children": 10,
}


async def _children(session, settings, n: int, categories: list[str]) -> list:  # type: ignore[no-untyped-def]
    since = datetime.now(UTC) - timedelta(days=400)
    out = []
    for i in range(n):
        out.append(
            await make_child(
                session,
                settings,
                VILLAGES[i % 3],
                name=f"儿童{len(categories)}{i}",
                categories=categories,
                with_id_number=False,
                commit=False,
                created_at=since,
            )
        )
    await session.commit()
    return out


async def test_one_export_reproduces_the_county_report(client, world, session, settings):
    left_behind = await _children(session, settings, 152, ["left_behind"])
    orphans = await _children(session, settings, 10, ["in_difficulty", "orphan"])
    held = await _children(session, settings, 53, ["in_difficulty", "de_facto_unsupported"])
    applicants = await _children(session, settings, 13, ["in_difficulty"])
    officer = world["officer"].headers
    for child in applicants:
        await granted(client, world, child.id, "de_facto_unsupported", "officer", "officer")
    for child in held[:3]:
        body = removal_body("de_facto_unsupported", "parent_returned")
        r = await client.post(removals_of(child.id), json=body, headers=officer)
        assert r.status_code == 201, r.text
    for child in orphans[:2]:
        r = await client.post(
            removals_of(child.id), json=removal_body("orphan", "turned_18"), headers=officer
        )
        assert r.status_code == 201, r.text

    today = data.china_today()
    months = [f"{today.year}-{m:02d}" for m in range(1, today.month + 1)]
    items = [
        # The three removed in the year were paid before their removal.
        *(payment_item(c.id, period=months[0]) for c in held[:3]),
        *(payment_item(c.id, period=months[-1]) for c in [*held[3:], *applicants]),
        *(
            payment_item(c.id, kind="orphan_allowance", period=m, amount="1050.00")
            for c in orphans[2:7]
            for m in months
        ),
        *(
            payment_item(
                c.id,
                kind="education_grant",
                period=None,
                paid_on=today.replace(day=1).isoformat(),
                amount="3600.00" if i == 0 else "3100.00",
            )
            for i, c in enumerate(left_behind[:39])
        ),
    ]
    for start in range(0, len(items), 500):
        r = await client.post(PAYMENTS, json={"items": items[start : start + 500]}, headers=officer)
        assert r.status_code == 200 and r.json()["errors"] == 0, r.text
    now = datetime.now(UTC)
    visited = left_behind[:10]
    for i, child in enumerate([*visited, *visited[:2]]):
        actor = world[("director", "director_other_village", "director_other_township")[i % 3]]
        if child.area_code != actor.user.area_code:
            actor = next(
                a
                for a in (
                    world["director"],
                    world["director_other_village"],
                    world["director_other_township"],
                )
                if a.user.area_code == child.area_code
            )
        await put_visit(client, actor, child.id, visited_at=now - timedelta(days=1 + i))

    period = {"from": f"{today.year}-01-01", "to": today.isoformat()}
    r = await client.get(
        f"{data.STATS}/export",
        params={"area": COUNTY, "format": "csv", **period},
        headers=officer,
    )
    assert r.status_code == 200, r.text
    header, total, *_ = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert total[0] == COUNTY
    figures = dict(zip(header, total, strict=True))
    got = {m: float(figures[DEFS[m].label_zh]) for m in REPORT}
    assert got == {m: float(v) for m, v in REPORT.items()}
    # 5 children x 1,050 yuan x every month of the year so far.
    assert float(figures[DEFS["payments.amount.orphan_allowance"].label_zh]) == 5 * 1050 * len(
        months
    )
