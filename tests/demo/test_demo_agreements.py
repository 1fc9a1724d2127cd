"""The demo county's agreements: every state, gaps and ones about to expire; idempotent."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from childprotect_api.security.scope import Scope
from childprotect_api.services.agreements import lists as agreement_lists
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.demo import county as demo
from childprotect_api.services.demo.county import DEMO_COUNTY
from childprotect_api.services.demo.loader import load_demo


async def test_demo_agreements_cover_every_state_and_load_once(settings, session, monkeypatch):
    assert settings.database_url
    # The demo's password hashing (Argon2, 16 times) is not what this test is about.
    monkeypatch.setattr(demo, "hash_password", lambda password: "not-a-real-hash")
    count_children = text("SELECT count(*) FROM children")
    await load_demo(settings.database_url)
    first = (await session.execute(count_children)).scalar_one()
    await session.commit()
    await load_demo(settings.database_url)
    statuses = dict(
        (
            await session.execute(text("SELECT status, count(*) FROM agreements GROUP BY status"))
        ).all()
    )
    assert statuses == {"active": 3, "draft": 2, "expired": 1, "terminated": 1}
    assert (await session.execute(count_children)).scalar_one() == first  # nothing doubled
    history = (
        await session.execute(text("SELECT count(*) FROM agreement_status_changes"))
    ).scalar_one()
    assert history == 7 + 5 + 2  # created, activated (5), expired/terminated (2)

    officer = Scope("user", uuid.uuid4(), "county_officer", DEMO_COUNTY)
    today = china_today()
    gaps = await agreement_lists.children_without_agreement(
        session, officer, today, area=None, limit=1000, after=None
    )
    # The registry demo adds many left-behind children without an agreement; of the
    # agreement demo's children: two never had one, two have drafts, one expired, one terminated.
    with_agreements = set(
        (await session.execute(text("SELECT DISTINCT child_id FROM agreements"))).scalars()
    )
    assert len(gaps) >= 6
    gaps = [g for g in gaps if g.child_id in with_agreements]
    # two drafts, one expired, one terminated: none of them active
    assert len(gaps) == 4 and sum(g.has_draft for g in gaps) == 2
    ending = await agreement_lists.ending_soon(
        session, officer, today, within_days=30, area=None, limit=50, after=None
    )
    assert len(ending) == 2
