"""The worklist shows each child's open duties, filters to children with open duties, and
ranks red and orange children with open duties first among equally overdue ones."""

from __future__ import annotations

from datetime import timedelta

from childprotect_api.models.base import utcnow
from childprotect_api.services.duties import duties
from tests.conftest import VILLAGE
from tests.visits.visit_factories import WORKLIST, registered_child

INTERVAL = {"yellow": 30, "orange": 7, "red": 1}


async def _due(session, settings, days: float, level: str, name: str):
    last = utcnow() + timedelta(days=days) - timedelta(days=INTERVAL[level])
    return await registered_child(
        session, settings, VILLAGE, risk_level=level, last_visit_at=last, name=name
    )


async def test_duties_on_items_filter_and_rank(client, world, session, settings):
    # Three children two-and-a-bit days overdue: the yellow one is a little more overdue,
    # but the orange one with an open duty is ranked first among the equally overdue.
    yellow = await _due(session, settings, -2.6, "yellow", "黄")
    orange = await _due(session, settings, -2.2, "orange", "橙")
    await _due(session, settings, -5.5, "yellow", "更早")
    await duties.recompute(session, orange)
    await duties.recompute(session, yellow)
    await session.commit()

    r = await client.get(WORKLIST, headers=world["director"].headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["child"]["name"] for i in items] == ["更早", "橙", "黄"]
    by_name = {i["child"]["name"]: i for i in items}
    assert [d["kind"] for d in by_name["橙"]["duties"]] == ["needs_pairing"]
    assert by_name["黄"]["duties"] == [] and by_name["更早"]["duties"] == []

    r = await client.get(
        WORKLIST, params={"with_duties": "true"}, headers=world["director"].headers
    )
    body = r.json()
    assert [i["child"]["name"] for i in body["items"]] == ["橙"]
    assert body["counts"] == {"overdue": 1, "due_soon": 0}

    r = await client.get(
        WORKLIST, params={"with_duties": "maybe"}, headers=world["director"].headers
    )
    assert r.status_code == 422
