"""The demo county's category decisions and payments: applications at each stage, the held
categories recorded as granted before the record, a removal, payments; loading twice makes
nothing twice."""

from __future__ import annotations

from sqlalchemy import text

from childprotect_api.services.demo import county as demo
from childprotect_api.services.demo.loader import load_demo


async def _counts(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out = {}
    for table in (
        "category_applications",
        "category_application_events",
        "category_removals",
        "benefit_payments",
    ):
        out[table] = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    return out


async def test_demo_decisions_and_payments(settings, session, monkeypatch):
    assert settings.database_url
    monkeypatch.setattr(demo, "hash_password", lambda password: "not-a-real-hash")
    await load_demo(settings.database_url)
    first = await _counts(session)
    await session.commit()
    await load_demo(settings.database_url)
    assert await _counts(session) == first
    assert first["category_removals"] == 1 and first["benefit_payments"] > 0
    stages = set(
        (
            await session.execute(
                text("SELECT status FROM category_applications WHERE source = 'application'")
            )
        ).scalars()
    )
    assert stages == {"submitted", "agreed", "approved", "returned", "rejected"}
    held = (
        await session.execute(
            text("SELECT count(*) FROM category_applications WHERE source = 'pre_existing'")
        )
    ).scalar_one()
    assert held > 0
    # Every benefit category a demo child holds has a decision behind it.
    missing = (
        await session.execute(
            text(
                "SELECT count(*) FROM children c, unnest(c.categories) cat "
                "WHERE c.county_code = '620722' AND cat IN ('orphan', 'de_facto_unsupported', "
                "'low_income_disabled_or_ill', 'low_income') AND NOT EXISTS (SELECT 1 FROM "
                "category_applications a WHERE a.child_id = c.id AND a.category = cat "
                "AND a.status = 'approved')"
            )
        )
    ).scalar_one()
    assert missing == 0
