"""Entrusted-care agreement drafts: loading in scope, creation (idempotent by client id),
editing (drafts only), and the rules every draft must keep:

- the child has a parent working away (otherwise 422 `no_parent_away`);
- the caregiver is 18 or over on `starts_on`, from the ID number (Minors Protection Law art. 22);
- `ends_on` is after `starts_on`; the contact commitment is at least weekly (schema-checked).

Signatures, activation, termination and expiry live in services/agreements/lifecycle.py and
services/agreements/expiry.py."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit, client_ids
from childprotect_api.core.changes import unchanged
from childprotect_api.core.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from childprotect_api.models.agreement import (
    Agreement,
    AgreementStatus,
    AgreementStatusChange,
    GuardianRelation,
)
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child, ChildStatus, ParentSituation
from childprotect_api.schemas.agreement import (
    AgreementCreate,
    AgreementUpdate,
    CaregiverPatch,
    ChecklistIn,
    GuardianPatch,
)
from childprotect_api.security.crypto import lookup_hash
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.agreements.expiry import china_today
from childprotect_api.services.children import id_numbers

RESOURCE = "agreement"
MIN_CAREGIVER_AGE = 18


async def load_child(session: AsyncSession, scope: Scope, child_id: uuid.UUID) -> Child:
    stmt = select(Child).where(
        col(Child.id) == child_id, in_scope(scope, col(Child.area_code), col(Child.county_code))
    )
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None:
        raise NotFound("no such child")
    return child


async def load(
    session: AsyncSession, scope: Scope, agreement_id: uuid.UUID, *, for_update: bool = False
) -> Agreement:
    """The agreement if it is in scope (404 otherwise); locked when it is to be changed, so
    concurrent signatures on one agreement apply one after the other."""
    stmt = select(Agreement).where(
        col(Agreement.id) == agreement_id,
        in_scope(scope, col(Agreement.area_code), col(Agreement.county_code)),
    )
    if for_update:
        stmt = stmt.with_for_update()
    agreement = (await session.execute(stmt)).scalar_one_or_none()
    if agreement is None:
        raise NotFound("no such agreement")
    return agreement


def check_version(agreement: Agreement, expected: int | None) -> None:
    if expected is not None and expected != agreement.version:
        raise PreconditionFailed(
            f"the agreement has changed (version {agreement.version}); reload it and retry",
            extra={"current_version": agreement.version},
        )


def require_draft(agreement: Agreement, doing: str) -> None:
    if agreement.status != AgreementStatus.draft:
        raise Conflict(
            f"only a draft can be {doing}; this agreement is {agreement.status}",
            code="not_editable",
        )


def require_parent_away(child: Child) -> None:
    """Arts. 22–23: an entrusted-care agreement is for a child whose parent works away."""
    if child.status != ChildStatus.active:
        raise Unprocessable.field("child_id", "the child's record is closed", code="child_closed")
    situations = {
        "father": (child.father or {}).get("situation") or ParentSituation.unknown.value,
        "mother": (child.mother or {}).get("situation") or ParentSituation.unknown.value,
    }
    if ParentSituation.working_away.value not in situations.values():
        raise Unprocessable.field(
            "child_id",
            "an entrusted-care agreement is made when a parent works away, but neither parent "
            f"of this child does (father: {situations['father']}, mother: "
            f"{situations['mother']}); record the parent's situation on the child first",
            code="no_parent_away",
        )


def _parent_record(child: Child, relation: str) -> dict[str, Any]:
    if relation == GuardianRelation.father:
        return child.father or {}
    if relation == GuardianRelation.mother:
        return child.mother or {}
    return {}


def _iso_date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _id_number(field: str, value: str) -> id_numbers.IdNumberInfo:
    try:
        return id_numbers.parse(value)
    except ValueError as e:
        raise Unprocessable.field(field, f"the ID number {e}", code="invalid_id_number") from e


def _set_guardian_id(agreement: Agreement, data_key: str, value: str | None) -> None:
    if value is None:
        agreement.guardian_id_number_enc = None
        agreement.guardian_id_number_hash = None
        agreement.guardian_id_number_masked = None
        return
    p = id_numbers.protect(data_key, _id_number("guardian.id_number", value).normalized)
    if p.hash == agreement.guardian_id_number_hash:
        return  # the same number (a fresh nonce would read as a change)
    agreement.guardian_id_number_enc = p.encrypted
    agreement.guardian_id_number_hash = p.hash
    agreement.guardian_id_number_masked = p.masked


def _caregiver_id(data_key: str, value: str) -> dict[str, Any]:
    """The caregiver's ID number columns (encrypted, hash, masked, and the birth date)."""
    info = _id_number("caregiver.id_number", value)
    p = id_numbers.protect(data_key, info.normalized)
    return {
        "caregiver_id_number_enc": p.encrypted,
        "caregiver_id_number_hash": p.hash,
        "caregiver_id_number_masked": p.masked,
        "caregiver_birth_date": info.birth_date,
    }


def apply_checklist(agreement: Agreement, data: ChecklistIn, by: uuid.UUID | None) -> None:
    """Items sent are set (true/false with who and when; null clears); others are kept. An
    unchanged answer keeps its original confirmer."""
    checklist = dict(agreement.checklist or {})
    for item in data.model_fields_set:
        value = getattr(data, item)
        if value is None:
            checklist.pop(item, None)
        elif (checklist.get(item) or {}).get("confirmed") is not value:
            checklist[item] = {
                "confirmed": value,
                "by": str(by) if by else None,
                "at": utcnow().isoformat(),
            }
    agreement.checklist = checklist  # a new dict, so the JSONB column is seen as changed


def check_rules(agreement: Agreement, child: Child) -> None:
    """The rules on the whole (merged) draft; raises 422 naming the field."""
    if agreement.ends_on <= agreement.starts_on:
        raise Unprocessable.field("ends_on", "must be after starts_on", code="ends_before_start")
    age = id_numbers.age_on(agreement.caregiver_birth_date, agreement.starts_on)
    if age < MIN_CAREGIVER_AGE:
        raise Unprocessable.field(
            "caregiver.id_number",
            f"the caregiver is {age} on starts_on ({agreement.starts_on}); an entrusted "
            f"caregiver must be {MIN_CAREGIVER_AGE} or over (Minors Protection Law art. 22)",
            code="caregiver_under_18",
        )
    if agreement.caregiver_id_number_hash == agreement.guardian_id_number_hash:
        raise Unprocessable.field(
            "caregiver.id_number",
            "the caregiver must be another person than the guardian",
            code="caregiver_is_guardian",
        )
    today = china_today()
    for name in ("school_notified_on", "village_committee_notified_on"):
        value = getattr(agreement, name)
        if value is not None and value > today:
            raise Unprocessable.field(name, "may not be in the future", code="date_in_future")


def _fingerprint(data_key: str, child_id: uuid.UUID, body: AgreementCreate) -> str:
    content = body.model_dump(mode="json", exclude={"id"})
    content["child_id"] = str(child_id)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Keyed: the request holds ID numbers, which a plain hash would not protect.
    return lookup_hash(data_key, canonical, purpose="agreement_create")


def _replay(existing: Agreement, child_id: uuid.UUID, fingerprint: str) -> Agreement:
    if existing.child_id != child_id or existing.create_fingerprint != fingerprint:
        raise client_ids.IdTaken()
    return existing


def record_change(
    session: AsyncSession,
    agreement: Agreement,
    old: str | None,
    new: str,
    by: uuid.UUID | None,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    session.add(
        AgreementStatusChange(
            agreement_id=agreement.id,
            county_code=agreement.county_code,
            area_code=agreement.area_code,
            old_status=old,
            new_status=new,
            reason=reason,
            note=note,
            changed_by=by,
        )
    )


def _new_draft(
    child: Child, body: AgreementCreate, data_key: str, by: uuid.UUID | None, fingerprint: str
) -> Agreement:
    g, c = body.guardian, body.caregiver
    parent = _parent_record(child, g.relation)
    agreement = Agreement(
        **_caregiver_id(data_key, c.id_number),
        create_fingerprint=fingerprint,
        id=body.id or uuid.uuid4(),
        child_id=child.id,
        county_code=child.county_code,
        area_code=child.area_code,
        guardian_name=g.name,
        guardian_relation=g.relation.value,
        guardian_phone=g.phone,
        guardian_work_place=g.work_place or parent.get("work_place"),
        guardian_away_since=g.away_since or _iso_date(parent.get("away_since")),
        caregiver_name=c.name,
        caregiver_relation=c.relation.value,
        caregiver_phone=c.phone,
        caregiver_address=c.address,
        school_notified_on=body.school_notified_on,
        village_committee_notified_on=body.village_committee_notified_on,
        times_per_week_child=body.times_per_week_child,
        times_per_week_caregiver=body.times_per_week_caregiver,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        status=AgreementStatus.draft.value,
        created_by=by,
        updated_by=by,
    )
    _set_guardian_id(agreement, data_key, g.id_number)
    apply_checklist(agreement, body.checklist, by)
    return agreement


async def create(
    session: AsyncSession,
    scope: Scope,
    data_key: str,
    child_id: uuid.UUID,
    body: AgreementCreate,
) -> tuple[Agreement, bool]:
    """A new draft for a child in scope; answers (agreement, created). A retry with the same
    id and content answers the stored agreement; the same id with other content is 409."""
    scope.require(Action.agreement_edit)
    child = await load_child(session, scope, child_id)
    fingerprint = _fingerprint(data_key, child_id, body)
    if body.id is not None:
        existing = await session.get(Agreement, body.id)
        if existing is not None:
            return _replay(existing, child_id, fingerprint), False
    require_parent_away(child)
    agreement = _new_draft(child, body, data_key, scope.user_id, fingerprint)
    check_rules(agreement, child)
    try:
        async with session.begin_nested():
            session.add(agreement)
    except IntegrityError:
        # The same id was created concurrently (a retry racing the first call).
        existing = await session.get(Agreement, agreement.id)
        if existing is None:
            raise
        return _replay(existing, child_id, fingerprint), False
    record_change(session, agreement, None, AgreementStatus.draft.value, scope.user_id)
    await audit.record(session, scope, "create", RESOURCE, agreement.id, agreement.area_code)
    await session.refresh(agreement)
    return agreement, True


def _patch_guardian(agreement: Agreement, patch: GuardianPatch, data_key: str) -> None:
    fields = patch.model_fields_set
    for required in ("name", "relation"):
        if required in fields and getattr(patch, required) is None:
            raise Unprocessable.field(f"guardian.{required}", "may not be null")
    if patch.name is not None:
        agreement.guardian_name = patch.name
    if patch.relation is not None:
        agreement.guardian_relation = patch.relation.value
    if "phone" in fields:
        agreement.guardian_phone = patch.phone
    if "id_number" in fields:
        _set_guardian_id(agreement, data_key, patch.id_number)
    if "work_place" in fields:
        agreement.guardian_work_place = patch.work_place
    if "away_since" in fields:
        agreement.guardian_away_since = patch.away_since


def _patch_caregiver(agreement: Agreement, patch: CaregiverPatch, data_key: str) -> None:
    fields = patch.model_fields_set
    for required in ("name", "relation", "id_number"):
        if required in fields and getattr(patch, required) is None:
            raise Unprocessable.field(f"caregiver.{required}", "may not be null")
    if patch.name is not None:
        agreement.caregiver_name = patch.name
    if patch.relation is not None:
        agreement.caregiver_relation = patch.relation.value
    if "phone" in fields:
        agreement.caregiver_phone = patch.phone
    if patch.id_number is not None:
        columns = _caregiver_id(data_key, patch.id_number)
        if columns["caregiver_id_number_hash"] != agreement.caregiver_id_number_hash:
            for name, value in columns.items():
                setattr(agreement, name, value)
    if "address" in fields:
        agreement.caregiver_address = patch.address


_REQUIRED_TOP = ("times_per_week_child", "times_per_week_caregiver", "starts_on", "ends_on")
_OPTIONAL_TOP = ("school_notified_on", "village_committee_notified_on")


async def update(
    session: AsyncSession,
    scope: Scope,
    data_key: str,
    agreement_id: uuid.UUID,
    body: AgreementUpdate,
    expected_version: int,
) -> Agreement:
    scope.require(Action.agreement_edit)
    agreement = await load(session, scope, agreement_id, for_update=True)
    require_draft(agreement, "edited")
    check_version(agreement, expected_version)
    fields = body.model_fields_set
    for name in _REQUIRED_TOP:
        if name in fields:
            value = getattr(body, name)
            if value is None:
                raise Unprocessable.field(name, "may not be null")
            setattr(agreement, name, value)
    for name in _OPTIONAL_TOP:
        if name in fields:
            setattr(agreement, name, getattr(body, name))
    if body.guardian is not None:
        _patch_guardian(agreement, body.guardian, data_key)
    if body.caregiver is not None:
        _patch_caregiver(agreement, body.caregiver, data_key)
    if body.checklist is not None:
        apply_checklist(agreement, body.checklist, scope.user_id)
    child = await session.get(Child, agreement.child_id)
    assert child is not None  # a foreign key
    check_rules(agreement, child)
    if unchanged(session, agreement):
        return agreement  # equal values: the version, the ETag and the audit trail stay
    touch(agreement, scope)
    await session.flush()
    await audit.record(session, scope, "update", RESOURCE, agreement.id, agreement.area_code)
    await session.refresh(agreement)
    return agreement


def touch(agreement: Agreement, scope: Scope) -> None:
    agreement.version += 1
    agreement.updated_at = utcnow()
    agreement.updated_by = scope.user_id


async def get(session: AsyncSession, scope: Scope, agreement_id: uuid.UUID) -> Agreement:
    scope.require(Action.agreement_read)
    agreement = await load(session, scope, agreement_id)
    await audit.record(session, scope, "read", RESOURCE, agreement.id, agreement.area_code)
    return agreement


async def history(
    session: AsyncSession, scope: Scope, agreement_id: uuid.UUID
) -> list[AgreementStatusChange]:
    agreement = await get(session, scope, agreement_id)
    stmt = (
        select(AgreementStatusChange)
        .where(col(AgreementStatusChange.agreement_id) == agreement.id)
        .order_by(col(AgreementStatusChange.id))
    )
    return list((await session.execute(stmt)).scalars())
