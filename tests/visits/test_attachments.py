from __future__ import annotations

import io
import uuid

import pytest
from fastapi import UploadFile

from childprotect_api.core.errors import PayloadTooLarge, UnsupportedMediaType
from childprotect_api.services import attachments
from tests.conftest import VILLAGE

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("data", "kind"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (PDF, "application/pdf"), (b"hello", None)],
)
def test_sniff(data, kind):
    assert attachments.sniff(data) == kind


def _upload(data: bytes, name: str) -> UploadFile:
    return UploadFile(io.BytesIO(data), filename=name)


async def test_store_is_idempotent_and_checks_content(session, world):
    owner = uuid.uuid4()
    kw = {
        "owner_type": "visit",
        "owner_id": owner,
        "area_code": VILLAGE,
        "max_bytes": 1000,
        "created_by": None,
    }
    a, created = await attachments.store(session, upload=_upload(PNG, "../../home.png"), **kw)
    assert created and a.content_type == "image/png" and a.filename == "home.png"
    b, created = await attachments.store(session, upload=_upload(PNG, "again.png"), **kw)
    assert not created and b.id == a.id
    with pytest.raises(UnsupportedMediaType):
        await attachments.store(session, upload=_upload(b"just text", "photo.jpg"), **kw)
    with pytest.raises(PayloadTooLarge):
        await attachments.store(session, upload=_upload(JPEG + b"x" * 2000, "big.jpg"), **kw)
    assert len(await attachments.list_for(session, "visit", owner)) == 1
