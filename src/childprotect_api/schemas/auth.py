from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from childprotect_api.core.errors import Problem
from childprotect_api.models.client import ClientScope


class OAuthError(StrEnum):
    """RFC 6749 5.2 error codes of the token endpoint."""

    invalid_request = "invalid_request"
    invalid_client = "invalid_client"
    invalid_grant = "invalid_grant"
    unauthorized_client = "unauthorized_client"
    unsupported_grant_type = "unsupported_grant_type"
    invalid_scope = "invalid_scope"


class TokenError(Problem):
    """A token endpoint error: problem+json, with RFC 6749's `error` and `error_description`
    so OAuth2 libraries recognise it."""

    error: OAuthError
    error_description: str | None = None


class PrincipalKind(StrEnum):
    user = "user"
    client = "client"


class PrincipalRole(StrEnum):
    """A user's role (Role), or `integration` for an integration client."""

    village_director = "village_director"
    township_supervisor = "township_supervisor"
    county_officer = "county_officer"
    reporter = "reporter"
    auditor = "auditor"
    admin = "admin"
    integration = "integration"


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the OAuth2 token type)
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
    kind: PrincipalKind
    username: str | None = None
    display_name: str | None = None
    phone: str | None = None
    role: PrincipalRole
    area_code: str | None
    area_name: str | None = None
    is_active: bool = True
    scopes: list[ClientScope] = Field(default=[], description="An integration client's scopes.")
