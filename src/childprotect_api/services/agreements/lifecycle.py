"""The agreement lifecycle `draft → active → expired | terminated`:

- four signatures (guardian and caregiver before a staff witness; the village committee by
  staff of the child's village or above; the township by a township supervisor or county
  officer); the fourth activates the agreement;
- activation needs every art. 22 checklist item confirmed, and at most one active agreement
  per child — a partial unique index, so two racing activations cannot both win;
- termination with a reason, by a township supervisor or county officer.

Every status change is kept in agreement_status_changes."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.errors import Conflict, FieldError, Forbidden, Unprocessable
from childprotect_api.models.agreement import (
    ONE_ACTIVE_INDEX,
    Agreement,
    AgreementStatus,
    SignatureParty,
    TerminationReason,
)
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.user import Role, User
from childprotect_api.schemas.agreement import (
    SignatureCreate,
    TerminateRequest,
    effective_status,
    unconfirmed_items,
)
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services.agreements.expiry import china_today, expire_agreements
from childprotect_api.services.agreements.service import (
    RESOURCE,
    check_version,
    load,
    record_change,
    require_draft,
    require_parent_away,
    touch,
)

_STAFF_ROLES = (Role.village_director, Role.township_supervisor, Role.county_officer)


def _signed_on(agreement: Agreement, party: SignatureParty) -> object:
    return getattr(agreement, f"{party.value}_signed_on")


def _all_signed(agreement: Agreement) -> bool:
    return all(_signed_on(agreement, p) is not None for p in SignatureParty)


async def _check_witness(session: AsyncSession, witness_id: uuid.UUID, area_code: str) -> None:
    """A witness is an active staff user whose area covers the child's village."""
    user = await session.get(User, witness_id)
    ok = (
        user is not None
        and user.is_active
        and user.role in _STAFF_ROLES
        and Scope("user", user.id, user.role, user.area_code or "").covers(area_code)
    )
    if not ok:
        raise Unprocessable.field(
            "witnessed_by",
            "must be an active staff user responsible for the child's village",
            code="invalid_witness",
        )


async def sign(
    session: AsyncSession,
    scope: Scope,
    agreement_id: uuid.UUID,
    body: SignatureCreate,
    expected_version: int | None,
) -> Agreement:
    scope.require(Action.agreement_edit)
    agreement = await load(session, scope, agreement_id, for_update=True)
    if body.party == SignatureParty.township and not scope.can(Action.agreement_sign):
        raise Forbidden(
            "only a township supervisor or a county officer signs for the township",
            code="signature_not_allowed",
        )
    require_draft(agreement, "signed")
    check_version(agreement, expected_version)
    if _signed_on(agreement, body.party) is not None:
        raise Conflict(f"the {body.party.value} has already signed", code="already_signed")
    if body.signed_on > china_today():
        raise Unprocessable.field("signed_on", "may not be in the future", code="date_in_future")
    prefix = body.party.value
    setattr(agreement, f"{prefix}_signed_on", body.signed_on)
    if body.party in (SignatureParty.guardian, SignatureParty.caregiver):
        witness = body.witnessed_by or scope.user_id
        if witness is None:
            raise Unprocessable.field("witnessed_by", "is required", code="invalid_witness")
        await _check_witness(session, witness, agreement.area_code)
        setattr(agreement, f"{prefix}_witnessed_by", witness)
    else:
        if body.witnessed_by is not None:
            raise Unprocessable.field(
                "witnessed_by",
                "applies to the guardian's and the caregiver's signatures only",
                code="witness_not_applicable",
            )
        setattr(agreement, f"{prefix}_signed_by", scope.user_id)
    touch(agreement, scope)
    await audit.record(session, scope, "sign", RESOURCE, agreement.id, agreement.area_code)
    if _all_signed(agreement):
        await _activate(session, scope, agreement)
    await session.flush()
    await session.refresh(agreement)
    return agreement


async def _activate(session: AsyncSession, scope: Scope, agreement: Agreement) -> None:
    missing = unconfirmed_items(agreement.checklist)
    if missing:
        raise Unprocessable(
            "every art. 22 checklist item must be confirmed before the agreement takes effect; "
            f"not confirmed: {', '.join(missing)}",
            code="checklist_incomplete",
            errors=[
                FieldError(field=f"checklist.{m}", message="not confirmed", type="not_confirmed")
                for m in missing
            ],
        )
    child = await session.get(Child, agreement.child_id)
    assert child is not None  # a foreign key
    require_parent_away(child)
    today = china_today()
    if agreement.ends_on < today:
        raise Unprocessable.field(
            "ends_on", "has already passed; correct the dates first", code="ends_on_passed"
        )
    # An active agreement that has lapsed (the job has not run yet) must not hold the slot.
    await expire_agreements(session, today, child_id=agreement.child_id)
    other_active = exists().where(
        col(Agreement.child_id) == agreement.child_id,
        col(Agreement.status) == AgreementStatus.active.value,
        col(Agreement.id) != agreement.id,
    )
    if (await session.execute(select(other_active))).scalar():
        raise _active_exists()
    agreement.status = AgreementStatus.active.value
    agreement.activated_at = utcnow()
    try:
        await session.flush()
    except IntegrityError as e:
        # Another activation for the same child committed first (the partial unique index).
        if ONE_ACTIVE_INDEX in str(e.orig):
            raise _active_exists() from e
        raise
    record_change(
        session,
        agreement,
        AgreementStatus.draft.value,
        AgreementStatus.active.value,
        scope.user_id,
        reason="all_parties_signed",
    )
    await audit.record(session, scope, "activate", RESOURCE, agreement.id, agreement.area_code)


def _active_exists() -> Conflict:
    return Conflict(
        "the child already has an active agreement; terminate it first",
        code="active_agreement_exists",
    )


async def terminate(
    session: AsyncSession,
    scope: Scope,
    agreement_id: uuid.UUID,
    body: TerminateRequest,
    expected_version: int | None,
) -> Agreement:
    scope.require(Action.agreement_sign)
    agreement = await load(session, scope, agreement_id, for_update=True)
    status = effective_status(agreement, china_today())
    if status != AgreementStatus.active:
        raise Conflict(
            f"only an active agreement can be terminated; this one is {status.value}",
            code="not_active",
        )
    check_version(agreement, expected_version)
    note = (body.note or "").strip() or None
    if body.reason == TerminationReason.other and note is None:
        raise Unprocessable.field("note", "is required when the reason is other")
    agreement.status = AgreementStatus.terminated.value
    agreement.termination_reason = body.reason.value
    agreement.termination_note = note
    agreement.terminated_at = utcnow()
    agreement.terminated_by = scope.user_id
    touch(agreement, scope)
    record_change(
        session,
        agreement,
        AgreementStatus.active.value,
        AgreementStatus.terminated.value,
        scope.user_id,
        reason=body.reason.value,
        note=note,
    )
    await session.flush()
    await audit.record(session, scope, "terminate", RESOURCE, agreement.id, agreement.area_code)
    await session.refresh(agreement)
    return agreement
