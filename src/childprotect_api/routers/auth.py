from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse

from childprotect_api.core.db import SessionDep
from childprotect_api.core.errors import AppError, Problem, problem_response
from childprotect_api.models.area import Area
from childprotect_api.models.user import User
from childprotect_api.schemas.auth import LogoutRequest, Me, OAuthError, TokenError, TokenResponse
from childprotect_api.security.rate_limit import LoginSourceLimit
from childprotect_api.security.scope import CurrentScope
from childprotect_api.services import auth as auth_service

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

GRANTS = ("password", "refresh_token", "client_credentials")


def _error(request: Request, err: AppError) -> JSONResponse:
    """The problem+json with RFC 6749's `error` / `error_description` beside it (a lockout
    is the grant's: `invalid_grant`)."""
    oauth = err.code if err.code in OAuthError.__members__ else OAuthError.invalid_grant
    return problem_response(
        err.status_code,
        err.title,
        err.code,
        err.detail,
        err.errors,
        err.headers,
        getattr(request.state, "request_id", None),
        extra={"error": str(oauth), "error_description": err.detail or err.title},
    )


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Client credentials from HTTP Basic auth (RFC 6749 2.3.1: each part form-urlencoded)."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = raw.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/token",
    operation_id="createToken",
    response_model=TokenResponse,
    responses={
        400: {
            "model": TokenError,
            "description": "invalid_grant, invalid_scope, invalid_request or "
            "unsupported_grant_type",
        },
        401: {"model": TokenError, "description": "invalid_client (client_credentials)"},
        429: {
            "model": TokenError,
            "description": "login_locked (an account or device after repeated failures) or "
            "login_rate_limited (too many failures from this address); `error`: invalid_grant",
        },
    },
)
async def create_token(
    request: Request,
    response: Response,
    session: SessionDep,
    grant_type: Annotated[str, Form(description="password, refresh_token or client_credentials")],
    username: Annotated[str | None, Form(description="Username or phone")] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    device_token: Annotated[
        str | None,
        Form(description="Password grant: the `device_token` an earlier login on this device got"),
    ] = None,
) -> TokenResponse | JSONResponse:
    """OAuth2 token endpoint (RFC 6749): password, refresh_token and client_credentials.
    Integration clients send client_id and client_secret as form fields or with HTTP Basic
    auth, and may narrow their scopes with `scope` (space-separated)."""
    settings = request.app.state.settings
    response.headers["Cache-Control"] = "no-store"
    if grant_type == "password":
        if not username or not password:
            return _error(request, auth_service.InvalidGrant("username and password are required"))
        tokens, err = await auth_service.password_grant(
            session,
            settings,
            username,
            password,
            LoginSourceLimit.for_request(request),
            device_token,
        )
    elif grant_type == "refresh_token":
        if not refresh_token:
            return _error(request, auth_service.InvalidGrant("refresh_token is required"))
        tokens, err = await auth_service.refresh_grant(session, settings, refresh_token)
    elif grant_type == "client_credentials" and request.app.state.client_grant is not None:
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:
            if client_id or client_secret:
                return _error(
                    request,
                    AppError("use one way to send client credentials", code="invalid_request"),
                )
            client_id, client_secret = basic
        tokens, err = await request.app.state.client_grant(
            session,
            settings,
            client_id,
            client_secret,
            scope,
            LoginSourceLimit.for_request(request),
        )
    else:
        err = AppError(
            f"grant_type must be one of: {', '.join(GRANTS)}", code="unsupported_grant_type"
        )
        tokens = None
    if err is not None:
        return _error(request, err)
    assert tokens is not None
    return tokens


@router.post(
    "/logout",
    operation_id="logout",
    status_code=204,
    responses={401: {"model": Problem}},
)
async def logout(
    scope: CurrentScope, session: SessionDep, body: LogoutRequest | None = None
) -> Response:
    """Revoke the current login session (and the refresh token given, if any)."""
    if scope.user_id is not None:
        await auth_service.logout(
            session, scope.user_id, scope.session_id, body.refresh_token if body else None
        )
    return Response(status_code=204)


@router.get("/me", operation_id="getMe", response_model=Me, responses={401: {"model": Problem}})
async def me(scope: CurrentScope, session: SessionDep) -> Me:
    """Who the token belongs to: role, area and (for users) the account."""
    area = await session.get(Area, scope.area_code) if scope.area_code else None
    if scope.user_id is not None:
        user = await session.get(User, scope.user_id)
        assert user is not None
        return Me(
            id=user.id,
            kind="user",
            username=user.username,
            display_name=user.display_name,
            phone=user.phone,
            role=user.role,
            area_code=user.area_code,
            area_name=area.name if area else None,
            is_active=user.is_active,
        )
    return Me(
        id=scope.actor_id,
        kind="client",
        role=scope.role,
        area_code=scope.area_code or None,
        area_name=area.name if area else None,
        scopes=sorted(scope.scopes),
    )
