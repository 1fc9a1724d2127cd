"""Integration clients: admin management, secrets (Argon2, shown once), and the OAuth2
client_credentials grant with its scopes and area."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core import audit
from childprotect_api.core.errors import AppError, NotFound, Unprocessable
from childprotect_api.models.area import Area
from childprotect_api.models.client import IntegrationClient
from childprotect_api.schemas.auth import TokenResponse
from childprotect_api.schemas.client import ClientCreate
from childprotect_api.security.passwords import hash_password, verify_password
from childprotect_api.security.rate_limit import LoginSourceLimit
from childprotect_api.security.scope import INTEGRATION_ROLE, Action, Scope, apply_scope
from childprotect_api.security.tokens import create_access_token

SECRET_PREFIX = "cps_"  # noqa: S105  (a prefix secret scanners recognise, not a secret)


class InvalidClient(AppError):
    """OAuth2 `invalid_client` (RFC 6749 5.2): unknown client, wrong secret, or disabled."""

    status_code = 401
    code = "invalid_client"
    title = "Invalid client"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Basic realm="childprotect-api"'})


class InvalidScope(AppError):
    status_code = 400
    code = "invalid_scope"
    title = "Invalid scope"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def create_client(
    session: AsyncSession, scope: Scope, data: ClientCreate
) -> tuple[IntegrationClient, str]:
    """Answer the client and its secret (the only time the secret exists in clear)."""
    scope.require(Action.clients_manage)
    if not scope.covers(data.area_code):
        raise NotFound("no such area")
    if await session.get(Area, data.area_code) is None:
        raise Unprocessable.field("area_code", "no such area", code="unknown_area")
    secret = new_secret()
    client = IntegrationClient(
        name=data.name,
        area_code=data.area_code,
        scopes=sorted(s.value for s in data.scopes),
        secret_hash=hash_password(secret),
    )
    session.add(client)
    await session.flush()
    await audit.record(session, scope, "create", "integration_client", client.id, client.area_code)
    return client, secret


async def get_client(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID, *, lock: bool = False
) -> IntegrationClient:
    scope.require(Action.clients_manage)
    stmt = apply_scope(
        select(IntegrationClient).where(col(IntegrationClient.id) == client_id),
        scope,
        IntegrationClient.area_code,
    )
    if lock:
        stmt = stmt.with_for_update()
    client = (await session.execute(stmt)).scalar_one_or_none()
    if client is None:
        raise NotFound("no such client")
    return client


async def list_clients(
    session: AsyncSession,
    scope: Scope,
    *,
    active: bool | None,
    limit: int,
    after: tuple[str, uuid.UUID] | None,
) -> list[IntegrationClient]:
    scope.require(Action.clients_manage)
    stmt = apply_scope(select(IntegrationClient), scope, IntegrationClient.area_code)
    if active is not None:
        stmt = stmt.where(col(IntegrationClient.is_active) == active)
    if after:
        stmt = stmt.where(
            tuple_(col(IntegrationClient.name), col(IntegrationClient.id))
            > tuple_(after[0], after[1])
        )
    stmt = stmt.order_by(col(IntegrationClient.name), col(IntegrationClient.id)).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def rotate_secret(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID
) -> tuple[IntegrationClient, str]:
    """A new secret; the old one stops working at once (tokens already issued with it live
    out their short lifetime; disable the client to stop those too)."""
    client = await get_client(session, scope, client_id, lock=True)
    secret = new_secret()
    client.secret_hash = hash_password(secret)
    client.version += 1
    await session.flush()
    await audit.record(
        session, scope, "rotate_secret", "integration_client", client.id, client.area_code
    )
    return client, secret


async def disable_client(
    session: AsyncSession, scope: Scope, client_id: uuid.UUID
) -> IntegrationClient:
    """Disabled clients get no tokens, their tokens stop at once, and webhooks stop."""
    client = await get_client(session, scope, client_id, lock=True)
    if client.is_active:
        client.is_active = False
        client.version += 1
        await session.flush()
        await audit.record(
            session, scope, "disable", "integration_client", client.id, client.area_code
        )
    return client


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def granted_scopes(client_scopes: list[str], requested: str | None) -> list[str]:
    """The scopes a token carries: all of the client's, or the subset it asks for."""
    if requested is None or not requested.strip():
        return sorted(client_scopes)
    wanted = set(requested.split())
    extra = wanted - set(client_scopes)
    if extra:
        raise InvalidScope(
            f"this client may not have the scope(s): {', '.join(sorted(extra))}",
            code="invalid_scope",
        )
    return sorted(wanted)


async def client_grant(
    session: AsyncSession,
    settings: Settings,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
    source: LoginSourceLimit,
) -> tuple[TokenResponse | None, AppError | None]:
    """OAuth2 client_credentials (RFC 6749 4.4). A wrong secret never locks the client (the
    real secret keeps working, whoever sent the wrong ones): failures count per source
    address instead (LoginSourceLimit), and the secret is random, far past guessing."""
    if not client_id or not client_secret:
        return None, InvalidClient("client_id and client_secret are required")
    await source.check()
    parsed = _parse_uuid(client_id)
    client = await session.get(IntegrationClient, parsed) if parsed else None
    # Unknown clients are verified against a dummy hash: the answer takes as long.
    ok, new_hash = verify_password(client_secret, client.secret_hash if client else None)
    if client is None or not ok or not client.is_active:
        await source.failed()
        await asyncio.sleep(settings.login_failure_delay_seconds)
        return None, InvalidClient("unknown client, wrong secret, or client disabled")
    try:
        granted = granted_scopes(client.scopes, scope)
    except InvalidScope as e:
        return None, e
    if new_hash:
        client.secret_hash = new_hash
    await session.flush()
    token, expires_in = create_access_token(
        settings,
        subject=client.id,
        kind="client",
        role=INTEGRATION_ROLE,
        area=client.area_code,
        scopes=granted,
    )
    return TokenResponse(access_token=token, expires_in=expires_in, scope=" ".join(granted)), None


async def client_check(session: AsyncSession, client_id: uuid.UUID) -> bool:
    """For every client token: the client must still exist and be enabled."""
    active = (
        await session.execute(
            select(col(IntegrationClient.is_active)).where(col(IntegrationClient.id) == client_id)
        )
    ).scalar_one_or_none()
    return bool(active)
