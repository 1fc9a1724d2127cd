"""The demo county's care work: pairings, cases at several stages, open and overdue duties,
alerts; loading twice makes nothing twice."""

from __future__ import annotations

from sqlalchemy import text

from childprotect_api.services.demo import county as demo
from childprotect_api.services.demo.loader import load_demo


async def _counts(session) -> dict[str, int]:
    out = {}
    for table in ("pairings", "cases", "case_measures", "alerts"):
        out[table] = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    return out


async def test_demo_care_work(settings, session, monkeypatch):
    assert settings.database_url
    monkeypatch.setattr(demo, "hash_password", lambda password: "not-a-real-hash")
    await load_demo(settings.database_url)
    first = await _counts(session)
    await session.commit()
    await load_demo(settings.database_url)
    assert await _counts(session) == first
    assert first["pairings"] > 0 and first["alerts"] > 0
    stages = dict(
        (await session.execute(text("SELECT status, count(*) FROM cases GROUP BY status"))).all()
    )
    assert stages.get("open", 0) >= 1 and stages.get("closed", 0) >= 1
    duties = dict(
        (
            await session.execute(
                text(
                    "SELECT due_at < now(), count(*) FROM child_duties "
                    "WHERE met_at IS NULL GROUP BY 1"
                )
            )
        ).all()
    )
    assert duties.get(True, 0) >= 1  # overdue
    kinds = set((await session.execute(text("SELECT DISTINCT kind FROM alerts"))).scalars())
    assert {"child_red", "duty_overdue"} <= kinds
