from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_role: str
    client_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: uuid.UUID | None
    area_code: str | None
    request_id: str | None
    row_count: int | None = None
    purpose: str | None = None
