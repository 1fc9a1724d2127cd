"""The change log (sync_changes) the database triggers write: one row per changed row, the
changed columns, tombstones for the area a record left, nothing for a no-op update."""

from __future__ import annotations

from sqlalchemy import select, text

from childprotect_api.models.child import Child
from childprotect_api.models.sync import SyncChange
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.factories import make_child

CHILDREN = "/api/v1/children"


async def _log(session, entity_id):  # type: ignore[no-untyped-def]
    rows = (
        await session.execute(
            select(SyncChange).where(SyncChange.entity_id == entity_id).order_by(SyncChange.seq)
        )
    ).scalars()
    return list(rows)


async def test_insert_and_update_are_logged_with_the_changed_columns(session, settings):
    child = await make_child(session, settings, VILLAGE)
    rows = await _log(session, child.id)
    first = rows[0]
    assert (first.op, first.entity_type, first.area_code, first.county_code) == (
        "U",
        "child",
        VILLAGE,
        VILLAGE[:6],
    )
    assert rows[0].changed_fields is None and rows[0].version == 1
    before = len(rows)

    await session.execute(
        text("UPDATE children SET school = 'x', version = version + 1 WHERE id = :id"),
        {"id": child.id},
    )
    # A no-op update writes nothing.
    await session.execute(text("UPDATE children SET school = 'x' WHERE id = :id"), {"id": child.id})
    await session.commit()
    rows = await _log(session, child.id)
    assert len(rows) == before + 1
    assert rows[-1].changed_fields == ["school", "version"]
    assert rows[-1].version == 2 and rows[-1].op == "U"
    txids = (
        await session.execute(
            text("SELECT count(DISTINCT txid) FROM sync_changes WHERE entity_id = :id"),
            {"id": child.id},
        )
    ).scalar()
    assert txids == len(rows) or txids == len(rows) - 1  # the factory may write twice at once


async def test_transfer_writes_a_tombstone_for_the_old_area(client, world, session, settings):
    child = await make_child(session, settings, VILLAGE)
    r = await client.post(
        f"{CHILDREN}/{child.id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随母亲迁居"},
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 200, r.text
    rows = await _log(session, child.id)
    last_two = [(r.op, r.area_code, r.reason) for r in rows[-2:]]
    assert last_two == [("T", VILLAGE, "transferred"), ("U", VILLAGE_SAME_TOWNSHIP, None)]
    assert "area_code" in (rows[-1].changed_fields or [])
    assert rows[-1].txid == rows[-2].txid
    fresh = await session.get(Child, child.id, populate_existing=True)
    assert fresh is not None and rows[-1].version == fresh.version


async def test_the_statistics_latest_visit_is_not_a_change(session, settings):
    """`stats_visited_at` (kept by the visits' trigger for the statistics) is nothing a device
    syncs: a change of it alone logs nothing, and it is left out of the changed columns."""
    child = await make_child(session, settings, VILLAGE)
    before = len(await _log(session, child.id))
    await session.execute(
        text("UPDATE children SET stats_visited_at = now() WHERE id = :id"), {"id": child.id}
    )
    await session.commit()
    assert len(await _log(session, child.id)) == before
    await session.execute(
        text(
            "UPDATE children SET stats_visited_at = now() - interval '1 day', school = 'y', "
            "version = version + 1 WHERE id = :id"
        ),
        {"id": child.id},
    )
    await session.commit()
    rows = await _log(session, child.id)
    assert len(rows) == before + 1
    assert rows[-1].changed_fields == ["school", "version"]
