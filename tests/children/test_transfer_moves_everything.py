"""A transfer moves every row about the child to the new village (issue #18, item 10): found
generically, so a table added later is covered: every table with a `child_id` and an
`area_code`, every table with a foreign key to one of those, and the attachments they own.
The new village's director lists and downloads the attachments; the old one gets 404."""

from __future__ import annotations

import uuid

from sqlalchemy import MetaData, Table, select, text
from sqlmodel import SQLModel

from tests.agreements import agreement_helpers as agreements
from tests.conftest import VILLAGE, VILLAGE_SAME_TOWNSHIP
from tests.reports.report_support import accept_and_refer, file
from tests.visits.visit_factories import JPEG, PDF, PNG, VISITS, put_visit

CHILDREN = "/api/v1/children"
AGREEMENTS = "/api/v1/agreements"
# History of where things happened: not records of the child.
LOGS = {"audit_log", "outbox_events", "sync_changes", "idempotency_keys", "jobs"}


def _tables() -> list[Table]:
    return [t for t in SQLModel.metadata.sorted_tables if "area_code" in t.c]


async def rows_about(session, child_id: uuid.UUID) -> dict[str, list[str]]:
    """The area_code of every row that belongs to the child, by table, found from the
    metadata alone."""
    linked = [t for t in _tables() if "child_id" in t.c]
    found: dict[str, list[str]] = {}
    ids: dict[str, set[uuid.UUID]] = {}
    for t in linked:
        rows = (
            await session.execute(select(t.c.id, t.c.area_code).where(t.c.child_id == child_id))
        ).all()
        found[t.name] = [r.area_code for r in rows]
        ids[t.name] = {r.id for r in rows}
    for t in _tables():
        if t in linked or t.name in LOGS or t.name == "children":
            continue
        for fk in t.foreign_keys:
            parent = fk.column.table
            if parent in linked and fk.column.name == "id" and ids[parent.name]:
                rows = (
                    await session.execute(
                        select(t.c.area_code).where(fk.parent.in_(ids[parent.name]))
                    )
                ).all()
                found.setdefault(t.name, []).extend(r.area_code for r in rows)
        if {"owner_type", "owner_id"} <= set(t.c.keys()):
            owners = {i for i in set().union(*ids.values()) if isinstance(i, uuid.UUID)}
            rows = (
                await session.execute(select(t.c.area_code).where(t.c.owner_id.in_(owners)))
            ).all()
            found.setdefault(t.name, []).extend(r.area_code for r in rows)
    return found


async def test_the_linked_tables_are_found_from_the_database_too(session):
    """The metadata the test walks is the database's: no table with a child_id and an
    area_code escapes it."""
    meta = MetaData()
    await session.run_sync(lambda s: meta.reflect(bind=s.connection()))
    in_db = {t.name for t in meta.sorted_tables if {"child_id", "area_code"} <= set(t.c.keys())}
    in_models = {t.name for t in _tables() if "child_id" in t.c}
    assert in_db == in_models


async def test_a_transfer_moves_everything_about_the_child(client, world, session, settings):
    child = await agreements.away_child(session, settings, VILLAGE, created_at=None)
    await session.execute(
        text("UPDATE children SET created_at = now() - interval '400 days' WHERE id = :id"),
        {"id": child.id},
    )
    await session.commit()
    child_id = child.id
    director = world["director"].headers
    # A visit with two photos.
    visit = await put_visit(client, world["director"], child.id)
    base = f"{VISITS}/{visit['id']}/attachments"
    for name, data, kind in (("a.png", PNG, "image/png"), ("b.jpg", JPEG, "image/jpeg")):
        r = await client.post(base, files={"file": (name, data, kind)}, headers=director)
        assert r.status_code == 201, r.text
    photo = r.json()
    # An agreement (status changes) with a scan.
    agreement = await agreements.make_active(client, world, child.id)
    r = await client.post(
        f"{AGREEMENTS}/{agreement['id']}/attachments",
        files={"file": ("scan.pdf", PDF, "application/pdf")},
        headers=director,
    )
    assert r.status_code == 201, r.text
    scan = r.json()
    # A report about the child, referred, with a note.
    report = await file(
        client, world, "director", child_id=str(child.id), area_code=None, child_description=None
    )
    await accept_and_refer(client, world, report["id"])
    r = await client.post(
        f"/api/v1/reports/{report['id']}/notes",
        json={"text": "已电话联系"},
        headers=world["officer"].headers,
    )
    assert r.status_code == 201, r.text

    before = await rows_about(session, child.id)
    for table in (
        "visits",
        "agreements",
        "agreement_status_changes",
        "reports",
        "report_referrals",
        "report_events",
        "report_notes",
        "attachments",
    ):
        assert before.get(table), table  # the test has rows of each kind to move
    assert {a for areas in before.values() for a in areas} == {VILLAGE}

    r = await client.post(
        f"{CHILDREN}/{child_id}/transfer",
        json={"to_area_code": VILLAGE_SAME_TOWNSHIP, "reason": "随母亲迁居益民村"},
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 200, r.text
    session.expire_all()
    after = await rows_about(session, child_id)
    left = {t: areas for t, areas in after.items() if set(areas) - {VILLAGE_SAME_TOWNSHIP}}
    assert left == {}, left

    new, old = world["director_other_village"].headers, director
    r = await client.get(base, headers=new)
    assert r.status_code == 200 and len(r.json()["items"]) == 2
    r = await client.get(f"{base}/{photo['id']}", headers=new)
    assert r.status_code == 200 and r.content == JPEG
    scan_url = f"{AGREEMENTS}/{agreement['id']}/attachments/{scan['id']}"
    r = await client.get(scan_url, headers=new)
    assert r.status_code == 200 and r.content == PDF
    for url in (base, f"{base}/{photo['id']}", scan_url):
        assert (await client.get(url, headers=old)).status_code == 404, url
