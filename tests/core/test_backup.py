"""`childprotect-api backup FILE` / `restore FILE`: a demo database (with an attachment and
encrypted ID numbers) backed up, restored into a new data folder, serves the same records."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from childprotect_api.config import Settings
from childprotect_api.core.db import Database, EmbeddedPostgres
from childprotect_api.core.migrate import upgrade
from childprotect_api.main import create_app
from childprotect_api.services.demo.loader import load_demo

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(CHILDPROTECT_ENV="local", CHILDPROTECT_DATA_DIR=str(data_dir))
    return subprocess.run(  # noqa: S603 (our own module)
        [sys.executable, "-m", "childprotect_api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class Served:
    """The API on one embedded data folder, in this process."""

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedPostgres(data_dir)
        self.url = self.embedded.start()
        self.settings = Settings(
            env="local", DATABASE_URL=self.url, jobs_enabled=False, login_failure_delay_seconds=0
        )

    async def __aenter__(self) -> httpx.AsyncClient:
        self.db = Database.create(self.url, pool_size=2, max_overflow=0)
        transport = httpx.ASGITransport(app=create_app(self.settings, self.db))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self.db.dispose()
        self.embedded.stop()


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['access_token']}"}


async def _records(client: httpx.AsyncClient, officer: dict[str, str]) -> dict[str, object]:
    """What the officer is served: every child with its ID number revealed."""
    children = []
    cursor = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/v1/children", params=params, headers=officer)
        assert page.status_code == 200, page.text
        children += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    served = {}
    for child_id in sorted(children)[:20]:
        r = await client.get(
            f"/api/v1/children/{child_id}",
            params={"reveal_id_number": "true"},
            headers=officer,
        )
        assert r.status_code == 200, r.text
        served[child_id] = r.json()
    return {"count": len(children), "children": served}


async def _visit_and_director(
    db: Database, logins: list[tuple[str, str, str, str]]
) -> tuple[str, tuple[str, str]]:
    """A visit of the demo and the login of its village's director."""
    directors = {area: (u, p) for u, p, role, area in logins if role == "village_director"}
    async with db.sessionmaker() as session:
        rows = (await session.execute(text("SELECT id, area_code FROM visits"))).all()
    for visit_id, area in rows:
        if area in directors:
            return str(visit_id), directors[area]
    raise AssertionError("the demo has no visit in a director's village")


@pytest.mark.skipif(not Path("/proc").exists(), reason="embedded PostgreSQL (Linux)")
async def test_backup_restores_into_a_new_data_folder(tmp_path):
    source, target, file = tmp_path / "a", tmp_path / "b", tmp_path / "backup.dump"
    embedded = EmbeddedPostgres(source)
    url = embedded.start()
    try:
        await asyncio.to_thread(upgrade, url)
        logins = await load_demo(url)
    finally:
        embedded.stop()
    officer_login = next((u, p) for u, p, role, _ in logins if role == "county_officer")

    served = Served(source)
    async with served as client:
        visit_id, director_login = await _visit_and_director(served.db, logins)
        director = await _login(client, *director_login)
        up = await client.post(
            f"/api/v1/visits/{visit_id}/attachments",
            files={"file": ("photo.png", PNG, "image/png")},
            headers=director,
        )
        assert up.status_code == 201, up.text
        attachment_path = f"/api/v1/visits/{visit_id}/attachments/{up.json()['id']}"
        officer = await _login(client, *officer_login)
        before = await _records(client, officer)
    assert before["count"] > 0 and before["children"]
    assert all(c.get("id_number") for c in before["children"].values())  # type: ignore[union-attr]

    done = _cli(source, "backup", str(file))
    assert done.returncode == 0, done.stderr[-2000:]
    assert file.stat().st_size > 0
    done = _cli(target, "restore", str(file))
    assert done.returncode == 0, done.stderr[-2000:]
    # A second restore into the now full folder is refused (no silent overwrite).
    again = _cli(target, "restore", str(file))
    assert again.returncode == 2 and "already holds data" in again.stderr

    async with Served(target) as client:
        officer = await _login(client, *officer_login)
        after = await _records(client, officer)
        director = await _login(client, *director_login)
        download = await client.get(attachment_path, headers=director)
    assert after == before
    assert download.status_code == 200, download.text
    assert download.content == PNG


def test_restore_of_a_missing_file_is_refused(tmp_path):
    done = _cli(tmp_path, "restore", str(tmp_path / "nothing.dump"))
    assert done.returncode == 2 and "no such file" in done.stderr
