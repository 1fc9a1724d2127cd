"""Demo category decisions and payments: the benefit categories the demo children hold are
recorded as granted before the record (as migration 0022benef does for real data); a few
applications at each stage (awaiting the township, awaiting the county, approved, returned,
rejected), a removal, and three months of allowances with a one-off education grant. Loading
twice makes nothing twice."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import (
    BENEFIT_CATEGORIES,
    ApplicationEventKind,
    ApplicationStatus,
    BenefitPayment,
    CategoryApplication,
    CategoryApplicationEvent,
    CategoryRemoval,
)
from childprotect_api.models.child import Child
from childprotect_api.models.user import User
from childprotect_api.services.benefits import applications
from childprotect_api.services.demo.county import DEMO_COUNTY

_NS = uuid.UUID("0d6c3f7e-22a1-4b57-8f7c-6a9e3d2b2022")
# Monthly allowance per category held (yuan), and the payment kind it is paid as.
_ALLOWANCE = {
    "orphan": ("orphan_allowance", Decimal("1200.00")),
    "de_facto_unsupported": ("de_facto_allowance", Decimal("1050.00")),
    "low_income_disabled_or_ill": ("low_income", Decimal("520.00")),
    "low_income": ("low_income", Decimal("380.00")),
}
# (category, final status, township note, county note)
_STAGES = [
    ("de_facto_unsupported", "submitted", None, None),
    ("low_income", "agreed", "入户核实，情况属实", None),
    ("de_facto_unsupported", "approved", "入户核实，父亲服刑、母亲失联", "符合认定条件"),
    ("low_income", "returned", "缺少低保证明材料，请补充", None),
    ("orphan", "rejected", "同意上报", "母亲仍在世，不符合孤儿认定条件"),
]


def _id(kind: str, i: int | str) -> uuid.UUID:
    return uuid.uuid5(_NS, f"{kind}-{i}")


async def _user(session: AsyncSession, username: str) -> User | None:
    stmt = select(User).where(col(User.username) == username)
    return (await session.execute(stmt)).scalar_one_or_none()


async def load(session: AsyncSession) -> None:
    if await session.get(CategoryApplication, _id("application", 0)) is not None:
        return
    officer = await _user(session, "demo_county")
    supervisor = await _user(session, "demo_township")
    director = await _user(session, "demo_director")
    if officer is None or supervisor is None or director is None:
        return
    children = list(
        (
            await session.execute(
                select(Child)
                .where(col(Child.county_code) == DEMO_COUNTY, col(Child.status) == "active")
                .order_by(col(Child.id))
            )
        ).scalars()
    )
    await _pre_existing(session, children)
    without = [c for c in children if not set(c.categories) & BENEFIT_CATEGORIES]
    for i, (child, stage) in enumerate(zip(without, _STAGES, strict=False)):
        _application(session, i, child, stage, director.id, supervisor.id, officer.id)
    await session.flush()
    await _removal(session, children, officer.id)
    _payments(session, children, officer.id)
    await session.flush()


async def _pre_existing(session: AsyncSession, children: list[Child]) -> None:
    for child in children:
        for category in sorted(set(child.categories) & BENEFIT_CATEGORIES):
            app = CategoryApplication(
                id=_id(f"held-{child.id}", category),
                child_id=child.id,
                county_code=child.county_code,
                area_code=child.area_code,
                category=category,
                status=ApplicationStatus.approved.value,
                source="pre_existing",
                content_hash="",
            )
            session.add(app)
            await session.flush()
            session.add(applications.event(app, ApplicationEventKind.recorded, None, None))


def _application(
    session: AsyncSession,
    i: int,
    child: Child,
    stage: tuple[str, str, str | None, str | None],
    director: uuid.UUID,
    supervisor: uuid.UUID,
    officer: uuid.UUID,
) -> None:
    category, status, review_note, decision_note = stage
    now = utcnow()
    app = CategoryApplication(
        id=_id("application", i),
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        category=category,
        basis="父亲服刑，母亲失联，由年迈祖母照料；村委会出具情况说明",
        status=status,
        source="application",
        content_hash="",
        filed_by=director,
        version=1,
    )
    events = [(ApplicationEventKind.filed, director, app.basis)]
    if status != "submitted":
        app.reviewed_by, app.reviewed_at, app.review_note = supervisor, now, review_note
        kind = (
            ApplicationEventKind.returned if status == "returned" else ApplicationEventKind.agreed
        )
        events.append((kind, supervisor, review_note))
        app.version += 1
    if status in ("approved", "rejected"):
        app.decided_by, app.decided_at, app.decision_note = officer, now, decision_note
        events.append((ApplicationEventKind(status), officer, decision_note))
        app.version += 1
    if status == "approved":
        child.categories = [*child.categories, category]
        child.version += 1
    session.add(app)
    for kind, by, note in events:
        session.add(
            CategoryApplicationEvent(
                application_id=app.id,
                county_code=app.county_code,
                area_code=app.area_code,
                kind=kind.value,
                by=by,
                note=note,
            )
        )


async def _removal(session: AsyncSession, children: list[Child], officer: uuid.UUID) -> None:
    holder = next((c for c in children if "low_income" in c.categories), None)
    if holder is None:
        return
    session.add(
        CategoryRemoval(
            id=_id("removal", 0),
            child_id=holder.id,
            county_code=holder.county_code,
            area_code=holder.area_code,
            category="low_income",
            reason="parent_returned",
            removed_on=utcnow().date() - timedelta(days=5),
            note="父亲返乡就业，家庭收入超过低保标准",
            content_hash="",
            created_by=officer,
        )
    )
    holder.categories = [c for c in holder.categories if c != "low_income"]
    holder.version += 1


def _payments(session: AsyncSession, children: list[Child], officer: uuid.UUID) -> None:
    this_month = utcnow().date().replace(day=1)
    months = [this_month]
    for _ in range(2):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    for child in children:
        for category in sorted(set(child.categories) & BENEFIT_CATEGORIES):
            kind, amount = _ALLOWANCE[category]
            for month in months:
                _pay(session, child, kind, amount, officer, month, period=month)
    grantees = [c for c in children if set(c.categories) & BENEFIT_CATEGORIES][:2]
    for child in grantees:
        _pay(session, child, "education_grant", Decimal("3100.00"), officer, this_month)


def _pay(
    session: AsyncSession,
    child: Child,
    kind: str,
    amount: Decimal,
    officer: uuid.UUID,
    month: date,
    *,
    period: date | None = None,
) -> None:
    session.add(
        BenefitPayment(
            id=_id(f"payment-{child.id}-{kind}", month.isoformat()),
            child_id=child.id,
            county_code=child.county_code,
            area_code=child.area_code,
            kind=kind,
            period=period.strftime("%Y-%m") if period else None,
            paid_on=None if period else month,
            month=month,
            amount=amount,
            content_hash="",
            created_by=officer,
        )
    )
