"""The rules a child record must satisfy before it is stored: the ID number and what it says
about birth date and gender, the age limit, the village (in the caller's scope), the assigned
director, the categories, and one record per ID number (一人一档).

Each rule raises the problem the client should see, naming the field."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from childprotect_api.config import get_settings
from childprotect_api.core import audit
from childprotect_api.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unprocessable,
)
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.base import CLOCK_SKEW
from childprotect_api.models.child import RISK_ORDER, Category, Child, RiskLevel
from childprotect_api.models.user import Role, User
from childprotect_api.schemas.child import ChildCreate
from childprotect_api.security import rate_limit
from childprotect_api.security.crypto import lookup_hash
from childprotect_api.security.scope import Scope, apply_scope, in_scope
from childprotect_api.services.children import id_numbers

ADULT_AGE = 18
LEFT_BEHIND_MAX_AGE = 16  # 农村留守儿童: under 16
IDLE_YOUTH_MIN_AGE = 16  # 闲散未成年人: 16-17, neither in school nor working
# Birthdays and "today" are those of the people the records are about (China has one zone).
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
# The highest level a village director may set (DESIGN.md: "orange at most").
DIRECTOR_MAX_RISK = RiskLevel.orange
DIRECTOR_ROLES = (Role.village_director.value, Role.township_supervisor.value)


def today() -> date:
    return datetime.now(UTC).astimezone(CHINA_TZ).date()


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February for a 29 February that is missing),
    so that `born <= years_before(today, n)` holds exactly when `age_on(born, today) >= n`."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def require_risk_allowed(scope: Scope, level: str, current: str | None = None) -> None:
    """A village director may set (or change a child from) levels up to orange only."""
    if scope.role != Role.village_director:
        return
    highest = max(RISK_ORDER[level], RISK_ORDER[current] if current else 0)
    if highest > RISK_ORDER[DIRECTOR_MAX_RISK]:
        raise Forbidden(
            "a village director may set risk levels up to orange; ask the township supervisor",
            code="risk_level_not_allowed",
        )


def parse_id_number(raw: str, field: str = "id_number") -> id_numbers.IdNumberInfo:
    try:
        return id_numbers.parse(raw)
    except ValueError as e:
        raise Unprocessable.field(field, f"the ID number {e}", code="invalid_id_number") from e


def check_identity(info: id_numbers.IdNumberInfo | None, birth_date: date, gender: str) -> None:
    """Birth date and gender must be the ones the ID number encodes."""
    if info is None:
        return
    if info.birth_date != birth_date:
        raise Unprocessable.field(
            "birth_date",
            "does not agree with the birth date in the ID number",
            code="id_number_mismatch",
        )
    if info.gender != gender:
        raise Unprocessable.field(
            "gender", "does not agree with the gender in the ID number", code="id_number_mismatch"
        )


def check_age(birth_date: date, on: date) -> None:
    if birth_date > on:
        raise Unprocessable.field("birth_date", "is in the future", code="birth_date_in_future")
    if id_numbers.age_on(birth_date, on) >= ADULT_AGE:
        raise Unprocessable.field(
            "birth_date", "the registry holds minors only (under 18)", code="not_a_minor"
        )


def check_categories(categories: list[str], birth_date: date, on: date) -> None:
    if len(set(categories)) != len(categories):
        raise Unprocessable.field("categories", "lists a category twice", code="duplicate_category")
    if (
        Category.left_behind in categories
        and id_numbers.age_on(birth_date, on) >= LEFT_BEHIND_MAX_AGE
    ):
        raise Unprocessable.field(
            "categories",
            "left_behind applies to children under 16",
            code="category_not_applicable",
        )
    if Category.idle_youth in categories and id_numbers.age_on(birth_date, on) < IDLE_YOUTH_MIN_AGE:
        raise Unprocessable.field(
            "categories",
            "idle_youth (闲散未成年人) applies to minors of 16 or 17",
            code="category_not_applicable",
        )


async def village_in_scope(
    session: AsyncSession, scope: Scope, code: str, field: str = "area_code"
) -> Area:
    """An existing village inside the caller's scope: 404 outside the scope (as if it did not
    exist), 422 for an unknown code or one that is not a village."""
    if not scope.covers(code):
        raise NotFound("no such area")
    stmt = apply_scope(select(Area).where(col(Area.code) == code), scope, col(Area.code))
    area = (await session.execute(stmt)).scalar_one_or_none()
    if area is None:
        raise Unprocessable.field(field, "no such area", code="unknown_area")
    if area.level != AreaLevel.village:
        raise Unprocessable.field(
            field, "must be a village (12-digit area code)", code="not_a_village"
        )
    return area


async def check_assigned_director(
    session: AsyncSession, user_id: uuid.UUID, village: str, field: str = "assigned_director_id"
) -> None:
    user = await session.get(User, user_id)
    if (
        user is None
        or not user.is_active
        or user.role not in DIRECTOR_ROLES
        or not user.area_code
        or not village.startswith(user.area_code)
    ):
        raise Unprocessable.field(
            field,
            "must be an active village director or township supervisor of the child's village",
            code="invalid_assigned_director",
        )


class DuplicateElsewhere(Conflict):
    """The ID number is registered outside the caller's scope (the answer names no record;
    the attributes are for the server's own use)."""

    def __init__(self, child_id: uuid.UUID, area_code: str) -> None:
        super().__init__(
            "a child with this ID number is registered in another area", code="duplicate_child"
        )
        self.child_id = child_id
        self.area_code = area_code


ELSEWHERE_ACTION = "child.exists_elsewhere"


def elsewhere_limit() -> int:
    return get_settings().exists_elsewhere_per_day


async def count_elsewhere(
    session: AsyncSession, scope: Scope, child_id: uuid.UUID, area_code: str
) -> None:
    """Each "registered in another area" answer tells the caller that an ID number exists:
    audited (against the record, so its area's officers see who asked) and limited per day
    and caller, both in transactions of their own (the request then fails and rolls back)."""
    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    await audit.record_apart(engine, scope, ELSEWHERE_ACTION, "child", child_id, area_code)
    now = rate_limit.clock()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    key = f"exists_elsewhere:{scope.actor_type}:{scope.actor_id}"
    if await rate_limit.count_apart(engine, key, day) > elsewhere_limit():
        retry = max(1, math.ceil((day + timedelta(days=1) - now).total_seconds()))
        raise TooManyRequests(
            "too many ID numbers found registered in other areas today",
            code="rate_limited",
            headers={"Retry-After": str(retry)},
        )


async def raise_if_duplicate(
    session: AsyncSession,
    scope: Scope,
    id_hash: str,
    exclude: uuid.UUID | None = None,
    *,
    counted: bool = True,
) -> None:
    """One child, one record: name the existing record when the caller may see it, and only
    say that it exists elsewhere when not (so that a transfer can be requested): that answer
    is audited and rate-limited (`count_elsewhere`) unless `counted` is False (a dry-run
    import, which does not tell it)."""
    visible = in_scope(scope, col(Child.area_code), col(Child.county_code)).label("visible")
    stmt = select(col(Child.id), col(Child.area_code), visible).where(
        col(Child.id_number_hash) == id_hash
    )
    if exclude is not None:
        stmt = stmt.where(col(Child.id) != exclude)
    row = (await session.execute(stmt)).first()
    if row is None:
        return
    if row.visible:
        raise Conflict(
            "a child with this ID number is already registered",
            code="duplicate_child",
            extra={"existing_child_id": str(row.id)},
        )
    if counted:
        await count_elsewhere(session, scope, row.id, row.area_code)
    raise DuplicateElsewhere(row.id, row.area_code)


def registration_time(registered_at: datetime, now: datetime, offline_days: int) -> datetime:
    """The record's registration time (its `created_at`) when the phone says when it registered
    the child (offline work): within the offline window, and not in the future beyond the
    clock skew visits are allowed (a time inside the skew is taken as now)."""
    if registered_at > now + CLOCK_SKEW:
        raise Unprocessable.field(
            "registered_at", "is in the future", code="registered_at_in_future"
        )
    if registered_at < now - timedelta(days=offline_days):
        raise Unprocessable.field(
            "registered_at",
            f"is more than {offline_days} days ago (the offline window)",
            code="registered_at_too_old",
        )
    return min(registered_at.astimezone(UTC), now)  # in UTC, as the record is read back


def fingerprint(data_key: str, data: ChildCreate) -> str:
    """A keyed hash of a create request's content (without its id): equal for a retry of the
    same request, and useless to anyone without the data key."""
    content = data.model_dump(mode="json", by_alias=True, exclude={"id", "registered_at"})
    # Absent: left out, so that the prints of creates made before the field existed hold.
    # Present: in UTC, so that a retry written with another offset is the same request.
    if data.registered_at is not None:
        content["registered_at"] = data.registered_at.astimezone(UTC).isoformat()
    if content.get("id_number"):
        content["id_number"] = str(content["id_number"]).strip().upper()
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return lookup_hash(data_key, canonical, purpose="child_create")
