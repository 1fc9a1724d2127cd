"""Photos of the 探访登记表 and the home, and scans, attached to a visit. They belong to the
visit as a whole (its original id), so every version of it shows them; at most 20 a visit.
Storage and type checks are services/attachments.py's."""

from __future__ import annotations

import uuid

from fastapi import UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.core import audit
from childprotect_api.core.errors import Conflict
from childprotect_api.models.attachment import Attachment
from childprotect_api.security.scope import Action, Scope
from childprotect_api.services import attachments
from childprotect_api.services.visits.service import load_visit

MAX_ATTACHMENTS = 20
OWNER_TYPE = "visit"


async def add_attachment(
    session: AsyncSession, scope: Scope, visit_id: uuid.UUID, upload: UploadFile, max_bytes: int
) -> tuple[Attachment, bool]:
    scope.require(Action.visit_log)
    # Locked so that concurrent uploads count each other against the limit.
    visit = await load_visit(session, scope, visit_id, lock=True)
    attachment, created = await attachments.store(
        session,
        owner_type=OWNER_TYPE,
        owner_id=visit.original_id,
        area_code=visit.area_code,
        upload=upload,
        max_bytes=max_bytes,
        created_by=scope.user_id,
    )
    if created:
        count = (
            await session.execute(
                select(func.count()).where(
                    col(Attachment.owner_type) == OWNER_TYPE,
                    col(Attachment.owner_id) == visit.original_id,
                )
            )
        ).scalar_one()
        if count > MAX_ATTACHMENTS:
            raise Conflict(
                f"a visit holds at most {MAX_ATTACHMENTS} files", code="too_many_attachments"
            )
        await audit.record(session, scope, "attach", "visit", visit.id, visit.area_code)
    return attachment, created


async def list_attachments(
    session: AsyncSession, scope: Scope, visit_id: uuid.UUID
) -> list[Attachment]:
    scope.require(Action.visit_log)
    visit = await load_visit(session, scope, visit_id)
    return await attachments.list_for(session, OWNER_TYPE, visit.original_id)


async def download_attachment(
    session: AsyncSession, scope: Scope, visit_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    scope.require(Action.visit_log)
    visit = await load_visit(session, scope, visit_id)
    attachment = await attachments.get(session, scope, OWNER_TYPE, visit.original_id, attachment_id)
    await audit.record(session, scope, "download", "attachment", attachment.id, visit.area_code)
    return attachments.download(attachment)
