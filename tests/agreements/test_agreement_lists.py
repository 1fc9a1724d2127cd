"""Agreement lists: a child's agreements, the filtered list in scope, and the follow-up
(gaps) lists, all keyset-paginated."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from childprotect_api.services.agreements.expiry import china_today
from tests.agreements.agreement_helpers import (
    AGREEMENTS,
    CHILDREN,
    away_child,
    body,
    create,
    make_active,
)
from tests.conftest import VILLAGE_OTHER_TOWNSHIP, VILLAGE_SAME_TOWNSHIP
from tests.factories import make_child

GAPS = f"{AGREEMENTS}/gaps"


async def _set_dates(session, agreement_id: str, ends_in_days: int) -> None:
    today = china_today()
    await session.execute(
        text("UPDATE agreements SET starts_on = :s, ends_on = :e WHERE id = :id"),
        {
            "s": today + timedelta(days=ends_in_days - 365),
            "e": today + timedelta(days=ends_in_days),
            "id": agreement_id,
        },
    )
    await session.commit()


async def _all_pages(client, url, headers, params, key=None):
    """Follow next_cursor to the end; answer every item."""
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await client.get(url, params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()[key] if key else r.json()
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items, pages


async def test_gaps_lists(client, world, session, settings):
    s, st = session, settings
    no_agreement = await away_child(s, st, name="甲")
    with_draft = await away_child(s, st, name="乙")
    covered = await away_child(s, st, name="丙")
    ending = await away_child(s, st, name="丁")
    lapsed = await away_child(s, st, name="戊")
    terminated = await away_child(s, st, name="己")
    await make_child(s, st, world["director"].user.area_code, categories=["low_income"])
    await away_child(s, st, status="closed")
    neighbour = await away_child(s, st, VILLAGE_SAME_TOWNSHIP, name="庚")

    await create(client, world["director"].headers, with_draft.id)
    await make_active(client, world, covered.id)
    soon = await make_active(client, world, ending.id)
    await _set_dates(session, soon["id"], 10)
    old = await make_active(client, world, lapsed.id)
    await _set_dates(session, old["id"], -5)  # past its end, not yet expired by the job
    ended = await make_active(client, world, terminated.id)
    r = await client.post(
        f"{AGREEMENTS}/{ended['id']}/terminate",
        json={"reason": "caregiver_unable"},
        headers=world["supervisor"].headers,
    )
    assert r.status_code == 200

    r = await client.get(GAPS, headers=world["director"].headers)
    assert r.status_code == 200, r.text
    gaps = r.json()
    assert gaps["as_of"] == china_today().isoformat() and gaps["within_days"] == 30
    children = {g["child_id"]: g for g in gaps["no_active_agreement"]["items"]}
    assert set(children) == {str(c.id) for c in (no_agreement, with_draft, lapsed, terminated)}
    assert children[str(with_draft.id)]["has_draft"] is True
    assert children[str(no_agreement.id)]["has_draft"] is False
    assert children[str(no_agreement.id)]["last_ended_on"] is None
    assert (
        children[str(lapsed.id)]["last_ended_on"] == (china_today() - timedelta(days=5)).isoformat()
    )
    assert children[str(terminated.id)]["last_ended_on"] == china_today().isoformat()
    assert [a["id"] for a in gaps["ending_soon"]["items"]] == [soon["id"]]

    # A narrower window, one list only, and the township's wider scope.
    r = await client.get(GAPS, params={"within_days": 5}, headers=world["director"].headers)
    assert r.json()["ending_soon"]["items"] == []
    r = await client.get(GAPS, params={"kind": "ending_soon"}, headers=world["director"].headers)
    assert r.json()["no_active_agreement"]["items"] == []
    assert len(r.json()["ending_soon"]["items"]) == 1
    r = await client.get(GAPS, headers=world["supervisor"].headers)
    ids = {g["child_id"] for g in r.json()["no_active_agreement"]["items"]}
    assert str(neighbour.id) in ids and len(ids) == 5
    r = await client.get(
        GAPS, params={"area": VILLAGE_SAME_TOWNSHIP}, headers=world["supervisor"].headers
    )
    assert [g["child_id"] for g in r.json()["no_active_agreement"]["items"]] == [str(neighbour.id)]

    # Keyset pages of one item each cover the list once.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, "kind": "no_active_agreement"}
        if cursor:
            params["children_cursor"] = cursor
        page = (await client.get(GAPS, params=params, headers=world["supervisor"].headers)).json()
        seen += [g["child_id"] for g in page["no_active_agreement"]["items"]]
        cursor = page["no_active_agreement"]["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5

    for bad in ({"within_days": 0}, {"kind": "all"}, {"children_cursor": "%%%"}, {"area": "62x"}):
        r = await client.get(GAPS, params=bad, headers=world["director"].headers)
        assert r.status_code == 422, bad


async def test_list_agreements_filters_and_pages(client, world, session, settings):
    s, st = session, settings
    active = [await make_active(client, world, (await away_child(s, st)).id) for _ in range(3)]
    for a, days in zip(active, (100, 20, 5), strict=True):
        await _set_dates(session, a["id"], days)
    draft = await create(client, world["director"].headers, (await away_child(s, st)).id)
    lapsed = await make_active(client, world, (await away_child(s, st)).id)
    await _set_dates(session, lapsed["id"], -1)
    elsewhere = await away_child(s, st, VILLAGE_OTHER_TOWNSHIP)
    r = await client.post(
        f"{CHILDREN}/{elsewhere.id}/agreements",
        json=body(),
        headers=world["officer"].headers,
    )
    assert r.status_code == 201
    far = r.json()

    headers = world["director"].headers
    items, pages = await _all_pages(client, AGREEMENTS, headers, {"limit": 2})
    assert pages == 3
    ends = [a["ends_on"] for a in items]
    assert ends == sorted(ends) and len(items) == 5  # soonest end first, director's village
    assert far["id"] not in {a["id"] for a in items}

    async def ids(**params):
        r = await client.get(AGREEMENTS, params=params, headers=world["officer"].headers)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert await ids(status="active") == [active[2]["id"], active[1]["id"], active[0]["id"]]
    assert await ids(status="expired") == [lapsed["id"]]
    assert set(await ids(status="draft")) == {draft["id"], far["id"]}
    assert await ids(expiring_within_days=30) == [active[2]["id"], active[1]["id"]]
    assert await ids(area=VILLAGE_OTHER_TOWNSHIP) == [far["id"]]
    assert len(await ids()) == 6
    for bad in ({"status": "signed"}, {"expiring_within_days": -1}, {"cursor": "bm9wZQ"}):
        r = await client.get(AGREEMENTS, params=bad, headers=headers)
        assert r.status_code == 422, bad


async def test_a_childs_agreements(client, world, session, settings):
    child = await away_child(session, settings)
    other = await away_child(session, settings)
    first = await make_active(client, world, child.id)
    second = await create(client, world["director"].headers, child.id)
    await create(client, world["director"].headers, other.id)
    url = f"{CHILDREN}/{child.id}/agreements"
    items, pages = await _all_pages(client, url, world["director"].headers, {"limit": 1})
    assert {a["id"] for a in items} == {first["id"], second["id"]} and pages == 3
    assert {a["status"] for a in items} == {"active", "draft"}
    audited = await session.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'list' AND resource_type = 'agreement'")
    )
    assert audited.scalar_one() == 2
