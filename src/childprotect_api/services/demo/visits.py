"""Demo visits: a handful of children of the demo county registered months ago, with visits
that leave the demo worklist with overdue and due-soon children, open follow-up actions, one
visit returned to its director and one accepted.

The children are this module's own (fixed ids, registered in the past so that past visits are
allowed); the visits go through services/visits/service.py like the phone's. Idempotent: rows are
keyed by fixed UUIDs and skipped when present. Dates are relative to the first load."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import client_ids
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.models.visit import Visit
from childprotect_api.schemas.visit import CHECKLIST_ITEMS, ReviewDecision, VisitCreate, VisitReview
from childprotect_api.security.scope import Scope
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.schedule import refresh_due
from childprotect_api.services.visits import service as visits

_NS = uuid.UUID("5f0c7f3e-8a1d-4c39-9c55-2f1d8e6a0b4d")


def _id(key: str) -> uuid.UUID:
    return uuid.uuid5(_NS, key)


@dataclass
class _DemoVisit:
    days_ago: float
    visitor: str
    ratings: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    follow_ups: list[tuple[str, int]] = field(default_factory=list)  # (action, due in days)
    suggested: str | None = None
    review: tuple[str, str, str | None] | None = None  # (reviewer, decision, comment)


@dataclass
class _DemoChild:
    key: str
    name: str
    gender: str
    born: date
    village: str
    categories: list[str]
    level: str
    registered_days_ago: int
    visits: list[_DemoVisit]


_CHILDREN = [
    _DemoChild(
        "zhang-xiaoyu",
        "张小雨",
        "female",
        date(2014, 9, 3),
        "620722100001",
        ["left_behind"],
        "yellow",
        200,
        [
            _DemoVisit(
                45, "demo_director", {"emotional_state": "fair"}, "父母在新疆务工，奶奶照看。"
            )
        ],
    ),
    _DemoChild(
        "wang-haoran",
        "王浩然",
        "male",
        date(2012, 4, 17),
        "620722100001",
        ["left_behind", "low_income"],
        "red",
        120,
        [
            _DemoVisit(
                9,
                "demo_director",
                {"guardian_present": "poor"},
                "爷爷住院，孩子独自在家。",
                suggested="red",
            ),
            _DemoVisit(
                2,
                "demo_director",
                {"guardian_present": "poor", "safety_hazards": "poor"},
                "仍无成年人照看，已报镇督导员。",
                follow_ups=[("联系派出所核实父亲下落", 3), ("落实临时照护人", 1)],
                suggested="red",
            ),
        ],
    ),
    _DemoChild(
        "li-siqi",
        "李思琪",
        "female",
        date(2016, 1, 22),
        "620722100001",
        ["in_difficulty", "disabled"],
        "orange",
        150,
        [
            _DemoVisit(
                5,
                "demo_director",
                {"health": "poor"},
                "康复训练中断两周。",
                follow_ups=[("协调县康复中心恢复训练", 7)],
                suggested="orange",
            )
        ],
    ),
    _DemoChild(
        "zhao-zixuan",
        "赵子轩",
        "male",
        date(2013, 11, 8),
        "620722100001",
        ["left_behind"],
        "yellow",
        90,
        [
            _DemoVisit(
                26,
                "demo_director",
                {},
                "情况稳定。",
                review=("demo_township", "return", "请补充照片和监护人联系方式"),
            )
        ],
    ),
    _DemoChild(
        "chen-jiayi",
        "陈佳怡",
        "female",
        date(2015, 6, 30),
        "620722100001",
        ["left_behind"],
        "blue",
        300,
        [
            _DemoVisit(
                10,
                "demo_director",
                {},
                "学习成绩良好，与奶奶关系融洽。",
                review=("demo_township", "accept", None),
            )
        ],
    ),
    _DemoChild(
        "liu-yiming",
        "刘一鸣",
        "male",
        date(2011, 2, 14),
        "620722100002",
        ["de_facto_unsupported"],
        "orange",
        180,
        [_DemoVisit(12, "demo_director2", {"caregiver_capacity": "poor"}, "叔叔照看，精力有限。")],
    ),
    _DemoChild(
        "yang-mengyao",
        "杨梦瑶",
        "female",
        date(2017, 8, 5),
        "620722101001",
        ["left_behind"],
        "yellow",
        40,
        [],
    ),
    _DemoChild(
        "zhou-junjie",
        "周俊杰",
        "male",
        date(2014, 12, 12),
        "620722100003",
        ["migrant"],
        "blue",
        250,
        [_DemoVisit(85, "demo_township", {"schooling": "fair"}, "随父母返乡，已插班就读。")],
    ),
]


async def _users(session: AsyncSession) -> dict[str, User]:
    rows = await session.execute(select(User).where(col(User.username).like("demo_%")))
    return {u.username: u for u in rows.scalars()}


def _scope(user: User) -> Scope:
    return Scope("user", user.id, user.role, user.area_code or "")


async def _child(session: AsyncSession, spec: _DemoChild, seq: int) -> Child:
    child = await session.get(Child, _id(spec.key))
    if child is not None:
        return child
    now = utcnow()
    number = id_numbers.make(spec.village[:6], spec.born, 800 + seq, spec.gender)
    protected = id_numbers.protect(get_settings().data_key, number)
    child = Child(
        id=_id(spec.key),
        county_code=spec.village[:6],
        area_code=spec.village,
        name=spec.name,
        gender=spec.gender,
        birth_date=spec.born,
        id_number_enc=protected.encrypted,
        id_number_hash=protected.hash,
        id_number_masked=protected.masked,
        categories=spec.categories,
        risk_level=spec.level,
        created_at=now - timedelta(days=spec.registered_days_ago),
        updated_at=now,
    )
    session.add(child)
    await refresh_due(session, child)
    await session.flush()
    return child


def _content(child: Child, v: _DemoVisit) -> VisitCreate:
    today = utcnow().date()
    ratings = {item: v.ratings.get(item, "good") for item in CHECKLIST_ITEMS}
    body: dict[str, Any] = {
        "child_id": child.id,
        "visited_at": utcnow() - timedelta(days=v.days_ago),
        "kind": "home",
        "latitude": 38.434,
        "longitude": 100.812,
        "accuracy_m": 15.0,
        "checklist": {item: {"rating": r} for item, r in ratings.items()},
        "notes": v.notes,
        "suggested_risk_level": v.suggested,
        "follow_up_actions": [
            {"action": a, "due_on": today + timedelta(days=d)} for a, d in v.follow_ups
        ],
    }
    return VisitCreate.model_validate(body)


@client_ids.trusted  # UUIDv5 ids made here (core/client_ids.py)
async def load(session: AsyncSession) -> None:
    users = await _users(session)
    for seq, spec in enumerate(_CHILDREN):
        child = await _child(session, spec, seq)
        for n, v in enumerate(spec.visits):
            visit_id = _id(f"{spec.key}/visit/{n}")
            if await session.get(Visit, visit_id) is not None:
                continue
            visitor = users[v.visitor]
            visit, _ = await visits.create_visit(
                session, _scope(visitor), visit_id, _content(child, v)
            )
            if v.review:
                reviewer, decision, comment = v.review
                await visits.review_visit(
                    session,
                    _scope(users[reviewer]),
                    visit.id,
                    VisitReview(decision=ReviewDecision(decision), comment=comment),
                    f'"{visit.version}"',
                )
    await session.flush()
