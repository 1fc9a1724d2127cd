"""Staff accounts: who may manage whom, role-to-area fit, passwords."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core.changes import unchanged
from childprotect_api.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from childprotect_api.models.area import Area, AreaLevel
from childprotect_api.models.auth import TokenFamily
from childprotect_api.models.base import utcnow
from childprotect_api.models.user import Role, User
from childprotect_api.schemas.user import PasswordChange, UserCreate, UserUpdate
from childprotect_api.security.passwords import hash_password, password_problem, verify_password
from childprotect_api.security.scope import Action, Scope, apply_scope

# Which area levels each role's area may be.
ROLE_LEVELS: dict[Role, set[AreaLevel | None]] = {
    Role.village_director: {AreaLevel.village},
    Role.township_supervisor: {AreaLevel.township},
    Role.county_officer: {AreaLevel.county},
    Role.reporter: set(AreaLevel),
    Role.auditor: set(AreaLevel),
    Role.admin: {AreaLevel.province, AreaLevel.city, None},
}

# Roles a county officer may manage: those below its own (never admins or other officers).
COUNTY_MANAGEABLE = {
    Role.village_director,
    Role.township_supervisor,
    Role.reporter,
    Role.auditor,
}


def _may_manage_role(scope: Scope, role: str) -> bool:
    if scope.role == Role.admin:
        return True
    return scope.role == Role.county_officer and role in COUNTY_MANAGEABLE


async def _check_role_area(
    session: AsyncSession, scope: Scope, role: Role, area_code: str | None
) -> None:
    if not _may_manage_role(scope, role):
        raise Forbidden(
            f"you may not manage users with the role {role.value}", code="role_forbidden"
        )
    if area_code is None:
        if None not in ROLE_LEVELS[role]:
            raise Unprocessable.field("area_code", "is required for this role")
        if scope.area_code:
            raise NotFound("no such area")
        return
    if not scope.covers(area_code):
        raise NotFound("no such area")
    area = await session.get(Area, area_code)
    if area is None:
        raise Unprocessable.field("area_code", "no such area", code="unknown_area")
    if AreaLevel(area.level) not in ROLE_LEVELS[role]:
        allowed = sorted(str(x.value) for x in ROLE_LEVELS[role] if x is not None)
        raise Unprocessable.field(
            "area_code",
            f"a {role.value} must belong to an area of level: {', '.join(allowed)}",
            code="role_area_mismatch",
        )


async def _check_unique(
    session: AsyncSession, username: str | None, phone: str | None, exclude: uuid.UUID | None
) -> None:
    conds: list[ColumnElement[bool]] = []
    if username:
        conds.append(col(User.username) == username)
    if phone:
        conds.append(col(User.phone) == phone)
    if not conds:
        return
    stmt = select(col(User.username), col(User.phone)).where(or_(*conds))
    if exclude:
        stmt = stmt.where(col(User.id) != exclude)
    row = (await session.execute(stmt)).first()
    if row is not None:
        field = "username" if username and row.username == username else "phone"
        raise Conflict(f"a user with this {field} exists", code=f"duplicate_{field}")


async def create_user(session: AsyncSession, scope: Scope, data: UserCreate) -> User:
    scope.require(Action.users_manage)
    await _check_role_area(session, scope, data.role, data.area_code)
    weak = password_problem(data.password, data.username)
    if weak:
        raise Unprocessable.field("password", f"password {weak}", code="weak_password")
    await _check_unique(session, data.username, data.phone, None)
    user = User(
        username=data.username,
        display_name=data.display_name,
        phone=data.phone,
        role=data.role.value,
        area_code=data.area_code,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    await session.flush()
    return user


def _managed_users(scope: Scope):
    stmt = apply_scope(select(User), scope, User.area_code)
    if scope.role == Role.county_officer:
        stmt = stmt.where(col(User.role).in_([r.value for r in COUNTY_MANAGEABLE]))
    return stmt


async def get_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> User:
    scope.require(Action.users_manage)
    user = (await session.execute(_managed_users(scope).where(col(User.id) == user_id))).scalar()
    if user is None:
        raise NotFound("no such user")
    return user


async def list_users(
    session: AsyncSession,
    scope: Scope,
    *,
    role: Role | None,
    area: str | None,
    active: bool | None,
    limit: int,
    after: tuple[str, str] | None,
) -> list[User]:
    scope.require(Action.users_manage)
    stmt = _managed_users(scope)
    if role:
        stmt = stmt.where(col(User.role) == role.value)
    if area:
        stmt = stmt.where(col(User.area_code).startswith(area, autoescape=True))
    if active is not None:
        stmt = stmt.where(col(User.is_active) == active)
    if after:
        stmt = stmt.where(
            tuple_(col(User.username), col(User.id)) > tuple_(after[0], uuid.UUID(after[1]))
        )
    stmt = stmt.order_by(User.username, User.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def update_user(
    session: AsyncSession, scope: Scope, user_id: uuid.UUID, data: UserUpdate
) -> User:
    user = await get_user(session, scope, user_id)
    fields = data.model_fields_set
    if "role" in fields or "area_code" in fields:
        role = data.role or Role(user.role)
        area = data.area_code if "area_code" in fields else user.area_code
        await _check_role_area(session, scope, role, area)
        user.role = role.value
        user.area_code = area
    if "phone" in fields:
        await _check_unique(session, None, data.phone, user.id)
        user.phone = data.phone
    if "display_name" in fields and data.display_name:
        user.display_name = data.display_name
    if "qualifications" in fields:
        # Set by county officers (DESIGN.md "Care work"), for the users they manage.
        scope.require(Action.qualifications_set)
        if data.qualifications is None:
            raise Unprocessable.field("qualifications", "may not be null; send [] to clear")
        user.qualifications = sorted({q.value for q in data.qualifications})
    if unchanged(session, user):
        return user  # equal values keep the version and the ETag
    user.version += 1
    user.updated_at = utcnow()
    await session.flush()
    return user


async def revoke_sessions(
    session: AsyncSession, user_id: uuid.UUID, reason: str, keep: uuid.UUID | None = None
) -> None:
    stmt = update(TokenFamily).where(
        col(TokenFamily.user_id) == user_id,
        col(TokenFamily.revoked_at).is_(None),
    )
    if keep is not None:
        stmt = stmt.where(col(TokenFamily.id) != keep)
    await session.execute(stmt.values(revoked_at=utcnow(), revoked_reason=reason))


async def deactivate_user(session: AsyncSession, scope: Scope, user_id: uuid.UUID) -> User:
    user = await get_user(session, scope, user_id)
    if user.id == scope.user_id:
        raise Conflict("you cannot deactivate yourself", code="cannot_deactivate_self")
    user.is_active = False
    user.version += 1
    user.updated_at = utcnow()
    await revoke_sessions(session, user.id, "deactivated")
    await session.flush()
    return user


async def change_password(
    session: AsyncSession, scope: Scope, user_id: uuid.UUID, data: PasswordChange
) -> User:
    if scope.user_id == user_id:
        user = await session.get(User, user_id)
        assert user is not None
        ok, _ = verify_password(data.current_password or "", user.password_hash)
        if not ok:
            raise Unprocessable.field("current_password", "is wrong", code="wrong_current_password")
    else:
        user = await get_user(session, scope, user_id)
    weak = password_problem(data.new_password, user.username)
    if weak:
        raise Unprocessable.field("new_password", f"password {weak}", code="weak_password")
    user.password_hash = hash_password(data.new_password)
    user.version += 1
    user.updated_at = utcnow()
    # A new password ends every other session of the account.
    keep = scope.session_id if scope.user_id == user.id else None
    await revoke_sessions(session, user.id, "password_changed", keep=keep)
    await session.flush()
    return user
