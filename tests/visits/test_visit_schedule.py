from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from childprotect_api.models.child import ChildRiskChange
from childprotect_api.models.visit_policy import VisitPolicy
from childprotect_api.services.children.schedule import set_risk_level
from tests.conftest import VILLAGE
from tests.factories import make_child


async def test_new_child_due_from_registration(session, settings, world):
    child = await make_child(session, settings, VILLAGE, risk_level="yellow")
    assert child.next_visit_due == child.created_at + timedelta(days=30)


async def test_raising_level_brings_due_date_closer_and_is_kept(session, settings, world):
    child = await make_child(session, settings, VILLAGE)
    before = child.next_visit_due
    change = await set_risk_level(
        session, child, "orange", "父母失联", set_by=world["supervisor"].id
    )
    assert change is not None and change.old_level == "blue"
    assert child.next_visit_due == child.created_at + timedelta(days=7)
    assert child.next_visit_due < before
    assert child.version == 2
    await session.commit()
    rows = (
        (await session.execute(select(ChildRiskChange).where(ChildRiskChange.child_id == child.id)))
        .scalars()
        .all()
    )
    assert [(r.old_level, r.new_level) for r in rows] == [("blue", "orange")]
    assert await set_risk_level(session, child, "orange", "again", set_by=None) is None


async def test_county_policy_overrides_defaults(session, settings, world):
    session.add(VisitPolicy(county_code=VILLAGE[:6], blue_days=60))
    await session.commit()
    child = await make_child(session, settings, VILLAGE)
    assert child.next_visit_due == child.created_at + timedelta(days=60)
