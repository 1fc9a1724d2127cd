"""Demo care work: pairings (from the children's old helper fields, and some caring mothers
and teachers), cases at several stages (assessed with a plan, a review past due, closed),
open and overdue risk duties, and the alerts they raised in the county officers' inbox."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import client_ids
from childprotect_api.models.base import utcnow
from childprotect_api.models.care import (
    AlertKind,
    Case,
    CaseEvent,
    CaseMeasure,
    ChildDuty,
    Pairing,
)
from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.services.duties import alerts, duties

_NS = uuid.UUID("6b1f1c52-6a52-4d1e-9a55-2f0f3c1e2020")


def _id(kind: str, i: int) -> uuid.UUID:
    return uuid.uuid5(_NS, f"{kind}-{i}")


@client_ids.trusted  # UUIDv5 ids made here (core/client_ids.py)
async def load(session: AsyncSession) -> None:
    if await session.get(Case, _id("case", 0)) is not None:
        return
    now = utcnow()
    today = now.date()
    officer = (
        await session.execute(select(User).where(col(User.username) == "demo_county"))
    ).scalar_one_or_none()
    children = list(
        (
            await session.execute(
                select(Child)
                .where(col(Child.status) == "active", col(Child.risk_level).in_(["orange", "red"]))
                .order_by(col(Child.id))
                .limit(12)
            )
        ).scalars()
    )
    # The single helper of the old records, and two more helpers of other kinds.
    for i, child in enumerate(children):
        if child.pairing_helper_name and i % 3 != 2:
            session.add(
                Pairing(
                    id=_id("pairing", i),
                    child_id=child.id,
                    county_code=child.county_code,
                    area_code=child.area_code,
                    helper_name=child.pairing_helper_name,
                    helper_phone=child.pairing_helper_phone,
                    helper_kind=("caring_mother", "teacher", "cadre")[i % 3],
                    starts_on=today - timedelta(days=60 + i),
                )
            )
    await session.flush()
    # Red children first (a case is what they need), then orange ones.
    reds = sorted(children, key=lambda c: c.risk_level != "red")
    stages = [("open", 30), ("open", -3), ("closed", None)]
    for i, (child, (status, review_in)) in enumerate(zip(reds, stages, strict=False)):
        if officer is None:
            break
        case = Case(
            id=_id("case", i),
            child_id=child.id,
            county_code=child.county_code,
            area_code=child.area_code,
            reason="risk",
            summary="父母外出务工，祖父母年迈，儿童情绪低落",
            owner_id=officer.id,
            assessment={
                "safety": {"level": "medium", "note": "独自上下学"},
                "psychology": {"level": "high", "note": "情绪低落"},
            },
            review_on=today + timedelta(days=review_in) if review_in is not None else None,
            status=status,
            outcome="resolved" if status == "closed" else None,
            closed_at=now if status == "closed" else None,
            created_by=officer.id,
        )
        session.add(case)
        await session.flush()
        session.add(
            CaseMeasure(
                id=_id("measure", i),
                case_id=case.id,
                county_code=case.county_code,
                area_code=case.area_code,
                kind="psychological_support",
                responsible="县未成年人心理辅导中心",
                due_on=today + timedelta(days=14),
                status="done" if i else "planned",
                done_on=today - timedelta(days=2) if i else None,
            )
        )
        session.add(
            CaseEvent(
                case_id=case.id,
                county_code=case.county_code,
                area_code=case.area_code,
                kind="opened",
                data={"reason": "risk"},
                by=officer.id,
            )
        )
    await session.flush()
    for child in children:
        await duties.recompute(session, child)
        if child.risk_level == "red":
            await alerts.raise_alert(
                session, AlertKind.child_red, child.area_code, child_id=child.id
            )
    # Some duties opened long ago: overdue, and alerted once.
    await session.execute(
        update(ChildDuty)
        .where(
            col(ChildDuty.child_id).in_([c.id for c in children[:4]]),
            col(ChildDuty.met_at).is_(None),
        )
        .values(opened_at=now - timedelta(days=10), due_at=now - timedelta(days=3))
    )
    await duties.alert_overdue(session, now)
    await session.flush()
