"""Settings from the environment, refusing unsafe defaults outside local mode."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from childprotect_api.security.netguard import IPNetwork, parse_networks

# Local-only defaults. Outside CHILDPROTECT_ENV=local the app refuses to start with them.
DEFAULT_JWT_KEY = "local-dev-signing-key-change-me-0123456789abcdef"
DEFAULT_DATA_KEY = "local-dev-data-key-change-me-0123456789abcdef"


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHILDPROTECT_", extra="ignore")

    env: Literal["local", "test", "staging", "production"] = "local"
    # Plain names (no prefix) for the database URLs, as every deployment tool expects them.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    database_replica_url: str | None = Field(default=None, validation_alias="DATABASE_REPLICA_URL")
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("childprotect-api"))
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Bounded waits on the database (seconds): a new connection, one statement (0: no limit),
    # a free pooled connection. Past them a request answers 503 database_unavailable.
    db_connect_timeout_seconds: float = 5.0
    db_command_timeout_seconds: float = 60.0
    # One statement of a request (reads, single writes, the sync push and feed; 0: the command
    # timeout): short, so that a frozen database answers a phone 503 within seconds. Imports,
    # exports and background work keep `db_command_timeout_seconds`.
    db_request_timeout_seconds: float = 8.0
    db_pool_timeout_seconds: float = 10.0
    # Test a pooled connection before use (three round trips on asyncpg, about a millisecond
    # a request). Off: a connection the server closed is replaced at checkout, and a dead one
    # found when the request begins is replaced and the BEGIN retried once (db.RequestSession.open).
    # Outages answer 503 either way.
    db_pool_pre_ping: bool = False

    # On SIGTERM/SIGINT `serve` stops accepting, then waits at most this long (seconds) for
    # the requests in flight before it stops the background jobs and the database.
    shutdown_grace_seconds: int = Field(default=20, ge=0)
    # Transaction pooling (PgBouncer pool_mode=transaction, older than 1.21): no server-side
    # prepared statements are kept across transactions (asyncpg's statement cache is off and
    # each statement is prepared unnamed), since the next transaction may run on another
    # server connection.
    db_transaction_pooling: bool = False
    # Logs: "text" (human-readable lines) or "json" (one JSON object per line).
    log_format: Literal["text", "json"] = "text"
    # GET /metrics (Prometheus text format) answers only with this bearer token (unset: 404).
    metrics_token: str | None = None

    # Access tokens are HS256 JWTs; several keys allow rotation (the first signs).
    jwt_keys: str = DEFAULT_JWT_KEY
    jwt_issuer: str = "childprotect-api"
    access_token_minutes: int = 15
    refresh_token_days: int = 30

    # Application key for ID numbers at rest (AES-GCM) and their lookup hash (HMAC).
    data_key: str = DEFAULT_DATA_KEY

    # Lockout (README Security): failures per account (username and phone together) or per
    # known device before a lock of `login_lock_minutes`; failures per source address (any
    # name, passwords and client secrets) per window of `login_lock_minutes`.
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_minutes: int = Field(default=15, ge=1)
    login_source_max_failures: int = Field(default=20, ge=1)
    login_failure_delay_seconds: float = 0.25

    max_upload_bytes: int = 10 * 1024 * 1024
    # Imports of more rows than this run as a background job (202 and a job id).
    import_sync_max_rows: int = 500
    # A running job renews its lease every quarter of this; a job whose lease ran out (its
    # process was killed) is marked failed by any API process (core/jobs.py).
    job_lease_seconds: float = 120.0
    # Idempotency-Key answers are kept this long (then pruned hourly); a retry with the same
    # key after that runs again, which the create endpoints' own client ids make harmless.
    idempotency_key_hours: int = 24
    # POST /sync/push: operations per batch (more: 413 `too_many_operations`), and how long
    # applied offline updates are remembered so that a re-sent one answers `unchanged`.
    sync_push_max_operations: int = 500
    sync_push_ledger_days: int = 30
    # Requests per minute per user/client on expensive endpoints, by bucket.
    rate_limits: dict[str, int] = Field(
        default_factory=lambda: {"default": 60, "stats": 30, "export": 10, "sync": 60, "import": 10}
    )
    # Webhooks are never delivered to loopback, private, link-local, multicast, reserved or
    # unspecified addresses (checked after DNS, at every delivery), except to the networks
    # listed here: comma-separated CIDRs, e.g. "10.20.0.0/16,fd12::/48" for a private
    # deployment whose receivers live on its own network. Empty (the default): none.
    webhook_allow_networks: str = ""
    # "A child with this ID number is registered in another area" (the one-record rule, for a
    # record outside the caller's scope) at most this many times a day per user or client;
    # past it 429 `rate_limited`. Every such answer is audited (`child.exists_elsewhere`).
    exists_elsewhere_per_day: int = 20
    # Background jobs in each API process (webhooks, overdue reports...); tests turn them off.
    jobs_enabled: bool = True
    retention_days: int = 365 * 5
    # Offline sync: change-log rows older than this are pruned (a cursor that old answers
    # 410), and closed children drop off phones this long after closing.
    sync_log_days: int = Field(default=90, ge=2)
    sync_keep_closed_days: int = Field(default=30, ge=0)

    @property
    def signing_keys(self) -> list[str]:
        return [k.strip() for k in self.jwt_keys.split(",") if k.strip()]

    @property
    def webhook_allowed_networks(self) -> list[IPNetwork]:
        return parse_networks(self.webhook_allow_networks)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        try:
            self.webhook_allowed_networks  # noqa: B018  (parsed to be checked)
        except ValueError as e:
            raise ConfigError(f"CHILDPROTECT_WEBHOOK_ALLOW_NETWORKS: {e}") from None
        if self.env == "local" or self.env == "test":
            return self
        problems = []
        keys = self.signing_keys
        if not keys or DEFAULT_JWT_KEY in keys or any(len(k) < 32 for k in keys):
            problems.append("CHILDPROTECT_JWT_KEYS must be set to secret keys of 32+ characters")
        if self.data_key == DEFAULT_DATA_KEY or len(self.data_key) < 32:
            problems.append("CHILDPROTECT_DATA_KEY must be set to a secret of 32+ characters")
        if not self.database_url:
            problems.append("DATABASE_URL must be set")
        if problems:
            raise ConfigError(f"unsafe configuration for env={self.env}: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
