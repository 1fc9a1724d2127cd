"""The demo county's reports: every state, some overdue, linked to demo children when the
registry has any, and loading twice adds nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from childprotect_api.core import client_ids
from childprotect_api.models.area import LEVEL_BY_LENGTH, Area
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.user import User
from childprotect_api.services.demo import reports as demo_reports
from childprotect_api.services.demo.county import DEMO_AREAS, DEMO_USERS, DEMO_VILLAGE
from childprotect_api.services.demo.loader import _steps
from childprotect_api.services.reports.deadlines import is_overdue
from tests.conftest import password_hash
from tests.factories import make_child
from tests.reports.report_support import count, fresh


@pytest.mark.parametrize("with_children", [True, False])
async def test_demo_reports(session, settings, with_children):
    assert demo_reports.load in _steps()
    for code, name, parent in DEMO_AREAS:
        session.add(
            Area(code=code, name=name, parent_code=parent, level=LEVEL_BY_LENGTH[len(code)])
        )
    await session.flush()
    for username, display, role, area, phone in DEMO_USERS:
        session.add(
            User(
                username=username,
                display_name=display,
                role=role.value,
                area_code=area,
                phone=phone,
                password_hash=password_hash(),
            )
        )
    await session.commit()
    child = await make_child(session, settings, DEMO_VILLAGE) if with_children else None

    with client_ids.trusted_ids():  # as the loader runs its steps
        await demo_reports.load(session)
    await session.commit()
    reports = (await session.execute(select(Report))).scalars().all()
    assert {r.status for r in reports} == {"submitted", "accepted", "referred", "closed"}
    now = utcnow()
    assert sum(is_overdue(r, now) for r in reports) >= 2
    if child is not None:
        assert any(r.child_id == child.id for r in reports)
        assert (await fresh(session, Child, child.id)).risk_level == "red"
    else:
        assert all(r.child_id is None for r in reports)

    with client_ids.trusted_ids():  # as the loader runs its steps
        await demo_reports.load(session)
    await session.commit()
    assert await count(session, Report) == len(reports)
