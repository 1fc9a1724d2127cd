"""Attachment rules: the type is decided by the content (JPEG, PNG or PDF), never by the name;
a size limit; a retried upload of the same file answers the stored one."""

from __future__ import annotations

import hashlib
import re
import uuid
from urllib.parse import quote

from fastapi import UploadFile
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from childprotect_api.core.errors import (
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from childprotect_api.models.attachment import Attachment
from childprotect_api.security.scope import Scope, in_scope

_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
]
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def sniff(data: bytes) -> str | None:
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    return None


def _safe_name(name: str | None) -> str:
    cleaned = _UNSAFE.sub("_", (name or "file").rsplit("/", 1)[-1]).strip("._")
    return (cleaned or "file")[:200]


async def read_upload(upload: UploadFile, max_bytes: int) -> tuple[bytes, str]:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes", code="file_too_large")
    if not data:
        raise Unprocessable.field("file", "is empty", code="empty_file")
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedMediaType(
            "only JPEG, PNG or PDF files are accepted (checked by content)",
            code="unsupported_file_type",
        )
    return data, content_type


async def store(
    session: AsyncSession,
    *,
    owner_type: str,
    owner_id: uuid.UUID,
    area_code: str,
    upload: UploadFile,
    max_bytes: int,
    created_by: uuid.UUID | None,
) -> tuple[Attachment, bool]:
    """Store an upload for an owner the caller has already loaded in scope. Answers
    (attachment, created); the same bytes for the same owner answer the stored row."""
    data, content_type = await read_upload(upload, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    existing = (
        await session.execute(
            select(Attachment).where(
                col(Attachment.owner_type) == owner_type,
                col(Attachment.owner_id) == owner_id,
                col(Attachment.sha256) == digest,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    attachment = Attachment(
        owner_type=owner_type,
        owner_id=owner_id,
        county_code=area_code[:6],
        area_code=area_code,
        filename=_safe_name(upload.filename),
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
        data=data,
        created_by=created_by,
    )
    session.add(attachment)
    await session.flush()
    return attachment, True


async def list_for(session: AsyncSession, owner_type: str, owner_id: uuid.UUID) -> list[Attachment]:
    stmt = (
        select(Attachment)
        .where(col(Attachment.owner_type) == owner_type, col(Attachment.owner_id) == owner_id)
        .order_by(col(Attachment.created_at), col(Attachment.id))
        # A listing never needs the bytes.
        .options(defer(Attachment.data, raiseload=True))  # type: ignore[arg-type]
    )
    return list((await session.execute(stmt)).scalars())


async def get(
    session: AsyncSession,
    scope: Scope,
    owner_type: str,
    owner_id: uuid.UUID,
    attachment_id: uuid.UUID,
) -> Attachment:
    stmt = select(Attachment).where(
        col(Attachment.id) == attachment_id,
        col(Attachment.owner_type) == owner_type,
        col(Attachment.owner_id) == owner_id,
        in_scope(scope, col(Attachment.area_code), col(Attachment.county_code)),
    )
    attachment = (await session.execute(stmt)).scalar_one_or_none()
    if attachment is None:
        raise NotFound("no such attachment")
    return attachment


def content_disposition(filename: str) -> str:
    """Headers are Latin-1: an ASCII fallback name plus the UTF-8 one (RFC 6266/5987), so
    Chinese file names (kept by `_safe_name`) download intact instead of failing."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def download(attachment: Attachment) -> Response:
    return Response(
        content=attachment.data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "ETag": f'"{attachment.sha256}"',
        },
    )
