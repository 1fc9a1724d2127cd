from __future__ import annotations

import pytest

from childprotect_api.config import DEFAULT_JWT_KEY, ConfigError, Settings


def test_local_accepts_defaults():
    assert Settings(env="local").signing_keys == [DEFAULT_JWT_KEY]


@pytest.mark.parametrize("env", ["staging", "production"])
def test_outside_local_refuses_default_keys(env):
    with pytest.raises(ConfigError) as e:
        Settings(env=env, DATABASE_URL="postgresql://x/y")
    assert "JWT" in str(e.value)


def test_production_with_real_keys():
    s = Settings(
        env="production",
        DATABASE_URL="postgresql://x/y",
        jwt_keys="k" * 40 + ",old" + "o" * 40,
        data_key="d" * 40,
    )
    assert len(s.signing_keys) == 2


def test_production_needs_database_url():
    with pytest.raises(ConfigError):
        Settings(env="production", jwt_keys="k" * 40, data_key="d" * 40)
