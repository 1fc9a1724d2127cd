from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    cursor_uuid,
    decode_cursor,
    encode_cursor,
)
from childprotect_api.models.user import Role
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.common import Page
from childprotect_api.schemas.user import PasswordChange, UserCreate, UserRead, UserUpdate
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services import users as user_service

router = APIRouter(prefix="/api/v1/users", tags=["users"], route_class=IdempotentRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}


@router.get("", operation_id="listUsers", response_model=Page[UserRead], responses=ERRORS)
async def list_users(
    scope: CurrentScope,
    session: SessionDep,
    role: Role | None = None,
    area: Annotated[str | None, Query(pattern=AREA_CODE_PATTERN)] = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[UserRead]:
    """Users the caller manages (county officers: their county, below their role)."""
    after = decode_cursor(cursor, 2)
    rows = await user_service.list_users(
        session,
        scope,
        role=role,
        area=area,
        active=active,
        limit=limit,
        after=(str(after[0]), str(cursor_uuid(after[1]))) if after else None,
    )
    next_cursor = (
        encode_cursor([rows[-1].username, str(rows[-1].id)]) if len(rows) == limit else None
    )
    return Page(items=[UserRead.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post(
    "",
    operation_id="createUser",
    response_model=UserRead,
    status_code=201,
    responses=ERRORS,
    dependencies=[IDEMPOTENT],
)
async def create_user(scope: CurrentScope, session: SessionDep, body: UserCreate) -> UserRead:
    """Create a user account in the caller's area (county officers for their county, admins
    anywhere)."""
    return UserRead.model_validate(await user_service.create_user(session, scope, body))


@router.get("/{user_id}", operation_id="getUser", response_model=UserRead, responses=ERRORS)
async def get_user(scope: CurrentScope, session: SessionDep, user_id: uuid.UUID) -> UserRead:
    """One user account in the caller's area."""
    return UserRead.model_validate(await user_service.get_user(session, scope, user_id))


@router.patch("/{user_id}", operation_id="updateUser", response_model=UserRead, responses=ERRORS)
async def update_user(
    scope: CurrentScope, session: SessionDep, user_id: uuid.UUID, body: UserUpdate
) -> UserRead:
    """Change a user's name, phone, role, area or qualifications (only the fields sent)."""
    return UserRead.model_validate(await user_service.update_user(session, scope, user_id, body))


@router.post(
    "/{user_id}/deactivate",
    operation_id="deactivateUser",
    response_model=UserRead,
    responses=ERRORS,
)
async def deactivate_user(scope: CurrentScope, session: SessionDep, user_id: uuid.UUID) -> UserRead:
    """Deactivate an account; its tokens stop working at once."""
    return UserRead.model_validate(await user_service.deactivate_user(session, scope, user_id))


@router.post(
    "/{user_id}/password",
    operation_id="changeUserPassword",
    response_model=UserRead,
    responses=ERRORS,
)
async def change_password(
    scope: CurrentScope, session: SessionDep, user_id: uuid.UUID, body: PasswordChange
) -> UserRead:
    """Change a password: one's own (with the current password) or a managed user's."""
    return UserRead.model_validate(
        await user_service.change_password(session, scope, user_id, body)
    )
