from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from childprotect_api.models.child import Category, Child, ParentSituation, RiskLevel
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.rules import today
from childprotect_api.services.demo import children as demo_children
from childprotect_api.services.demo import county as demo


async def test_demo_children_are_realistic_and_idempotent(session, settings, monkeypatch):
    monkeypatch.setattr(demo_children, "get_settings", lambda: settings)
    await demo.load_areas(session)
    for _ in range(2):
        await demo_children.load(session)
        await session.commit()
    children = list((await session.execute(select(Child))).scalars())
    assert len(children) == demo_children.COUNT
    assert {c for child in children for c in child.categories} == {c.value for c in Category}
    assert set(Counter(c.risk_level for c in children)) == {r.value for r in RiskLevel}
    situations = {p["situation"] for c in children for p in (c.father, c.mother) if p}
    assert situations == {s.value for s in ParentSituation}
    day = today()
    for child in children:
        number = id_numbers.reveal(settings.data_key, child.id_number_enc)
        info = id_numbers.parse(number)
        assert (info.birth_date, info.gender) == (child.birth_date, child.gender)
        assert id_numbers.age_on(child.birth_date, day) < 18
        if "left_behind" in child.categories:
            assert id_numbers.age_on(child.birth_date, day) < 16
        assert child.next_visit_due is not None
    hashes = (
        await session.execute(select(func.count(func.distinct(Child.id_number_hash))))
    ).scalar()
    assert hashes == len(children)
