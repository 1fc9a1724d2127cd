"""Running Alembic from code (serve, the migrate command and the tests)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from childprotect_api.core.db import to_asyncpg_url


def migrations_dir() -> Path:
    env = os.environ.get("CHILDPROTECT_MIGRATIONS_DIR")
    if env:
        return Path(env)
    # Source checkout / editable install: <repo>/src/childprotect_api/migrate.py
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", to_asyncpg_url(database_url).replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
