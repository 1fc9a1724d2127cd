"""Closed records past retention are anonymised; statistics survive, names and ID numbers
do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from childprotect_api.services.retention import ANONYMISED, anonymise_expired
from tests.agreements import agreement_helpers
from tests.conftest import VILLAGE
from tests.factories import make_child
from tests.reports import report_support

NOW = datetime.now(UTC)


async def _stats(session) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = await session.execute(
        text(
            "SELECT area_code, status, risk_level, categories, birth_date, gender "
            "FROM children ORDER BY id"
        )
    )
    return [tuple(r) for r in rows]


async def test_closed_records_past_retention_are_anonymised(client, world, session, settings):
    old = await agreement_helpers.away_child(
        session,
        settings,
        VILLAGE,
        name="张三丰",
        address="洪水村一社5号",
        health_notes="哮喘",
        pairing_helper_phone="13812345678",
    )
    agreement = await agreement_helpers.create(client, world["director"].headers, old.id)
    report = await report_support.file(
        client, world, "officer", child_id=str(old.id), area_code=None, child_description=None
    )
    recent = await make_child(session, settings, VILLAGE, name="李四")
    active = await make_child(session, settings, VILLAGE, name="王五")
    for child, days in ((old, 400), (recent, 10)):
        await session.execute(
            text(
                "UPDATE children SET status='closed', closed_reason='moved_away', "
                "closed_at = :at WHERE id = :id"
            ),
            {"at": NOW - timedelta(days=days), "id": child.id},
        )
    await session.commit()
    before = await _stats(session)

    assert await anonymise_expired(session, NOW, retention_days=365) == 2  # child + report
    await session.commit()

    row = (
        (await session.execute(text("SELECT * FROM children WHERE id = :id"), {"id": old.id}))
        .mappings()
        .one()
    )
    assert row["name"] == ANONYMISED and row["anonymised_at"] is not None
    for col in (
        "id_number_enc",
        "id_number_hash",
        "id_number_masked",
        "address",
        "health_notes",
        "pairing_helper_phone",
    ):
        assert row[col] is None, col
    assert row["father"] == {"situation": "working_away"}
    names = {r[0] for r in await session.execute(text("SELECT name FROM children"))}
    assert names == {ANONYMISED, "李四", "王五"}  # the recent and the active are untouched
    ag = (
        (
            await session.execute(
                text("SELECT * FROM agreements WHERE id = :id"), {"id": agreement["id"]}
            )
        )
        .mappings()
        .one()
    )
    assert ag["guardian_name"] == ag["caregiver_name"] == ANONYMISED
    assert ag["guardian_phone"] is None and ag["caregiver_id_number_enc"] == b""
    rep = (
        (await session.execute(text("SELECT * FROM reports WHERE id = :id"), {"id": report["id"]}))
        .mappings()
        .one()
    )
    assert rep["description"] == ANONYMISED and rep["reporter_name"] is None
    assert rep["situation"] == "multiple_injuries_or_abuse"  # what statistics count stays
    # Statistics unchanged: every counted column is as it was.
    assert await _stats(session) == before
    # Idempotent.
    assert await anonymise_expired(session, NOW, retention_days=365) == 0
    # The API still serves the record without personal data.
    r = await client.get(f"/api/v1/children/{old.id}", headers=world["officer"].headers)
    assert r.status_code == 200 and r.json()["name"] == ANONYMISED
    assert r.json()["id_number"] is None
    assert active.id
