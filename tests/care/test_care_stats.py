"""The care figures in the statistics: pairing coverage of orange/red children, open cases,
measures done per kind, intervention coverage of red children, duties open and overdue; and
auditors see small village figures suppressed."""

from __future__ import annotations

import uuid

from tests.care.care_support import CASES, PAIRINGS, case_body, pairing_body
from tests.conftest import COUNTY, VILLAGE
from tests.factories import make_child
from tests.stats import stats_support as data


async def test_care_figures(client, world, session, settings):
    orange = await make_child(session, settings, VILLAGE, risk_level="orange")
    red = await make_child(session, settings, VILLAGE, risk_level="red")
    await make_child(session, settings, VILLAGE, risk_level="red")
    from childprotect_api.services.duties import duties

    for c in (orange, red):
        await duties.recompute(session, c)
    await session.commit()
    h = world["supervisor"].headers
    assert (await client.post(PAIRINGS, json=pairing_body(orange.id), headers=h)).status_code == 201
    r = await client.post(CASES, json=case_body(red.id), headers=h)
    case_id = r.json()["id"]
    mid = str(uuid.uuid4())
    m = {"id": mid, "kind": "legal_aid", "responsible": "县司法局"}
    assert (await client.post(f"{CASES}/{case_id}/measures", json=m, headers=h)).status_code == 201
    r = await client.post(f"{CASES}/{case_id}/measures/{mid}/done", json={}, headers=h)
    assert r.status_code == 200

    s = await data.get(client, world["officer"], "summary", area=COUNTY, **data.period())
    care = s["care"]
    assert care["pairing_needed"] == 3 and care["paired"] == 1
    assert care["pairing_coverage"] == round(1 / 3, 4)
    assert care["red"] == 2 and care["red_intervened"] == 1
    assert care["intervention_coverage"] == 0.5
    assert care["cases_open"] == 1
    assert care["measures_done"] == 1 and care["measures_done_by_kind"]["legal_aid"] == 1
    # The red child with a case still needs a pairing; the other red child (no recompute:
    # made directly in the database) has no duty rows.
    assert care["duties_open_by_kind"]["needs_pairing"] == 1
    assert care["duties_open"] == 1 and care["duties_overdue"] == 0

    # Auditors: the village's small figures are not shown as numbers.
    b = await data.get(
        client, world["auditor"], "breakdown", area=COUNTY, by="village", **data.period()
    )
    (row,) = [r for r in b["rows"] if r["area_code"] == VILLAGE]
    assert row["values"]["care.pairing_needed"] == "<5"
