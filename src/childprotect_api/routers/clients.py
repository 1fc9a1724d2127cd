from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

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
from childprotect_api.schemas.client import ClientCreate, ClientRead, ClientWithSecret
from childprotect_api.schemas.common import Page
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services.integrations import clients as client_service

router = APIRouter(prefix="/api/v1/clients", tags=["clients"], route_class=IdempotentRoute)

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
}


def _with_secret(client: object, secret: str) -> ClientWithSecret:
    return ClientWithSecret(**ClientRead.model_validate(client).model_dump(), client_secret=secret)


@router.post(
    "",
    operation_id="createClient",
    response_model=ClientWithSecret,
    status_code=201,
    responses=ERRORS,
    dependencies=[IDEMPOTENT],
)
async def create_client(
    scope: CurrentScope, session: SessionDep, body: ClientCreate
) -> ClientWithSecret:
    """Register an integration client (admins). The answer holds the secret, once."""
    client, secret = await client_service.create_client(session, scope, body)
    return _with_secret(client, secret)


@router.get("", operation_id="listClients", response_model=Page[ClientRead], responses=ERRORS)
async def list_clients(
    scope: CurrentScope,
    session: SessionDep,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ClientRead]:
    """The integration clients (OAuth2 client credentials), without their secrets."""
    after = decode_cursor(cursor, 2)
    rows = await client_service.list_clients(
        session,
        scope,
        active=active,
        limit=limit,
        after=(str(after[0]), cursor_uuid(after[1])) if after else None,
    )
    next_cursor = encode_cursor([rows[-1].name, str(rows[-1].id)]) if len(rows) == limit else None
    return Page(items=[ClientRead.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.get("/{client_id}", operation_id="getClient", response_model=ClientRead, responses=ERRORS)
async def get_client(
    scope: CurrentScope, session: SessionDep, client_id: uuid.UUID, response: Response
) -> ClientRead:
    """One integration client, without its secret."""
    client = await client_service.get_client(session, scope, client_id)
    response.headers["ETag"] = f'"{client.version}"'
    return ClientRead.model_validate(client)


@router.post(
    "/{client_id}/rotate-secret",
    operation_id="rotateClientSecret",
    response_model=ClientWithSecret,
    responses=ERRORS,
)
async def rotate_secret(
    scope: CurrentScope, session: SessionDep, client_id: uuid.UUID
) -> ClientWithSecret:
    """A new secret, shown once; the old secret stops working at once."""
    client, secret = await client_service.rotate_secret(session, scope, client_id)
    return _with_secret(client, secret)


@router.post(
    "/{client_id}/disable",
    operation_id="disableClient",
    response_model=ClientRead,
    responses=ERRORS,
)
async def disable_client(
    scope: CurrentScope, session: SessionDep, client_id: uuid.UUID
) -> ClientRead:
    """Disable a client: no new tokens, its current tokens stop, its webhooks stop."""
    return ClientRead.model_validate(await client_service.disable_client(session, scope, client_id))
