"""Work the CLI does outside a request: first users, area imports (as the system)."""

from __future__ import annotations

import uuid

from pydantic import ValidationError

from childprotect_api.core.db import Database
from childprotect_api.core.errors import AppError
from childprotect_api.models.user import Role
from childprotect_api.schemas.area import AreaImportReport
from childprotect_api.schemas.user import UserCreate
from childprotect_api.security.scope import Scope
from childprotect_api.services import areas as area_service
from childprotect_api.services import users as user_service

# The system itself, acting as a root admin (never issued as a token).
SYSTEM_SCOPE = Scope("user", uuid.UUID(int=0), Role.admin.value, "")


async def create_user_cli(
    url: str,
    *,
    username: str,
    password: str,
    role: str,
    area: str | None,
    display_name: str,
    phone: str | None,
) -> str | None:
    """Create a user; answer the problem as text, or None on success."""
    try:
        data = UserCreate(
            username=username,
            password=password,
            role=Role(role),
            area_code=area,
            display_name=display_name,
            phone=phone,
        )
    except ValidationError as e:
        return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            try:
                await user_service.create_user(session, SYSTEM_SCOPE, data)
            except AppError as e:
                msgs = [f"{fe.field}: {fe.message}" for fe in e.errors] or [str(e.detail)]
                return "; ".join(msgs)
            await session.commit()
    finally:
        await db.dispose()
    return None


async def import_areas_cli(url: str, content: str) -> AreaImportReport:
    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        async with db.sessionmaker() as session:
            report = await area_service.import_areas(session, SYSTEM_SCOPE, content, apply=True)
            await session.commit()
            return report
    finally:
        await db.dispose()
