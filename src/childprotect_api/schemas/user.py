from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from childprotect_api.models.activity import Qualification
from childprotect_api.models.user import Role
from childprotect_api.schemas.area import AREA_CODE_PATTERN

USERNAME_PATTERN = r"^[A-Za-z0-9_.\-]{3,64}$"
PHONE_PATTERN = r"^\+?[0-9]{6,20}$"


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=64)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    role: Role
    area_code: str | None = Field(
        default=None, pattern=AREA_CODE_PATTERN, description="null only for system admins"
    )
    password: str = Field(min_length=1, max_length=128)


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    role: Role | None = None
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN)
    qualifications: list[Qualification] | None = Field(
        default=None,
        max_length=len(Qualification),
        description="The whole list of qualifications held (社工证, ...); county officers only.",
    )


class PasswordChange(BaseModel):
    current_password: str | None = Field(
        default=None, description="Required when changing one's own password."
    )
    new_password: str = Field(min_length=1, max_length=128)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    display_name: str
    phone: str | None
    role: Role
    area_code: str | None
    qualifications: list[Qualification] = Field(default_factory=list)
    is_active: bool
    version: int
    created_at: datetime | None = None
