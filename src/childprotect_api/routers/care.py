"""Care work: pairings (结对帮扶), cases (个案), a child's risk duties, and the alert inbox.
Thin: the rules are in services/care/ and services/duties/."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from childprotect_api.core.concurrency import parse_if_match, set_etag
from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import Problem
from childprotect_api.core.idempotency import IDEMPOTENT, IdempotentRoute
from childprotect_api.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from childprotect_api.models.base import utcnow
from childprotect_api.models.care import CaseStatus, DutyKind, PairingStatus
from childprotect_api.schemas.care import (
    AlertRead,
    CaseClose,
    CaseCreate,
    CaseEventRead,
    CaseRead,
    CaseUpdate,
    ContactCreate,
    ContactRead,
    DutyRead,
    MeasureCancel,
    MeasureCreate,
    MeasureDone,
    PairingCreate,
    PairingEnd,
    PairingRead,
    PairingUpdate,
)
from childprotect_api.schemas.common import Page
from childprotect_api.security.scope import Action, CurrentScope
from childprotect_api.services.care import alerts, cases, pairings
from childprotect_api.services.care.common import child_in_scope, next_cursor
from childprotect_api.services.duties import duties

pairing_router = APIRouter(
    prefix="/api/v1/pairings", tags=["pairings"], route_class=IdempotentRoute
)
case_router = APIRouter(prefix="/api/v1/cases", tags=["cases"], route_class=IdempotentRoute)
alert_router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
duty_router = APIRouter(prefix="/api/v1/children", tags=["duties"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
IfMatch = Annotated[
    str | None,
    Header(description="The ETag of the version the change is based on (412 when stale)."),
]


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem} for code in (401, 403, 404, 422, *codes)}


def _created(response: Response, created: bool) -> None:
    if not created:
        response.status_code = 200


# --- pairings -----------------------------------------------------------------------------


@pairing_router.post(
    "",
    operation_id="createPairing",
    response_model=PairingRead,
    status_code=201,
    responses=_errors(409),
    dependencies=[IDEMPOTENT],
)
async def create_pairing(
    scope: CurrentScope, session: SessionDep, response: Response, body: PairingCreate
) -> PairingRead:
    """Pair a helper with a child. Send a client-made `id`: a retry answers the stored pairing
    (200). Meets the child's `needs_pairing` duty."""
    pairing, created = await pairings.create(session, scope, body)
    _created(response, created)
    set_etag(response, pairing.version)
    return PairingRead.model_validate(pairing)


@pairing_router.get(
    "", operation_id="listPairings", response_model=Page[PairingRead], responses=_errors()
)
async def list_pairings(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID | None = None,
    status: PairingStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[PairingRead]:
    """Pairings (结对帮扶) of children in the caller's scope, filtered by child or status."""
    rows = await pairings.list_pairings(
        session, scope, child_id=child_id, status=status, limit=limit, cursor=cursor
    )
    return Page(
        items=[PairingRead.model_validate(p) for p in rows], next_cursor=next_cursor(rows, limit)
    )


@pairing_router.get(
    "/{pairing_id}", operation_id="getPairing", response_model=PairingRead, responses=_errors()
)
async def get_pairing(
    scope: CurrentScope, session: SessionDep, response: Response, pairing_id: uuid.UUID
) -> PairingRead:
    """One pairing, with its version as `ETag`."""
    pairing = await pairings.get(session, scope, pairing_id)
    set_etag(response, pairing.version)
    return PairingRead.model_validate(pairing)


@pairing_router.patch(
    "/{pairing_id}",
    operation_id="updatePairing",
    response_model=PairingRead,
    responses=_errors(412),
)
async def update_pairing(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    pairing_id: uuid.UUID,
    body: PairingUpdate,
    if_match: IfMatch = None,
) -> PairingRead:
    """Change a pairing's helper details or planned end (`If-Match` optional, 412 when stale)."""
    expected = parse_if_match(if_match, required=False)
    pairing = await pairings.update(session, scope, pairing_id, body, expected)
    set_etag(response, pairing.version)
    return PairingRead.model_validate(pairing)


@pairing_router.post(
    "/{pairing_id}/end",
    operation_id="endPairing",
    response_model=PairingRead,
    responses=_errors(409, 412),
)
async def end_pairing(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    pairing_id: uuid.UUID,
    body: PairingEnd,
    if_match: IfMatch = None,
) -> PairingRead:
    """End a pairing; an orange or red child left with none has `needs_pairing` again."""
    expected = parse_if_match(if_match, required=False)
    pairing = await pairings.end(session, scope, pairing_id, body, expected)
    set_etag(response, pairing.version)
    return PairingRead.model_validate(pairing)


@pairing_router.post(
    "/{pairing_id}/contacts",
    operation_id="logPairingContact",
    response_model=ContactRead,
    status_code=201,
    responses=_errors(409),
    dependencies=[IDEMPOTENT],
)
async def log_pairing_contact(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    pairing_id: uuid.UUID,
    body: ContactCreate,
) -> ContactRead:
    """Log a contact (visit, call, message) of the pairing's helper with the child."""
    contact, created = await pairings.log_contact(session, scope, pairing_id, body)
    _created(response, created)
    return ContactRead.model_validate(contact)


@pairing_router.get(
    "/{pairing_id}/contacts",
    operation_id="listPairingContacts",
    response_model=Page[ContactRead],
    responses=_errors(),
)
async def list_pairing_contacts(
    scope: CurrentScope,
    session: SessionDep,
    pairing_id: uuid.UUID,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[ContactRead]:
    """The contacts logged for a pairing (keyset pages)."""
    rows = await pairings.list_contacts(session, scope, pairing_id, limit, cursor)
    return Page(
        items=[ContactRead.model_validate(c) for c in rows], next_cursor=next_cursor(rows, limit)
    )


# --- cases --------------------------------------------------------------------------------


@case_router.post(
    "",
    operation_id="createCase",
    response_model=CaseRead,
    status_code=201,
    responses=_errors(409),
    dependencies=[IDEMPOTENT],
)
async def create_case(
    scope: CurrentScope, session: SessionDep, response: Response, body: CaseCreate
) -> CaseRead:
    """Open a case (一人一案) for a child: township supervisors and county officers. Send a
    client-made `id`: a retry answers the stored case (200). Meets `needs_case`."""
    case, created = await cases.create(session, scope, body)
    _created(response, created)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.get("", operation_id="listCases", response_model=Page[CaseRead], responses=_errors())
async def list_cases(
    scope: CurrentScope,
    session: SessionDep,
    child_id: uuid.UUID | None = None,
    status: CaseStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[CaseRead]:
    """Cases (个案) of children in the caller's scope, filtered by child or status."""
    rows = await cases.list_cases(
        session, scope, child_id=child_id, status=status, limit=limit, cursor=cursor
    )
    measures = await cases.measures_of(session, [c.id for c in rows])
    return Page(
        items=[cases.to_read(c, measures[c.id]) for c in rows],
        next_cursor=next_cursor(rows, limit),
    )


@case_router.get("/{case_id}", operation_id="getCase", response_model=CaseRead, responses=_errors())
async def get_case(
    scope: CurrentScope, session: SessionDep, response: Response, case_id: uuid.UUID
) -> CaseRead:
    """One case with its measures, with its version as `ETag`."""
    case = await cases.get(session, scope, case_id)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.patch(
    "/{case_id}", operation_id="updateCase", response_model=CaseRead, responses=_errors(409, 412)
)
async def update_case(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    case_id: uuid.UUID,
    body: CaseUpdate,
    if_match: IfMatch = None,
) -> CaseRead:
    """Assess the six domains, review (set the next `review_on`), or change the owner."""
    expected = parse_if_match(if_match, required=False)
    case = await cases.update(session, scope, case_id, body, expected)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.post(
    "/{case_id}/close",
    operation_id="closeCase",
    response_model=CaseRead,
    responses=_errors(409, 412),
)
async def close_case(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    case_id: uuid.UUID,
    body: CaseClose,
    if_match: IfMatch = None,
) -> CaseRead:
    """Close a case with its outcome (township supervisors and county officers)."""
    expected = parse_if_match(if_match, required=False)
    case = await cases.close(session, scope, case_id, body, expected)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.post(
    "/{case_id}/measures",
    operation_id="addCaseMeasure",
    response_model=CaseRead,
    status_code=201,
    responses=_errors(409),
    dependencies=[IDEMPOTENT],
)
async def add_measure(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    case_id: uuid.UUID,
    body: MeasureCreate,
) -> CaseRead:
    """Plan a measure (帮扶预案). Send a client-made `id` (a retry answers 200)."""
    case, _, created = await cases.add_measure(session, scope, case_id, body)
    _created(response, created)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.post(
    "/{case_id}/measures/{measure_id}/done",
    operation_id="completeCaseMeasure",
    response_model=CaseRead,
    responses=_errors(409),
)
async def complete_measure(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    case_id: uuid.UUID,
    measure_id: uuid.UUID,
    body: MeasureDone,
) -> CaseRead:
    """Log a measure done: village directors too."""
    case, _ = await cases.complete_measure(session, scope, case_id, measure_id, body)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.post(
    "/{case_id}/measures/{measure_id}/cancel",
    operation_id="cancelCaseMeasure",
    response_model=CaseRead,
    responses=_errors(409),
)
async def cancel_measure(
    scope: CurrentScope,
    session: SessionDep,
    response: Response,
    case_id: uuid.UUID,
    measure_id: uuid.UUID,
    body: MeasureCancel,
) -> CaseRead:
    """Cancel a planned measure with a reason (township supervisors and county officers)."""
    case, _ = await cases.cancel_measure(session, scope, case_id, measure_id, body)
    set_etag(response, case.version)
    return await cases.read(session, case)


@case_router.get(
    "/{case_id}/timeline",
    operation_id="getCaseTimeline",
    response_model=list[CaseEventRead],
    responses=_errors(),
)
async def case_timeline(
    scope: CurrentScope, session: SessionDep, case_id: uuid.UUID
) -> list[CaseEventRead]:
    """What happened to a case, in order: opening, assessments, measures, reviews, closing."""
    return [CaseEventRead.model_validate(e) for e in await cases.timeline(session, scope, case_id)]


# --- duties and alerts --------------------------------------------------------------------


@duty_router.get(
    "/{child_id}/duties",
    operation_id="listChildDuties",
    response_model=list[DutyRead],
    responses=_errors(),
)
async def child_duties(
    scope: CurrentScope, session: SessionDep, child_id: uuid.UUID
) -> list[DutyRead]:
    """The child's open risk duties (`needs_pairing`, `needs_case`, `case_review_due`)."""
    scope.require(Action.children_read)
    child = await child_in_scope(session, scope, child_id)
    now = utcnow()
    open_ = (await duties.open_duties(session, [child.id]))[child.id]
    return [
        DutyRead(
            kind=DutyKind(d.kind),
            opened_at=d.opened_at,
            due_at=d.due_at,
            overdue=d.due_at <= now,
            case_id=d.case_id,
        )
        for d in open_
    ]


@alert_router.get(
    "", operation_id="listAlerts", response_model=Page[AlertRead], responses=_errors()
)
async def list_alerts(
    scope: CurrentScope,
    session: SessionDep,
    acknowledged: bool | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[AlertRead]:
    """The caller's alerts (county officers; township supervisors for pairing duties)."""
    rows = await alerts.list_alerts(
        session, scope, acknowledged=acknowledged, limit=limit, cursor=cursor
    )
    return Page(
        items=[AlertRead.model_validate(a) for a in rows], next_cursor=next_cursor(rows, limit)
    )


@alert_router.post(
    "/{alert_id}/acknowledge",
    operation_id="acknowledgeAlert",
    response_model=AlertRead,
    responses=_errors(),
)
async def acknowledge_alert(
    scope: CurrentScope, session: SessionDep, alert_id: uuid.UUID
) -> AlertRead:
    """Acknowledge one of the caller's alerts; acknowledging again answers it as it is."""
    return AlertRead.model_validate(await alerts.acknowledge(session, scope, alert_id))
