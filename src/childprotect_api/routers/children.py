"""The children registry over HTTP: thin; the rules are in services/children*.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

from childprotect_api.core.concurrency import IfMatch, etag, parse_if_match, set_etag
from childprotect_api.core.db import SessionDep, get_database, request_session
from childprotect_api.core.errors import Problem, Unprocessable
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from childprotect_api.core.routing import canonical_uuid, lean
from childprotect_api.models.child import Category, Child, ChildStatus, RiskLevel
from childprotect_api.schemas.area import AREA_CODE_PATTERN
from childprotect_api.schemas.child import (
    ChildClose,
    ChildCreate,
    ChildEventRead,
    ChildRead,
    ChildReopen,
    ChildSummary,
    ChildTransfer,
    ChildUpdate,
    RiskChangeRead,
    RiskLevelSet,
)
from childprotect_api.schemas.child_json import child_read_json
from childprotect_api.schemas.common import IsoDateTime, Page
from childprotect_api.security.scope import (
    CurrentClaims,
    CurrentScope,
    Scope,
    get_claims,
    oauth2_scheme,
    scope_of,
    token_scope,
)
from childprotect_api.services.children import client_fields
from childprotect_api.services.children import history as child_history
from childprotect_api.services.children import listing as child_list
from childprotect_api.services.children import registry as service
from childprotect_api.services.children import risk as child_risk
from childprotect_api.services.children import rules as child_rules
from childprotect_api.services.children import transfer as child_transfer
from childprotect_api.services.children.id_numbers import age_on

router = APIRouter(prefix="/api/v1/children", tags=["children"], route_class=IdempotentRoute)


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem} for code in (401, 403, 422, *codes)}


M = TypeVar("M", bound=ChildSummary)


def _shape(model: type[M], child: Child, today: date, id_number: str | None = None) -> M:
    data = {
        name: getattr(child, name)
        for name in model.model_fields
        if name not in ("age", "id_number")
    }
    data["age"] = age_on(child.birth_date, today)
    data["id_number"] = id_number or child.id_number_masked
    return model.model_validate(data)


def _read(
    response: Response, scope: Scope, child: Child, id_number: str | None = None
) -> ChildRead:
    set_etag(response, child.version)
    read = _shape(ChildRead, child, child_rules.today(), id_number)
    hidden = client_fields.withheld(scope, list(ChildRead.model_fields))
    if hidden:
        response.headers[client_fields.WITHHELD_HEADER] = ", ".join(hidden)
        read = ChildRead.model_validate(client_fields.redact(read.model_dump(), hidden))
    return read


# GET /children/{id} and the list answer pre-serialised JSON (the schemas still document
# them): the row is shaped once, not validated again and re-encoded by the framework.
_READ_COLUMNS = tuple(name for name in ChildRead.model_fields if name not in ("age", "id_number"))
_SUMMARY_FIELDS = tuple(ChildSummary.model_fields)
_READ_FIELDS = tuple(ChildRead.model_fields)


def _read_response(scope: Scope, row: Any, id_number: str | None) -> Response:
    data = {name: row[name] for name in _READ_COLUMNS}
    data["age"] = age_on(row["birth_date"], child_rules.today())
    data["id_number"] = id_number or row["id_number_masked"]
    headers = {"ETag": etag(row["version"])}
    # Integration clients: only the fields their scopes need (client_fields.py).
    hidden = client_fields.withheld(scope, _READ_FIELDS)
    if hidden:
        client_fields.redact(data, hidden)
        headers[client_fields.WITHHELD_HEADER] = ", ".join(hidden)
    # The model's JSON without the model (schemas/child_json.py).
    body = child_read_json(data)
    return Response(body, media_type="application/json", headers=headers)


def _summary(row: Any, today: date) -> dict[str, Any]:
    """A ChildSummary as data, field by field and in order (tests hold it to the schema)."""
    out: dict[str, Any] = {}
    for name in _SUMMARY_FIELDS:
        if name == "age":
            out[name] = age_on(row["birth_date"], today)
        elif name == "id_number":
            out[name] = row["id_number_masked"]
        else:
            out[name] = row[name]
    return out


def _data_key(request: Request) -> str:
    key: str = request.app.state.settings.data_key
    return key


def _id_cursor(cursor: str | None) -> int | None:
    after = decode_cursor(cursor, 1)
    if after is None:
        return None
    if not isinstance(after[0], int):
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor")
    return after[0]


def _child_cursor(cursor: str | None) -> tuple[str, str, uuid.UUID] | None:
    after = decode_cursor(cursor, 3)
    if after is None:
        return None
    try:
        return str(after[0]), str(after[1]), uuid.UUID(str(after[2]))
    except ValueError as e:
        raise Unprocessable.field("cursor", "is not a valid cursor", code="invalid_cursor") from e


@router.get("", operation_id="listChildren", response_model=Page[ChildSummary], responses=_errors())
async def list_children(
    claims: CurrentClaims,
    request: Request,
    area: Annotated[
        str | None, Query(pattern=AREA_CODE_PATTERN, description="Any area inside your scope.")
    ] = None,
    category: Annotated[
        list[Category] | None, Query(description="Children with all of these categories.")
    ] = None,
    risk_level: Annotated[list[RiskLevel] | None, Query(description="Any of these.")] = None,
    status: ChildStatus | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Name contains.")
    ] = None,
    school: Annotated[str | None, Query(max_length=100)] = None,
    assigned_to: uuid.UUID | None = None,
    age_min: Annotated[int | None, Query(ge=0, le=17)] = None,
    age_max: Annotated[int | None, Query(ge=0, le=17)] = None,
    updated_since: Annotated[
        IsoDateTime | None, Query(description="Changed at or after (ISO 8601 with offset).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Response:
    """Children in your scope, ordered by village; each child served is audited."""
    filters = child_list.ChildFilters(
        area=area,
        categories=[c.value for c in category or []],
        risk_levels=[r.value for r in risk_level or []],
        status=status.value if status else None,
        q=q,
        school=school,
        assigned_to=assigned_to,
        age_min=age_min,
        age_max=age_max,
        updated_since=updated_since,
    )
    after = _child_cursor(cursor)
    # A user's page: one statement, no transaction (session check, page and audit rows).
    found = None
    scope = token_scope(request, claims)
    if scope is not None:
        found = await child_list.list_children_at_once(
            get_database(request), request, scope, filters, limit, after
        )
    if found is not None:
        scope, rows = found
    else:
        # Integration clients, a role or area changed since the token: the request's
        # transaction, the scope by the account's row (get_scope's path).
        async with request_session(request) as session:
            scope = await scope_of(request, session, claims)
            client_fields.check_filters(
                scope, {"category": category, "school": school, "assigned_to": assigned_to}
            )
            rows = await child_list.list_children(session, scope, filters, limit, after)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = (
        encode_cursor([last["county_code"], last["area_code"], str(last["id"])]) if last else None
    )
    today = child_rules.today()
    items = [_summary(r, today) for r in rows]
    headers = {}
    hidden = client_fields.withheld(scope, _SUMMARY_FIELDS)
    if hidden:  # integration clients: only the fields their scopes need
        items = [client_fields.redact(item, hidden) for item in items]
        headers[client_fields.WITHHELD_HEADER] = ", ".join(hidden)
    page = {"items": items, "next_cursor": next_cursor}
    return Response(to_json(page), media_type="application/json", headers=headers)


@router.post(
    "",
    operation_id="createChild",
    response_model=ChildRead,
    status_code=201,
    responses={
        200: {"model": ChildRead, "description": "A retry of the same create (same id)."},
        **_errors(404, 409, 429),
    },
    dependencies=[IDEMPOTENT],
)
async def create_child(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    body: ChildCreate,
) -> ChildRead:
    """Register a child. Send a client-generated `id` so a retry never makes a second one.
    The same ID number as an existing record answers 409 `duplicate_child` (with
    `existing_child_id` when that record is in your scope). "Registered in another area"
    (no id) is audited and answered at most CHILDPROTECT_EXISTS_ELSEWHERE_PER_DAY times a
    day per caller; past it 429 `rate_limited`."""
    child, created = await service.create_child(
        session,
        scope,
        _data_key(request),
        body,
        offline_days=request.app.state.settings.sync_push_ledger_days,
    )
    if not created:
        response.status_code = 200
    return _read(response, scope, child)


async def _get_child_lean(request: Request) -> Response | None:
    """GET /children/{id} with a canonical UUID and no query string: the dependencies taken
    as FastAPI takes them (the same bearer scheme and claims, the same 401s), without its
    dependency solving; any other request (a query, another form of UUID, a bad one: 422)
    takes FastAPI's path (core/routing.py: lean)."""
    if request.scope.get("query_string"):
        return None
    child_id = canonical_uuid(request.path_params["child_id"])
    if child_id is None:
        return None
    claims = await get_claims(request, await oauth2_scheme(request))
    return await get_child(claims, request, child_id)


@router.get(
    "/{child_id}", operation_id="getChild", response_model=ChildRead, responses=_errors(404)
)
@lean(_get_child_lean)
async def get_child(
    claims: CurrentClaims,
    request: Request,
    child_id: uuid.UUID,
    reveal_id_number: Annotated[
        bool, Query(description="County officers: the ID number whole (audited).")
    ] = False,
) -> Response:
    """One child, with its version as the ETag."""
    # A user's read: one statement, no transaction (session check, read and audit row).
    scope = token_scope(request, claims)
    if scope is not None and not reveal_id_number:
        found = await service.read_child_at_once(get_database(request), request, scope, child_id)
        if found is not None:
            return _read_response(found[0], found[1], None)
    # Integration clients, revealing an ID number, a role or area changed since the token:
    # the request's transaction, the scope by the account's row (get_scope's path).
    async with request_session(request) as session:
        scope = await scope_of(request, session, claims)
        child, clear = await service.read_child(
            session, scope, _data_key(request), child_id, reveal=reveal_id_number
        )
        return _read_response(scope, child, clear)


@router.patch(
    "/{child_id}",
    operation_id="updateChild",
    response_model=ChildRead,
    responses=_errors(404, 409, 412, 428, 429),
)
async def update_child(
    scope: CurrentScope,
    session: SessionDep,
    request: Request,
    response: Response,
    child_id: uuid.UUID,
    body: ChildUpdate,
    if_match: IfMatch = None,
) -> ChildRead:
    """Change fields of the record. Requires `If-Match` with the version you edited."""
    expected = parse_if_match(if_match, required=True)
    child = await service.update_child(session, scope, _data_key(request), child_id, body, expected)
    return _read(response, scope, child)


@router.put(
    "/{child_id}/risk",
    operation_id="setChildRiskLevel",
    response_model=ChildRead,
    responses=_errors(404, 409, 412),
)
async def set_risk_level(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: RiskLevelSet,
    if_match: IfMatch = None,
) -> ChildRead:
    """Set the risk level with a reason (village directors: up to orange). The next visit
    due date moves with it; the change is kept in the risk history."""
    expected = parse_if_match(if_match, required=False)
    child = await child_risk.set_child_risk(session, scope, child_id, body, expected)
    return _read(response, scope, child)


@router.get(
    "/{child_id}/risk-history",
    operation_id="listChildRiskHistory",
    response_model=Page[RiskChangeRead],
    responses=_errors(404),
)
async def risk_history(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[RiskChangeRead]:
    """Every change of the child's risk level, newest first."""
    rows = await child_history.list_risk_changes(
        session, scope, child_id, limit, _id_cursor(cursor)
    )
    return _page(RiskChangeRead, rows, limit)


@router.get(
    "/{child_id}/history",
    operation_id="listChildHistory",
    response_model=Page[ChildEventRead],
    responses=_errors(404),
)
async def history(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ChildEventRead]:
    """Transfers, closing and reopening of the record, newest first."""
    rows = await child_history.list_events(session, scope, child_id, limit, _id_cursor(cursor))
    return _page(ChildEventRead, rows, limit)


R = TypeVar("R", bound=BaseModel)


def _page(model: type[R], rows: Sequence[Any], limit: int) -> Page[R]:
    next_cursor = encode_cursor([rows[-1].id]) if len(rows) == limit else None
    return Page(items=[model.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{child_id}/close",
    operation_id="closeChild",
    response_model=ChildRead,
    responses=_errors(404, 409, 412),
)
async def close_child(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: ChildClose,
    if_match: IfMatch = None,
) -> ChildRead:
    """Close the record with a reason (turned 18, moved away, deceased, no longer eligible)."""
    expected = parse_if_match(if_match, required=False)
    child = await service.close_child(session, scope, child_id, body, expected)
    return _read(response, scope, child)


@router.post(
    "/{child_id}/reopen",
    operation_id="reopenChild",
    response_model=ChildRead,
    responses=_errors(404, 409, 412),
)
async def reopen_child(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: ChildReopen,
    if_match: IfMatch = None,
) -> ChildRead:
    """Reopen a closed record (not for a child of 18 or over)."""
    expected = parse_if_match(if_match, required=False)
    child = await service.reopen_child(session, scope, child_id, body, expected)
    return _read(response, scope, child)


@router.post(
    "/{child_id}/transfer",
    operation_id="transferChild",
    response_model=ChildRead,
    responses=_errors(404, 412),
)
async def transfer_child(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    child_id: uuid.UUID,
    body: ChildTransfer,
    if_match: IfMatch = None,
) -> ChildRead:
    """Move the child to another village. You need scope over both villages (or be the
    county officer of both); the old village loses access to the record."""
    expected = parse_if_match(if_match, required=False)
    child = await child_transfer.transfer_child(session, scope, child_id, body, expected)
    return _read(response, scope, child)
