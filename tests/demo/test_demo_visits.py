from __future__ import annotations

from sqlalchemy import func, select

from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.models.visit import Visit
from childprotect_api.security.scope import Scope
from childprotect_api.services.demo.loader import load_demo
from childprotect_api.services.visits.worklist import worklist


async def test_demo_worklist_has_overdue_due_soon_and_returned_visits(database_url, session):
    await load_demo(database_url)
    counts = (
        await session.scalar(select(func.count()).select_from(Child)),
        await session.scalar(select(func.count()).select_from(Visit)),
    )
    await load_demo(database_url)  # idempotent
    assert counts == (
        await session.scalar(select(func.count()).select_from(Child)),
        await session.scalar(select(func.count()).select_from(Visit)),
    )
    assert counts[1] >= 5

    director = (
        await session.execute(select(User).where(User.username == "demo_director"))
    ).scalar_one()
    scope = Scope("user", director.id, director.role, director.area_code or "")
    page, _ = await worklist(session, scope, within_days=7, limit=500, after=None)
    assert page.counts.overdue >= 2 and page.counts.due_soon >= 2
    assert any(item.open_follow_ups for item in page.items)
    assert [v.review_comment for v in page.returned_visits] == ["请补充照片和监护人联系方式"]
    await session.rollback()
