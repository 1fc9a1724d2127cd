from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = None
    scope: str | None = None
    device_token: str | None = Field(
        default=None,
        description="Password logins: this device's token (已知设备 known device). Send it back "
        "as the `device_token` form field on later password logins from the same device: "
        "failed logins from elsewhere never lock this device out.",
    )


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(
        default=None, description="Optional; the session of the access token is revoked anyway."
    )


class Me(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="`user` or `client`")
    username: str | None = None
    display_name: str | None = None
    phone: str | None = None
    role: str
    area_code: str | None
    area_name: str | None = None
    is_active: bool = True
    scopes: list[str] = []
