from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from childprotect_api.models.client import ClientScope
from childprotect_api.schemas.area import AREA_CODE_PATTERN


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["民乐县教育局学籍系统"])
    area_code: str = Field(pattern=AREA_CODE_PATTERN, description="An area of any level.")
    scopes: list[ClientScope] = Field(min_length=1, max_length=len(ClientScope))

    @field_validator("scopes")
    @classmethod
    def _unique(cls, v: list[ClientScope]) -> list[ClientScope]:
        if len(set(v)) != len(v):
            raise ValueError("scopes must not repeat")
        return v


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="The OAuth2 client_id.")
    name: str
    area_code: str
    scopes: list[ClientScope]
    is_active: bool
    version: int
    created_at: datetime | None = None


class ClientWithSecret(ClientRead):
    client_secret: str = Field(
        description="Shown once, at creation or rotation; only its hash is stored."
    )
