"""Category applications (认定): the benefit categories (orphan, de_facto_unsupported,
low_income_disabled_or_ill, low_income) are granted only through one.

    submitted --township agree--> agreed --county approve--> approved (the category is added)
        |                                 `--county reject---> rejected
        `--township return (with a note)--> returned (final: file a new one)

Every step is an immutable event (who, when, note); the application row carries the latest
of each (what the list, the GET and the sync feed show). The categories children held before
decisions were recorded are approved applications with source `pre_existing` (migration
0022benef); a county officer's registration or import is `county_import` (granted at once).
Scope: the child's; an application outside the caller's scope is not found (404)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.concurrency import check_version
from childprotect_api.core.errors import Conflict, NotFound
from childprotect_api.models.base import utcnow
from childprotect_api.models.benefit import (
    BENEFIT_CATEGORIES,
    ApplicationEventKind,
    ApplicationSource,
    ApplicationStatus,
    BenefitCategory,
    CategoryApplication,
    CategoryApplicationEvent,
    CategoryCountyDecision,
    CategoryReviewDecision,
)
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role
from childprotect_api.schemas.benefit import (
    CategoryApplicationCreate,
    CategoryApplicationDecision,
    CategoryApplicationReview,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.benefits.common import (
    digest,
    load_child,
    require_active,
    set_categories,
)

RESOURCE = "category_application"
_OPEN = (ApplicationStatus.submitted.value, ApplicationStatus.agreed.value)
# Basis of an application proposed by a registration or an import row.
PROPOSED_BASIS = "登记或导入时申报 / declared at registration or import"


def event(
    app: CategoryApplication, kind: ApplicationEventKind, by: uuid.UUID | None, note: str | None
) -> CategoryApplicationEvent:
    return CategoryApplicationEvent(
        application_id=app.id,
        county_code=app.county_code,
        area_code=app.area_code,
        kind=kind.value,
        by=by,
        note=note,
    )


async def _open_for(session: AsyncSession, child_id: uuid.UUID, category: str) -> bool:
    stmt = select(col(CategoryApplication.id)).where(
        col(CategoryApplication.child_id) == child_id,
        col(CategoryApplication.category) == category,
        col(CategoryApplication.status).in_(_OPEN),
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def create_application(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, data: CategoryApplicationCreate
) -> tuple[CategoryApplication, bool]:
    """File an application under the client's id; answers (application, created). A retry
    with the same content answers the stored one; the same id with other content is 409."""
    scope.require(Action.category_apply)
    print_ = digest({"child_id": str(child_id), **data.model_dump(mode="json")})
    existing = await session.get(CategoryApplication, data.id)
    if existing is not None:
        if existing.content_hash != print_ or not scope.covers(existing.area_code):
            raise Conflict("this id is already in use", code="id_conflict")
        return existing, False
    child = await load_child(session, scope, child_id, lock=True)
    require_active(child)
    category = data.category.value
    if category in child.categories:
        raise Conflict("the child already holds this category", code="category_already_held")
    if await _open_for(session, child.id, category):
        raise Conflict(
            "an application for this category is already under way", code="application_open"
        )
    app = _new(child, data.id, category, data.basis, scope.user_id, print_)
    try:
        async with session.begin_nested():
            session.add(app)
    except IntegrityError:
        session.expunge(app)
        again = await session.get(CategoryApplication, data.id)
        if again is None or again.content_hash != print_:
            raise Conflict("this id is already in use", code="id_conflict") from None
        return again, False
    session.add(event(app, ApplicationEventKind.filed, scope.user_id, data.basis))
    await audit.record(session, scope, "create", RESOURCE, app.id, app.area_code)
    await session.refresh(app)
    return app, True


def _new(
    child: Child,
    app_id: uuid.UUID,
    category: str,
    basis: str | None,
    by: uuid.UUID | None,
    print_: str,
    *,
    status: ApplicationStatus = ApplicationStatus.submitted,
    source: ApplicationSource = ApplicationSource.application,
) -> CategoryApplication:
    return CategoryApplication(
        id=app_id,
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        category=category,
        basis=basis,
        status=status.value,
        source=source.value,
        content_hash=print_,
        filed_by=by,
    )


async def on_registration(
    session: AsyncSession, scope: Scope, child: Child, declared: list[str]
) -> list[str]:
    """A registration or import row that names benefit categories: a county officer's grants
    them at once (recorded as `county_import`); anyone else's (directors, supervisors,
    integration clients) proposes an application for each instead. Answers the categories
    the record keeps now. The child row must be flushed already."""
    benefit = [c for c in declared if c in BENEFIT_CATEGORIES]
    if not benefit:
        return declared
    granting = not scope.is_client and scope.role == Role.county_officer
    now = utcnow()
    for category in benefit:
        app_id = uuid.uuid4()
        if granting:
            app = _new(
                child,
                app_id,
                category,
                PROPOSED_BASIS,
                scope.user_id,
                "",
                status=ApplicationStatus.approved,
                source=ApplicationSource.county_import,
            )
            app.decided_by, app.decided_at = scope.user_id, now
            session.add(app)
            await session.flush()
            session.add(event(app, ApplicationEventKind.recorded, scope.user_id, None))
        else:
            app = _new(child, app_id, category, PROPOSED_BASIS, scope.user_id, "")
            session.add(app)
            await session.flush()
            session.add(event(app, ApplicationEventKind.filed, scope.user_id, PROPOSED_BASIS))
        await audit.record(session, scope, "create", RESOURCE, app.id, app.area_code)
    if granting:
        return declared
    return [c for c in declared if c not in BENEFIT_CATEGORIES]


async def _find(
    session: AsyncSession, scope: Scope, app_id: uuid.UUID, *, lock: bool = False
) -> CategoryApplication | None:
    stmt = select(CategoryApplication).where(
        col(CategoryApplication.id) == app_id,
        in_scope(scope, col(CategoryApplication.area_code), col(CategoryApplication.county_code)),
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def load_application(
    session: AsyncSession, scope: Scope, app_id: uuid.UUID, *, lock: bool = False
) -> CategoryApplication:
    app = await _find(session, scope, app_id, lock=lock)
    if app is None:
        raise NotFound("no such application")
    return app


def _step(app: CategoryApplication) -> None:
    app.version += 1
    app.updated_at = utcnow()


async def review_application(
    session: AsyncSession,
    scope: Scope,
    app_id: uuid.UUID,
    data: CategoryApplicationReview,
    expected_version: int | None,
) -> CategoryApplication:
    """The township's review of a submitted application."""
    scope.require(Action.category_review)
    app = await load_application(session, scope, app_id, lock=True)
    check_version(app.version, expected_version)
    if app.status != ApplicationStatus.submitted:
        raise Conflict(
            f"the application is {app.status}, not awaiting review", code="not_awaiting_review"
        )
    agreed = data.decision == CategoryReviewDecision.agree
    app.status = (ApplicationStatus.agreed if agreed else ApplicationStatus.returned).value
    app.reviewed_by, app.reviewed_at, app.review_note = scope.user_id, utcnow(), data.note
    _step(app)
    kind = ApplicationEventKind.agreed if agreed else ApplicationEventKind.returned
    session.add(event(app, kind, scope.user_id, data.note))
    await audit.record(session, scope, "update", RESOURCE, app.id, app.area_code)
    await session.refresh(app)
    return app


async def decide_application(
    session: AsyncSession,
    scope: Scope,
    app_id: uuid.UUID,
    data: CategoryApplicationDecision,
    expected_version: int | None,
) -> CategoryApplication:
    """The county's decision on an application the township agreed to. Approval adds the
    category to the child in the same transaction."""
    scope.require(Action.category_decide)
    app = await load_application(session, scope, app_id, lock=True)
    check_version(app.version, expected_version)
    if app.status != ApplicationStatus.agreed:
        raise Conflict(
            f"the application is {app.status}, not awaiting a decision",
            code="not_awaiting_decision",
        )
    approve = data.decision == CategoryCountyDecision.approve
    if approve:
        child = await load_child(session, scope, app.child_id, lock=True)
        require_active(child)
        if app.category not in child.categories:
            set_categories(child, [*child.categories, app.category], scope.user_id)
            await audit.record(session, scope, "child.update", "child", child.id, child.area_code)
    app.status = (ApplicationStatus.approved if approve else ApplicationStatus.rejected).value
    app.decided_by, app.decided_at, app.decision_note = scope.user_id, utcnow(), data.note
    _step(app)
    kind = ApplicationEventKind.approved if approve else ApplicationEventKind.rejected
    session.add(event(app, kind, scope.user_id, data.note))
    await audit.record(session, scope, "update", RESOURCE, app.id, app.area_code)
    await session.refresh(app)
    return app


async def get_application(
    session: AsyncSession, scope: Scope, app_id: uuid.UUID
) -> CategoryApplication:
    scope.require(Action.category_read)
    app = await load_application(session, scope, app_id)
    await audit.record(session, scope, "read", RESOURCE, app.id, app.area_code)
    return app


async def timeline(
    session: AsyncSession, scope: Scope, app_id: uuid.UUID
) -> list[CategoryApplicationEvent]:
    scope.require(Action.category_read)
    app = await load_application(session, scope, app_id)
    stmt = (
        select(CategoryApplicationEvent)
        .where(col(CategoryApplicationEvent.application_id) == app.id)
        .order_by(col(CategoryApplicationEvent.id))
    )
    return list((await session.execute(stmt)).scalars())


async def list_applications(
    session: AsyncSession,
    scope: Scope,
    *,
    status: ApplicationStatus | None,
    category: BenefitCategory | None,
    child_id: uuid.UUID | None,
    area: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[CategoryApplication]:
    """Applications in scope (and under `area`), latest first."""
    scope.require(Action.category_read)
    within = scope.narrowed(area) if area else scope
    A = CategoryApplication
    stmt = select(A).where(in_scope(within, col(A.area_code), col(A.county_code)))
    if status is not None:
        stmt = stmt.where(col(A.status) == status.value)
    if category is not None:
        stmt = stmt.where(col(A.category) == category.value)
    if child_id is not None:
        stmt = stmt.where(col(A.child_id) == child_id)
    if after is not None:
        stmt = stmt.where(tuple_(col(A.created_at), col(A.id)) < tuple_(*after))
    stmt = stmt.order_by(col(A.created_at).desc(), col(A.id).desc()).limit(limit)
    rows = list((await session.execute(stmt)).scalars())
    await audit.record(session, scope, "list", RESOURCE, None, within.area_code or None)
    return rows
