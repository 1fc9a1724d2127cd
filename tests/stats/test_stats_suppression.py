"""Auditors see aggregates only, and no figure about fewer than 5 children in a village, nor
one that a sum of shown figures would give away."""

from __future__ import annotations

from typing import Any

import pytest

from childprotect_api.models.area import Area
from childprotect_api.models.user import Role
from childprotect_api.services.stats.metrics import DEFS, HIDDEN, METRICS, ROW_EQUATIONS, MetricKind
from childprotect_api.services.stats.suppression import Table, solve
from tests.conftest import (
    COUNTY,
    TOWNSHIP,
    TOWNSHIP_OTHER,
    VILLAGE,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
    make_actor,
)
from tests.stats import stats_support as data

THIRD_VILLAGE = "620722100003"
# The other township of the county has one village: it gets children enough to show, or its
# figures (the village's own) would be hidden, and with them, through the county's total,
# those of the township under test.
MARKERS = ("<5", "suppressed")


async def _children(session, settings, area: str, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        await data.child(session, settings, area, risk="blue", categories=["left_behind"],
                         registered=200, visited=10)  # fmt: skip
    await session.commit()


@pytest.fixture
async def three_villages(session, settings, world):  # type: ignore[no-untyped-def]
    session.add(Area(code=THIRD_VILLAGE, name="三村", parent_code=TOWNSHIP, level="village"))
    await session.flush()
    await _children(session, settings, VILLAGE, 6)
    await _children(session, settings, VILLAGE_SAME_TOWNSHIP, 3)
    await _children(session, settings, THIRD_VILLAGE, 2)
    await _children(session, settings, VILLAGE_OTHER_TOWNSHIP, 5)
    return world


async def test_a_village_of_three_children_shows_fewer_than_five(client, three_villages):
    w = three_villages
    six = await data.get(client, w["auditor"], "summary", area=VILLAGE)
    three = await data.get(client, w["auditor"], "summary", area=VILLAGE_SAME_TOWNSHIP)
    assert six["suppressed"] is True
    assert six["children"]["active"] == 6
    assert six["children"]["by_risk_level"]["blue"] == 6
    assert six["children"]["by_risk_level"]["red"] == "<5"
    assert three["children"]["active"] == "<5"
    assert three["visits"]["coverage"]["rate"] == "suppressed"
    # Workforce figures are about staff, not children.
    assert three["workforce"]["village_directors"] == 1

    body = await data.get(client, w["auditor"], "breakdown", area=TOWNSHIP, by="village",
                          metric="children.active")  # fmt: skip
    rows = {r["area_code"]: r["values"]["children.active"] for r in body["rows"]}
    # The township's own row holds its supervisor (no children).
    assert rows == {VILLAGE: 6, VILLAGE_SAME_TOWNSHIP: "<5", THIRD_VILLAGE: "<5", TOWNSHIP: 0}
    assert body["total"]["values"]["children.active"] == 11

    # Staff see every figure.
    plain = await data.get(client, w["officer"], "summary", area=VILLAGE_SAME_TOWNSHIP)
    assert plain["suppressed"] is False
    assert plain["children"]["active"] == 3


async def test_an_auditor_of_one_village_sees_it_suppressed(
    client, session, settings, three_villages
):
    auditor = await make_actor(
        session, settings, "village_auditor", Role.auditor, VILLAGE_SAME_TOWNSHIP
    )
    await session.commit()
    body = await data.get(client, auditor, "summary")
    assert body["suppressed"] is True
    assert body["children"]["active"] == "<5"
    trend = await data.get(client, auditor, "trend", metric="children.active")
    assert trend["points"][-1]["value"] == "<5"


async def test_the_other_village_of_a_pair_is_hidden_too(client, session, settings, world):
    """Township = village A + village B: showing A and the township would give B away."""
    await _children(session, settings, VILLAGE, 6)
    await _children(session, settings, VILLAGE_SAME_TOWNSHIP, 3)
    await _children(session, settings, VILLAGE_OTHER_TOWNSHIP, 5)
    township = await data.get(client, world["auditor"], "summary", area=TOWNSHIP)
    assert township["children"]["active"] == 9
    a = await data.get(client, world["auditor"], "summary", area=VILLAGE)
    b = await data.get(client, world["auditor"], "summary", area=VILLAGE_SAME_TOWNSHIP)
    assert a["children"]["active"] == "suppressed"
    assert b["children"]["active"] == "<5"
    body = await data.get(client, world["auditor"], "breakdown", area=TOWNSHIP, by="village")
    rows = {r["area_code"]: r["values"] for r in body["rows"]}
    assert rows[VILLAGE]["children.active"] == "suppressed"
    assert rows[VILLAGE_SAME_TOWNSHIP]["children.active"] == "<5"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _single_hidden(total: Any, parts: list[Any]) -> bool:
    return sum(1 for v in (total, *parts) if v in MARKERS) == 1


async def test_no_sum_gives_a_hidden_figure_away(client, session, settings, world):
    await data.build(session, settings, world)
    auditor = world["auditor"]
    by_township = await data.get(client, auditor, "breakdown", area=COUNTY, by="township",
                                 **data.period())  # fmt: skip
    by_village = await data.get(client, auditor, "breakdown", area=COUNTY, by="village",
                                **data.period())  # fmt: skip
    townships = {r["area_code"]: r["values"] for r in by_township["rows"]}
    villages = {r["area_code"]: r["values"] for r in by_village["rows"]}
    assert any(v in MARKERS for row in villages.values() for v in row.values())
    additive = [m for m in METRICS if DEFS[m].additive and DEFS[m].kind != MetricKind.staff]
    for township in (TOWNSHIP, TOWNSHIP_OTHER):
        members = [v for code, v in villages.items() if code.startswith(township)]
        for m in additive:
            parts = [row[m] for row in members]
            assert not _single_hidden(townships[township][m], parts), (township, m)
    for code, row in villages.items():
        if len(code) != 12:
            continue
        for total, parts in ROW_EQUATIONS:
            if all(p in row for p in (total, *parts)):
                assert not _single_hidden(row[total], [row[p] for p in parts]), (code, total)
        for whole, part in HIDDEN.values():
            if _number(row[whole]) and _number(row[part]):
                assert row[whole] - row[part] >= 5, (code, whole, part)
        for m in METRICS:
            if _number(row[m]) and DEFS[m].kind == MetricKind.count:
                assert row[m] >= 5, (code, m)
    # The same village figures in its own summary.
    village = await data.get(client, auditor, "summary", area=VILLAGE, **data.period())
    assert village["children"]["active"] == villages[VILLAGE]["children.active"]
    assert village["reports"]["filed"] == villages[VILLAGE]["reports.filed"]


async def test_county_figures_are_never_hidden(client, session, settings, world):
    await data.build(session, settings, world)
    body = await data.get(client, world["auditor"], "summary", area=COUNTY, **data.period())
    assert body["suppressed"] is False
    assert body["children"]["active"] == 8
    assert body["children"]["by_risk_level"]["orange"] == 1


async def test_trend_points_are_hidden_for_auditors(client, three_villages):
    w = three_villages
    three = await data.get(client, w["auditor"], "trend", area=VILLAGE_SAME_TOWNSHIP,
                           metric="children.active")  # fmt: skip
    assert three["suppressed"] is True
    assert three["points"][-1]["value"] == "<5"
    six = await data.get(client, w["auditor"], "trend", area=VILLAGE, metric="children.active")
    assert six["points"][-1]["value"] == 6
    township = await data.get(client, w["auditor"], "trend", area=TOWNSHIP,
                              metric="children.active")  # fmt: skip
    assert township["points"][-1]["value"] == 11
    officer = await data.get(client, w["officer"], "trend", area=VILLAGE_SAME_TOWNSHIP,
                             metric="children.active")  # fmt: skip
    assert officer["points"][-1]["value"] == 3


async def test_trend_months_do_not_give_a_village_away(client, session, settings, world):
    await data.build(session, settings, world)
    auditor = world["auditor"]
    township = await data.get(client, auditor, "trend", area=TOWNSHIP, metric="visits.made")
    a = await data.get(client, auditor, "trend", area=VILLAGE, metric="visits.made")
    b = await data.get(client, auditor, "trend", area=VILLAGE_SAME_TOWNSHIP, metric="visits.made")
    for i, point in enumerate(township["points"]):
        assert not _single_hidden(
            point["value"], [a["points"][i]["value"], b["points"][i]["value"]]
        )
    for series in (a, b):
        values = [p["value"] for p in series["points"]]
        assert all(v in MARKERS or v >= 5 for v in values)


def test_the_solver_hides_a_second_term_and_follows_differences():
    t = Table()
    t.add(("T", "n"), 9, primary=False, fixed=True)
    t.add(("A", "n"), 6, primary=False, fixed=False)
    t.add(("B", "n"), 3, primary=True, fixed=False)
    t.equation(("T", "n"), [("A", "n"), ("B", "n")])
    unknown, residual = solve(t)
    assert unknown == {("A", "n"), ("B", "n")} and residual == []

    # A difference of two shown figures (whole - part) that is small hides one of them.
    t = Table()
    t.add(("A", "whole"), 9, primary=False, fixed=False)
    t.add(("A", "part"), 7, primary=False, fixed=False)
    t.add(("A", "~diff"), 2, primary=True, fixed=False)
    t.hidden[("A", "~diff")] = (("A", "whole"), ("A", "part"))
    t.equation(("A", "whole"), [("A", "part"), ("A", "~diff")])
    unknown, residual = solve(t)
    assert ("A", "part") in unknown and residual == []

    # Nothing else to hide: the sum stays unprotected and is reported.
    t = Table()
    t.add(("T", "n"), 3, primary=False, fixed=True)
    t.add(("A", "n"), 3, primary=True, fixed=False)
    t.equation(("T", "n"), [("A", "n")])
    unknown, residual = solve(t)
    assert residual == [(("T", "n"), ("A", "n"))]
