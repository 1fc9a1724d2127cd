"""Photos of an activity (sign-in sheets, the event), at most 20 an activity. Storage, type
checks and size limits are services/attachments.py's, as for visits."""

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
from childprotect_api.services.activities.service import load_activity

MAX_ATTACHMENTS = 20
OWNER_TYPE = "activity"


async def add_attachment(
    session: AsyncSession, scope: Scope, activity_id: uuid.UUID, upload: UploadFile, max_bytes: int
) -> tuple[Attachment, bool]:
    scope.require(Action.activity_log)
    # Locked so that concurrent uploads count each other against the limit.
    activity = await load_activity(session, scope, activity_id, lock=True)
    attachment, created = await attachments.store(
        session,
        owner_type=OWNER_TYPE,
        owner_id=activity.id,
        area_code=activity.area_code,
        upload=upload,
        max_bytes=max_bytes,
        created_by=scope.user_id,
    )
    if created:
        count = (
            await session.execute(
                select(func.count()).where(
                    col(Attachment.owner_type) == OWNER_TYPE,
                    col(Attachment.owner_id) == activity.id,
                )
            )
        ).scalar_one()
        if count > MAX_ATTACHMENTS:
            raise Conflict(
                f"an activity holds at most {MAX_ATTACHMENTS} files", code="too_many_attachments"
            )
        await audit.record(session, scope, "attach", "activity", activity.id, activity.area_code)
    return attachment, created


async def list_attachments(
    session: AsyncSession, scope: Scope, activity_id: uuid.UUID
) -> list[Attachment]:
    scope.require(Action.activity_log)
    activity = await load_activity(session, scope, activity_id)
    return await attachments.list_for(session, OWNER_TYPE, activity.id)


async def download_attachment(
    session: AsyncSession, scope: Scope, activity_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    scope.require(Action.activity_log)
    activity = await load_activity(session, scope, activity_id)
    attachment = await attachments.get(session, scope, OWNER_TYPE, activity.id, attachment_id)
    await audit.record(session, scope, "download", "attachment", attachment.id, activity.area_code)
    return attachments.download(attachment)
