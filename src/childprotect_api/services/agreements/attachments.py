"""Scans of signed agreements, stored as generic attachments with owner_type "agreement" (the
same content-type, size and idempotency checks as visit photos)."""

from __future__ import annotations

import uuid

from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import audit
from childprotect_api.models.attachment import Attachment
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services import attachments
from childprotect_api.services.agreements.service import load

OWNER_TYPE = "agreement"


async def attach(
    session: AsyncSession,
    scope: Scope,
    agreement_id: uuid.UUID,
    upload: UploadFile,
    max_bytes: int,
) -> tuple[Attachment, bool]:
    scope.require(Action.agreement_edit)
    agreement = await load(session, scope, agreement_id)
    attachment, created = await attachments.store(
        session,
        owner_type=OWNER_TYPE,
        owner_id=agreement.id,
        area_code=agreement.area_code,
        upload=upload,
        max_bytes=max_bytes,
        created_by=scope.user_id,
    )
    if created:
        await audit.record(session, scope, "attach", OWNER_TYPE, agreement.id, agreement.area_code)
    return attachment, created


async def list_attachments(
    session: AsyncSession, scope: Scope, agreement_id: uuid.UUID
) -> list[Attachment]:
    scope.require(Action.agreement_read)
    agreement = await load(session, scope, agreement_id)
    return await attachments.list_for(session, OWNER_TYPE, agreement.id)


async def get_attachment(
    session: AsyncSession, scope: Scope, agreement_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment:
    scope.require(Action.agreement_read)
    agreement = await load(session, scope, agreement_id)
    attachment = await attachments.get(session, scope, OWNER_TYPE, agreement.id, attachment_id)
    await audit.record(
        session, scope, "read_attachment", OWNER_TYPE, agreement.id, agreement.area_code
    )
    return attachment
