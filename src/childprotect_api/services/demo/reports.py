"""Demo mandatory reports for the demo county: one or more in every state, some overdue,
with referrals, notes and outcomes, filed and handled through the same services the API
uses (backdated). Reports name demo children when the registry has some in the demo
village (they are raised to red as any report would); otherwise they describe the child.

Idempotent: every demo report has a fixed id and is skipped when it exists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import client_ids
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.report import Report
from childprotect_api.models.user import User
from childprotect_api.schemas.report import (
    ChildDescription,
    NoteCreate,
    ReferralCreate,
    ReferralStatusUpdate,
    ReportClose,
    ReportCreate,
)
from childprotect_api.security.scope import Scope
from childprotect_api.services.demo.county import DEMO_TOWNSHIP, DEMO_VILLAGE
from childprotect_api.services.reports import workflow as report_workflow
from childprotect_api.services.reports.intake import file_report

_NAMESPACE = uuid.UUID("5b7a3c1e-4f0d-4c53-9a55-2f1e6c0d7a01")


@dataclass(frozen=True)
class _Referral:
    target: str
    contact: str
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Demo:
    key: str
    filer: str
    hours_ago: float
    situation: str
    sector: str
    area: str
    description: str
    child: ChildDescription | None = None
    link_child: int | None = None  # index of a demo-village child to name, when there is one
    urgent: bool = False
    accept_after_hours: float | None = None
    referrals: tuple[_Referral, ...] = ()
    notes: tuple[str, ...] = ()
    close: tuple[str, str] | None = None  # outcome, message to the reporter


_POLICE = _Referral("police", "洪水派出所 值班室 0936-4421110")

DEMOS: list[_Demo] = [
    _Demo(
        "fresh-urgent",
        "demo_reporter",
        2,
        "multiple_injuries_or_abuse",
        "school",
        DEMO_TOWNSHIP,
        "学生手臂、背部多处淤青，自述被继父殴打，不敢回家。",
        ChildDescription(name="小军", approximate_age=10, gender="male", school="洪水镇中心小学"),
        urgent=True,
    ),
    _Demo(
        "late-accept",
        "demo_director",
        30,
        "abandoned_or_no_care",
        "village_committee",
        DEMO_VILLAGE,
        "父母外出务工失联两月，祖母住院，孩子独自在家无人照料。",
        ChildDescription(approximate_age=7, gender="female"),
        link_child=0,
    ),
    _Demo(
        "accepted",
        "demo_reporter",
        10,
        "organised_begging",
        "other",
        DEMO_TOWNSHIP,
        "集市上有成年人带两名儿童乞讨，儿童衣着单薄。",
        ChildDescription(approximate_age=8),
        accept_after_hours=3,
    ),
    _Demo(
        "late-referral",
        "demo_reporter",
        80,
        "other_serious_harm",
        "medical",
        DEMO_TOWNSHIP,
        "卫生院接诊儿童误服农药，家属称无人看管。",
        ChildDescription(name="小芳", approximate_age=5, gender="female"),
        accept_after_hours=10,
    ),
    _Demo(
        "referred",
        "demo_director",
        24 * 5,
        "multiple_injuries_or_abuse",
        "village_committee",
        DEMO_VILLAGE,
        "邻居反映孩子长期被饮酒的父亲打骂，夜间常听到哭声。",
        ChildDescription(approximate_age=12, gender="male"),
        link_child=1,
        accept_after_hours=4,
        referrals=(
            _Referral(_POLICE.target, _POLICE.contact, ("acknowledged", "in_progress")),
            _Referral("village_director", "洪水村儿童主任", ("acknowledged",)),
        ),
        notes=("已电话联系学校班主任，孩子近期出勤正常。",),
    ),
    _Demo(
        "closed-substantiated",
        "demo_reporter",
        24 * 20,
        "missing_or_trafficked",
        "school",
        DEMO_TOWNSHIP,
        "学生连续三天未到校，家长称孩子被亲戚带走，联系不上。",
        ChildDescription(name="小宇", approximate_age=13, gender="male"),
        accept_after_hours=1,
        referrals=(_Referral(_POLICE.target, _POLICE.contact, ("in_progress", "completed")),),
        close=("substantiated", "经公安机关查找，孩子已安全返家，感谢您及时报告。"),
    ),
    _Demo(
        "closed-unsubstantiated",
        "demo_reporter",
        24 * 40,
        "abandoned_or_no_care",
        "kindergarten",
        "620722100002",
        "村民反映孩子长期独自在家。",
        ChildDescription(approximate_age=9),
        accept_after_hours=6,
        close=("unsubstantiated", "经核实，孩子由外祖母照料，情况良好。"),
    ),
]


def _scope(user: User) -> Scope:
    return Scope("user", user.id, user.role, user.area_code or "")


@client_ids.trusted  # UUIDv5 ids made here (core/client_ids.py)
async def load(session: AsyncSession) -> None:
    users = {
        u.username: u
        for u in (
            await session.execute(
                select(User).where(
                    col(User.username).in_(["demo_county", "demo_director", "demo_reporter"])
                )
            )
        ).scalars()
    }
    if len(users) < 3:
        return
    children = list(
        (
            await session.execute(
                select(Child)
                .where(col(Child.area_code) == DEMO_VILLAGE, col(Child.status) == "active")
                .order_by(col(Child.created_at), col(Child.id))
                .limit(2)
            )
        ).scalars()
    )
    officer = _scope(users["demo_county"])
    for demo in DEMOS:
        report_id = uuid.uuid5(_NAMESPACE, demo.key)
        if await session.get(Report, report_id) is None:
            await _load_one(session, demo, report_id, _scope(users[demo.filer]), officer, children)
    await session.flush()


async def _load_one(
    session: AsyncSession,
    demo: _Demo,
    report_id: uuid.UUID,
    filer: Scope,
    officer: Scope,
    children: list[Child],
) -> None:
    received = utcnow() - timedelta(hours=demo.hours_ago)
    child = None
    if demo.link_child is not None and demo.link_child < len(children):
        child = children[demo.link_child]
    data = ReportCreate.model_validate(
        {
            "id": report_id,
            "situation": demo.situation,
            "description": demo.description,
            "occurred_at": received - timedelta(hours=6),
            "discovered_at": received - timedelta(hours=1),
            "area_code": demo.area,
            "reporter_sector": demo.sector,
            "urgent": demo.urgent,
            "child_id": child.id if child else None,
            "child_description": None if child else demo.child,
        }
    )
    await file_report(session, filer, get_settings(), data, now=received)
    if demo.accept_after_hours is None:
        return
    at: datetime = received + timedelta(hours=demo.accept_after_hours)
    await report_workflow.accept(session, officer, report_id, None, at=at)
    for referral in demo.referrals:
        at += timedelta(hours=2)
        created, _ = await report_workflow.refer(
            session,
            officer,
            report_id,
            ReferralCreate.model_validate({"target": referral.target, "contact": referral.contact}),
            None,
            at=at,
        )
        for status in referral.statuses:
            at += timedelta(hours=12)
            await report_workflow.update_referral_status(
                session,
                officer,
                report_id,
                created.id,
                ReferralStatusUpdate.model_validate({"status": status}),
                at=at,
            )
    for text in demo.notes:
        at += timedelta(hours=1)
        await report_workflow.add_note(session, officer, report_id, NoteCreate(text=text), at=at)
    if demo.close:
        outcome, message = demo.close
        await report_workflow.close(
            session,
            officer,
            report_id,
            ReportClose.model_validate({"outcome": outcome, "message": message}),
            None,
            at=at + timedelta(hours=6),
        )
