"""A small county whose statistics are known by hand (tests/stats/test_stats*.py).

Dates are relative to now; the period asked for is the last 60 days (China's calendar).
County 620722 (the conftest world), with a fourth village 620722101002 that has no director:

village A 620722100001 (VILLAGE)
  a1 active blue   [left_behind]               visited 10 d ago → covered; agreement active
  a2 active yellow [left_behind, low_income]   visited 40 d ago → overdue; agreement ends in 20 d
  a3 active orange [orphan]        registered 10 d ago, never visited → overdue; orphan 1200/month
  a4 active red    [in_difficulty, disabled]   visited 2 h ago → covered; disability 300/month
                                               (and an `other` grant that ended last year)
  a5 active blue   [migrant]       registered 5 d ago, never visited → not yet due
  a6 closed moved_away 20 d ago;  a7 closed deceased 100 d ago (before the period)
village B 620722100002 (VILLAGE_SAME_TOWNSHIP)
  b1 active blue [left_behind] visited 5 d ago → covered; a draft agreement only
  b2 active yellow [left_behind] visited 50 d ago → overdue; an expired agreement
  b3 closed turned_18 30 d ago
village C 620722101001 (VILLAGE_OTHER_TOWNSHIP)
  c1 active red [dropout_risk] registered 30 d ago, visited 3 d ago → overdue (daily)
other county 620723100001: d1 active blue [left_behind] visited 1 d ago, a report (never counted)

Visits in the period: a1 home 10 d; a2 phone 40 d; a4 home 2 h, school 30 d, and a home visit
of 20 d ago corrected into a phone call; b1 home 5 d; b2 other 50 d; c1 home 3 d (a1's home
visit of 70 d ago is before the period).

Reports: r1 A (30 d ago) accepted after 10 h, referred after 50 h; r2 A (20 d) accepted after
30 h (late), not referred; r3 township 620722100 (5 d) still submitted; r4 C (2 h) submitted;
r5 county 620722 (10 d) accepted after 2 h, closed after a day without referral; r6 A (90 d,
before the period); r7 other county."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.models.agreement import Agreement
from childprotect_api.models.area import Area
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.user import Role
from childprotect_api.models.visit import Visit
from childprotect_api.services.children.rules import today as china_today
from tests.conftest import (
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
    VILLAGE_OTHER_TOWNSHIP,
    VILLAGE_SAME_TOWNSHIP,
    World,
    make_actor,
)
from tests.factories import make_child

STATS = "/api/v1/stats"
VILLAGE_NO_DIRECTOR = "620722101002"
PERIOD_DAYS = 60


def period() -> dict[str, str]:
    today = china_today()
    return {"from": (today - timedelta(days=PERIOD_DAYS)).isoformat(), "to": today.isoformat()}


def ago(days: float = 0, hours: float = 0) -> datetime:
    return utcnow() - timedelta(days=days, hours=hours)


async def child(
    session: AsyncSession,
    settings: Settings,
    area: str,
    *,
    risk: str,
    categories: list[str],
    registered: float,
    visited: float | None = None,
    interval: float = 90,
    **fields: Any,
) -> Child:
    """A child registered `registered` days ago, last visited `visited` days ago; its next
    visit due `interval` days after that (or after registration)."""
    created = ago(registered)
    last = ago(visited) if visited is not None else None
    c = await make_child(
        session,
        settings,
        area,
        risk_level=risk,
        categories=categories,
        created_at=created,
        last_visit_at=last,
        with_id_number=False,
        commit=False,
        **fields,
    )
    c.next_visit_due = (last or created) + timedelta(days=interval)
    await session.flush()
    return c


async def visit(
    session: AsyncSession, c: Child, visitor: uuid.UUID, at: datetime, kind: str = "home"
) -> Visit:
    vid = uuid.uuid4()
    v = Visit(
        id=vid,
        original_id=vid,
        child_id=c.id,
        county_code=c.county_code,
        area_code=c.area_code,
        visitor_id=visitor,
        visited_at=at,
        kind=kind,
        checklist={},
        content_hash=hashlib.sha256(vid.bytes).hexdigest(),
    )
    session.add(v)
    await session.flush()
    return v


async def correct(session: AsyncSession, old: Visit, kind: str) -> Visit:
    """A correction: the old version stops being current, a new one takes its place."""
    new_id = uuid.uuid4()
    await session.execute(
        update(Visit).where(Visit.id == old.id).values(is_current=False)  # type: ignore[arg-type]
    )
    v = Visit(
        id=new_id,
        original_id=old.original_id,
        revision=2,
        child_id=old.child_id,
        county_code=old.county_code,
        area_code=old.area_code,
        visitor_id=old.visitor_id,
        visited_at=old.visited_at,
        kind=kind,
        checklist={},
        content_hash=hashlib.sha256(new_id.bytes).hexdigest(),
    )
    session.add(v)
    await session.flush()
    await session.execute(
        update(Visit).where(Visit.id == old.id).values(superseded_by=new_id)  # type: ignore[arg-type]
    )
    return v


async def agreement(
    session: AsyncSession, c: Child, status: str, starts: date, ends: date
) -> Agreement:
    a = Agreement(
        child_id=c.id,
        county_code=c.county_code,
        area_code=c.area_code,
        guardian_name="王建国",
        guardian_relation="father",
        caregiver_name="李秀英",
        caregiver_relation="paternal_grandparent",
        caregiver_id_number_enc=b"x",
        caregiver_id_number_hash=uuid.uuid4().hex,
        caregiver_id_number_masked="6207**********0000",
        caregiver_birth_date=date(1960, 1, 1),
        times_per_week_child=2,
        times_per_week_caregiver=1,
        starts_on=starts,
        ends_on=ends,
        status=status,
        create_fingerprint=uuid.uuid4().hex,
    )
    session.add(a)
    await session.flush()
    return a


async def report(
    session: AsyncSession,
    area: str,
    situation: str,
    filed: datetime,
    *,
    accepted_after_h: float | None = None,
    referred_after_h: float | None = None,
    closed_after_h: float | None = None,
) -> Report:
    accepted = filed + timedelta(hours=accepted_after_h) if accepted_after_h is not None else None
    referred = filed + timedelta(hours=referred_after_h) if referred_after_h is not None else None
    closed = filed + timedelta(hours=closed_after_h) if closed_after_h is not None else None
    status = (
        "closed" if closed else "referred" if referred else "accepted" if accepted else "submitted"
    )
    r = Report(
        county_code=area[:6],
        area_code=area,
        reported_area_code=area,
        situation=situation,
        description="测试",
        occurred_at=filed,
        discovered_at=filed,
        reporter_sector="school",
        status=status,
        accept_deadline=filed + timedelta(hours=24),
        first_referral_deadline=filed + timedelta(hours=72),
        accepted_at=accepted,
        first_referral_at=referred,
        closed_at=closed,
        outcome="other" if closed else None,
        request_hash=uuid.uuid4().hex,
        created_at=filed,
        updated_at=filed,
    )
    session.add(r)
    await session.flush()
    return r


async def build(session: AsyncSession, settings: Settings, world: World) -> None:
    """The county described in the module docstring."""
    session.add(
        Area(code=VILLAGE_NO_DIRECTOR, name="新村", parent_code="620722101", level="village")
    )
    await session.flush()
    # A director account that was deactivated: the village still has no director.
    gone = await make_actor(
        session, settings, "gone", Role.village_director, VILLAGE_NO_DIRECTOR, username="gone"
    )
    gone.user.is_active = False
    visitor = world["director"].id
    today = china_today()

    a1 = await child(session, settings, VILLAGE, risk="blue", categories=["left_behind"],
                     registered=200, visited=10)  # fmt: skip
    a2 = await child(session, settings, VILLAGE, risk="yellow",
                     categories=["left_behind", "low_income"], registered=200, visited=40,
                     interval=30)  # fmt: skip
    await child(session, settings, VILLAGE, risk="orange", categories=["orphan"],
                     registered=10, interval=7,
                     subsidies=[{"kind": "orphan_allowance", "monthly_amount": 1200.0,
                                 "from": "2024-01-01", "to": None}])  # fmt: skip
    a4 = await child(session, settings, VILLAGE, risk="red",
                     categories=["in_difficulty", "disabled"], registered=100,
                     visited=2 / 24, interval=1,
                     subsidies=[{"kind": "disability_allowance", "monthly_amount": 300.0,
                                 "from": "2024-01-01", "to": None},
                                {"kind": "other", "monthly_amount": 100.0,
                                 "from": "2023-01-01", "to": f"{today.year - 1}-06-30"}])  # fmt: skip
    await child(session, settings, VILLAGE, risk="blue", categories=["migrant"], registered=5)
    await child(session, settings, VILLAGE, risk="blue", categories=["left_behind"],
                registered=300, status="closed", closed_reason="moved_away",
                closed_at=ago(20))  # fmt: skip
    await child(session, settings, VILLAGE, risk="blue", categories=["left_behind"],
                registered=300, status="closed", closed_reason="deceased",
                closed_at=ago(100))  # fmt: skip
    b1 = await child(session, settings, VILLAGE_SAME_TOWNSHIP, risk="blue",
                     categories=["left_behind"], registered=150, visited=5)  # fmt: skip
    b2 = await child(session, settings, VILLAGE_SAME_TOWNSHIP, risk="yellow",
                     categories=["left_behind"], registered=150, visited=50, interval=30)  # fmt: skip
    await child(session, settings, VILLAGE_SAME_TOWNSHIP, risk="blue", categories=["orphan"],
                registered=400, status="closed", closed_reason="turned_18",
                closed_at=ago(30))  # fmt: skip
    c1 = await child(session, settings, VILLAGE_OTHER_TOWNSHIP, risk="red",
                     categories=["dropout_risk"], registered=30, visited=3, interval=1)  # fmt: skip
    d1 = await child(session, settings, VILLAGE_OTHER_COUNTY, risk="blue",
                     categories=["left_behind"], registered=100, visited=1)  # fmt: skip

    await visit(session, a1, visitor, ago(10))
    await visit(session, a1, visitor, ago(70))
    await visit(session, a2, visitor, ago(40), "phone")
    await visit(session, a4, visitor, ago(hours=2))
    await visit(session, a4, visitor, ago(30), "school")
    await correct(session, await visit(session, a4, visitor, ago(20)), "phone")
    await visit(session, b1, visitor, ago(5))
    await visit(session, b2, visitor, ago(50), "other")
    await visit(session, c1, visitor, ago(3))
    await visit(session, d1, visitor, ago(1))

    await agreement(session, a1, "active", today - timedelta(days=100), today + timedelta(days=100))
    await agreement(session, a2, "active", today - timedelta(days=300), today + timedelta(days=20))
    await agreement(session, b1, "draft", today, today + timedelta(days=365))
    await agreement(session, b2, "expired", today - timedelta(days=400), today - timedelta(days=35))

    await report(session, VILLAGE, "multiple_injuries_or_abuse", ago(30),
                 accepted_after_h=10, referred_after_h=50)  # fmt: skip
    await report(session, VILLAGE, "abandoned_or_no_care", ago(20), accepted_after_h=30)
    await report(session, TOWNSHIP, "other_serious_harm", ago(5))
    await report(session, VILLAGE_OTHER_TOWNSHIP, "missing_or_trafficked", ago(hours=2))
    await report(session, COUNTY, "organised_begging", ago(10),
                 accepted_after_h=2, closed_after_h=26)  # fmt: skip
    await report(session, VILLAGE, "genital_injury", ago(90), accepted_after_h=1)
    await report(session, VILLAGE_OTHER_COUNTY, "genital_injury", ago(3))
    await session.commit()


async def get(client: Any, actor: Any, what: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"{STATS}/{what}", params=params, headers=actor.headers)
    assert r.status_code == 200, r.text
    return dict(plain(r.json()))


def plain(body: Any) -> Any:
    """The figures of a statistics answer as exports show them: each figure object
    (`{"value", "suppressed"}`, both always there) as its value, or its marker ("<5" for
    `lt5`, "suppressed" for `derived`)."""
    if isinstance(body, dict):
        if set(body) == {"value", "suppressed"}:
            marker = {None: None, "lt5": "<5", "derived": "suppressed"}[body["suppressed"]]
            assert marker is None or body["value"] is None, body
            return marker or body["value"]
        assert "value" not in body or "month" in body, body  # a figure has both members
        return {k: plain(v) for k, v in body.items()}
    if isinstance(body, list):
        return [plain(v) for v in body]
    return body
