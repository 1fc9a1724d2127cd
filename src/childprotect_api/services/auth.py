"""Login, refresh-token rotation with reuse detection, logout, and login throttling."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core.errors import AppError, TooManyRequests
from childprotect_api.models.auth import LoginThrottle, RefreshToken, TokenFamily
from childprotect_api.models.base import utcnow
from childprotect_api.models.user import User
from childprotect_api.schemas.auth import TokenResponse
from childprotect_api.security.passwords import verify_password
from childprotect_api.security.rate_limit import LoginSourceLimit
from childprotect_api.security.tokens import (
    create_access_token,
    hash_refresh_token,
    new_device_token,
    new_refresh_token,
    read_device_token,
)


class InvalidGrant(AppError):
    """OAuth2 `invalid_grant`: wrong credentials or a dead refresh token (RFC 6749 5.2)."""

    status_code = 400
    code = "invalid_grant"
    title = "Invalid grant"


def _throttle_key(settings: Settings, login: str) -> str:
    return hmac.new(
        settings.data_key.encode(), b"login:" + login.strip().lower().encode(), hashlib.sha256
    ).hexdigest()


async def _check_locked(session: AsyncSession, key: str, now: datetime) -> LoginThrottle | None:
    row = await session.get(LoginThrottle, key, with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        retry = max(1, math.ceil((row.locked_until - now).total_seconds()))
        raise TooManyRequests(
            "too many failed logins; try again later",
            code="login_locked",
            headers={"Retry-After": str(retry)},
        )
    return row


async def _record_failure(
    session: AsyncSession, settings: Settings, key: str, row: LoginThrottle | None, now: datetime
) -> None:
    if row is None:
        row = LoginThrottle(key=key, failures=0)
        session.add(row)
    # Failures older than the lock window are forgotten.
    window = timedelta(minutes=settings.login_lock_minutes)
    if row.last_failure_at is not None and now - row.last_failure_at > window:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= settings.login_max_failures:
        row.locked_until = now + window
        row.failures = 0
    await session.flush()


async def _issue(
    session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID
) -> TokenResponse:
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            family_id=family_id,
            token_hash=token_hash,
            expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    access, expires_in = create_access_token(
        settings,
        subject=user.id,
        kind="user",
        role=user.role,
        area=user.area_code or "",
        session_id=family_id,
    )
    await session.flush()
    return TokenResponse(access_token=access, expires_in=expires_in, refresh_token=token)


async def password_grant(
    session: AsyncSession,
    settings: Settings,
    login: str,
    password: str,
    source: LoginSourceLimit,
    device_token: str | None = None,
) -> tuple[TokenResponse | None, AppError | None]:
    """Answer tokens, or the error to send. Failures are answered rather than raised so the
    throttle row they wrote is committed with the request.

    Three counters (README Security, "Lockout"): failures per account (its username and phone
    together; a name that is no account has its own), failures per source address across all
    names, and failures per known device. A login from the owner's known device (a valid
    `device_token` of this account) is counted on that device only: failures elsewhere,
    however many, never refuse it."""
    now = utcnow()
    user = (
        await session.execute(
            select(User).where(or_(col(User.username) == login, col(User.phone) == login)).limit(1)
        )
    ).scalar_one_or_none()
    device = read_device_token(settings, device_token)
    known_device = device is not None and user is not None and device.user_id == user.id
    if known_device:
        assert device is not None
        key = _throttle_key(settings, "device:" + device.nonce)
    else:
        await source.check()
        key = _throttle_key(settings, f"account:{user.id}" if user is not None else login)
    throttle = await _check_locked(session, key, now)
    ok, new_hash = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await _record_failure(session, settings, key, throttle, now)
        if not known_device:
            await source.failed()
        # Each failure in a row answers a little later, before the lock takes over.
        failures = throttle.failures if throttle is not None else 1
        await asyncio.sleep(min(settings.login_failure_delay_seconds * failures, 2.0))
        return None, InvalidGrant("wrong login or password")
    if throttle is not None:
        throttle.failures = 0
        throttle.locked_until = None
    if new_hash:
        user.password_hash = new_hash
    family = TokenFamily(user_id=user.id)
    session.add(family)
    await session.flush()
    tokens = await _issue(session, settings, user, family.id)
    tokens.device_token = device_token if known_device else new_device_token(settings, user.id)
    return tokens, None


async def refresh_grant(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> tuple[TokenResponse | None, AppError | None]:
    now = utcnow()
    row = (
        await session.execute(
            select(RefreshToken)
            .where(col(RefreshToken.token_hash) == hash_refresh_token(refresh_token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        return None, InvalidGrant("unknown refresh token")
    family = await session.get(TokenFamily, row.family_id, with_for_update=True)
    assert family is not None
    if row.used_at is not None:
        # A rotated token came back: someone holds a copy. End the whole session.
        if family.revoked_at is None:
            family.revoked_at = now
            family.revoked_reason = "refresh_reuse"
            await session.flush()
        return None, InvalidGrant("refresh token reused; the session is revoked")
    if family.revoked_at is not None or row.expires_at <= now:
        return None, InvalidGrant("the session has ended")
    user = await session.get(User, family.user_id)
    if user is None or not user.is_active:
        return None, InvalidGrant("the account is inactive")
    row.used_at = now
    await session.flush()
    return await _issue(session, settings, user, family.id), None


async def logout(
    session: AsyncSession,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    refresh_token: str | None,
) -> None:
    ids = {session_id} if session_id else set()
    if refresh_token:
        fam = (
            await session.execute(
                select(col(RefreshToken.family_id)).where(
                    col(RefreshToken.token_hash) == hash_refresh_token(refresh_token)
                )
            )
        ).scalar_one_or_none()
        if fam:
            ids.add(fam)
    if ids:
        await session.execute(
            update(TokenFamily)
            .where(
                col(TokenFamily.id).in_(ids),
                col(TokenFamily.user_id) == user_id,
                col(TokenFamily.revoked_at).is_(None),
            )
            .values(revoked_at=utcnow(), revoked_reason="logout")
        )
