"""Benefit payments (发放): what was paid to whom, month by month or once. Written in batches
by county officers and `subsidies:write` clients, each item idempotent on its id and answered
on its own (created, unchanged on a replay, or an error with a code); a child outside the
caller's scope answers exactly like an unknown one. The child's current subsidies (the app's
screen, PUT /children/{id}/subsidies) are a separate, unchanged record."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import BenefitPayment, PaymentKind
from childprotect_api.models.child import Child
from childprotect_api.schemas.benefit import (
    BenefitPaymentBatch,
    BenefitPaymentBatchResult,
    BenefitPaymentItem,
    BenefitPaymentResult,
    PaymentItemError,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.benefits.common import digest

RESOURCE = "benefit_payment"


def month_of(item: BenefitPaymentItem) -> date:
    if item.period is not None:
        year, month = item.period.split("-")
        return date(int(year), int(month), 1)
    assert item.paid_on is not None
    return item.paid_on.replace(day=1)


def _error(item_id: uuid.UUID, code: str, message: str) -> BenefitPaymentResult:
    return BenefitPaymentResult(
        id=item_id, status="error", error=PaymentItemError(code=code, message=message)
    )


def _replay(
    item_id: uuid.UUID, before: BenefitPayment | None, print_: str, scope: Scope
) -> BenefitPaymentResult:
    """An item whose id is stored: the same payment again is `unchanged`, anything else (or
    a payment outside the caller's scope) an `id_conflict`."""
    if before is not None and before.content_hash == print_ and scope.covers(before.area_code):
        return BenefitPaymentResult(id=item_id, status="unchanged")
    return _error(item_id, "id_conflict", "this id is already in use")


async def _children(
    session: AsyncSession, scope: Scope, ids: list[uuid.UUID]
) -> dict[uuid.UUID, Child]:
    stmt = select(Child).where(
        col(Child.id).in_(ids),
        in_scope(scope, col(Child.area_code), col(Child.county_code)),
        col(Child.anonymised_at).is_(None),
    )
    return {c.id: c for c in (await session.execute(stmt)).scalars()}


async def record_batch(
    session: AsyncSession, scope: Scope, batch: BenefitPaymentBatch
) -> BenefitPaymentBatchResult:
    scope.require(Action.payments_write)
    items = batch.items
    children = await _children(session, scope, list({i.child_id for i in items}))
    stored = {
        p.id: p
        for p in (
            await session.execute(
                select(BenefitPayment).where(col(BenefitPayment.id).in_([i.id for i in items]))
            )
        ).scalars()
    }
    latest = utcnow().date().replace(day=1)
    results: list[BenefitPaymentResult] = []
    seen: set[uuid.UUID] = set()
    pending: dict[uuid.UUID, dict[str, Any]] = {}
    for item in items:
        print_ = digest(item.model_dump(mode="json"))
        if item.id in seen:
            results.append(_error(item.id, "duplicate_item", "the id appears twice in the batch"))
            continue
        seen.add(item.id)
        if item.id in stored:
            results.append(_replay(item.id, stored[item.id], print_, scope))
            continue
        child = children.get(item.child_id)
        if child is None:
            results.append(_error(item.id, "unknown_child", "no such child"))
            continue
        month = month_of(item)
        # A month may be paid in advance, not a year ahead (a typo in the period).
        if (month - latest).days > 62:
            results.append(_error(item.id, "period_in_future", "the period is too far ahead"))
            continue
        values = {
            "id": item.id,
            "child_id": child.id,
            "county_code": child.county_code,
            "area_code": child.area_code,
            "kind": item.kind.value,
            "period": item.period,
            "paid_on": item.paid_on,
            "month": month,
            "amount": Decimal(item.amount).quantize(Decimal("0.01")),
            "note": item.note,
            "content_hash": print_,
            "created_by": scope.user_id,
            "created_by_client": scope.actor_id if scope.is_client else None,
        }
        pending[item.id] = values
        results.append(BenefitPaymentResult(id=item.id, status="created"))
    lost = await _insert(session, list(pending.values()))
    if lost:
        found = await session.execute(
            select(BenefitPayment)
            .where(col(BenefitPayment.id).in_(lost))
            .execution_options(populate_existing=True)
        )
        now_stored = {p.id: p for p in found.scalars()}
        results = [
            _replay(r.id, now_stored.get(r.id), pending[r.id]["content_hash"], scope)
            if r.id in lost
            else r
            for r in results
        ]
    areas = {i.id: children[i.child_id].area_code for i in items if i.child_id in children}
    created = [(r.id, areas[r.id]) for r in results if r.status == "created"]
    await audit.record_many(session, scope, "create", RESOURCE, created)
    counts = {s: sum(1 for r in results if r.status == s) for s in ("created", "unchanged")}
    return BenefitPaymentBatchResult(
        results=results,
        created=counts["created"],
        unchanged=counts["unchanged"],
        errors=len(results) - counts["created"] - counts["unchanged"],
    )


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """One statement for the batch's new payments; answers the ids that were not inserted
    because the id exists by now (a concurrent replay of the same batch)."""
    if not rows:
        return set()
    stmt = (
        pg_insert(BenefitPayment)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(BenefitPayment.id))
    )
    inserted = set((await session.execute(stmt)).scalars())
    return {r["id"] for r in rows} - inserted


async def list_payments(
    session: AsyncSession,
    scope: Scope,
    *,
    child_id: uuid.UUID | None,
    kind: PaymentKind | None,
    from_period: date | None,
    to_period: date | None,
    area: str | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None,
) -> list[BenefitPayment]:
    """Payments in scope, latest month first."""
    scope.require(Action.payments_read)
    within = scope.narrowed(area) if area else scope
    P = BenefitPayment
    stmt = select(P).where(in_scope(within, col(P.area_code), col(P.county_code)))
    if child_id is not None:
        stmt = stmt.where(col(P.child_id) == child_id)
    if kind is not None:
        stmt = stmt.where(col(P.kind) == kind.value)
    if from_period is not None:
        stmt = stmt.where(col(P.month) >= from_period)
    if to_period is not None:
        stmt = stmt.where(col(P.month) <= to_period)
    if after is not None:
        stmt = stmt.where(tuple_(col(P.month), col(P.id)) < tuple_(*after))
    stmt = stmt.order_by(col(P.month).desc(), col(P.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "list", RESOURCE, None, within.area_code or None)
    return rows
