from __future__ import annotations

import json

import pytest

from childprotect_api.cli import main
from childprotect_api.services.bootstrap import create_user_cli, import_areas_cli


def test_openapi_out(tmp_path):
    out = tmp_path / "o.json"
    assert main(["openapi", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["info"]["title"] == "childprotect-api"


def test_bad_arguments_exit_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["create-user", "--role", "wizard", "--username", "x", "--password", "y"])
    assert e.value.code == 2
    assert main(["serve", "--workers", "0"]) == 2
    assert main(["import-areas", "/no/such/file.csv"]) == 2


def test_serve_refuses_unsafe_config(monkeypatch, capsys):
    from childprotect_api.config import get_settings

    monkeypatch.setenv("CHILDPROTECT_ENV", "production")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 2
        err = capsys.readouterr().err
        assert "CHILDPROTECT_JWT_KEYS" in err and "DATABASE_URL" in err
    finally:
        get_settings.cache_clear()


async def test_create_user_cli(database_url):
    await import_areas_cli(database_url, "62,甘肃省,\n6207,张掖市,62\n")
    problem = await create_user_cli(
        database_url,
        username="root",
        password="weak",
        role="admin",
        area=None,
        display_name="root",
        phone=None,
    )
    assert problem and "password" in problem
    problem = await create_user_cli(
        database_url,
        username="root",
        password="Admin-Secret-99",
        role="admin",
        area=None,
        display_name="root",
        phone=None,
    )
    assert problem is None
    problem = await create_user_cli(
        database_url,
        username="root",
        password="Admin-Secret-99",
        role="admin",
        area=None,
        display_name="root",
        phone=None,
    )
    assert problem and "username" in problem
    problem = await create_user_cli(
        database_url,
        username="bad",
        password="Admin-Secret-99",
        role="county_officer",
        area="6207",
        display_name="x",
        phone=None,
    )
    assert problem and "area_code" in problem
