"""Every record the sync feed carries equals its GET endpoint's body, field by field: a phone
stores what the feed sends, so a field the feed names otherwise (`from_` for `from`), drops or
renders differently is lost on every phone.

Generic over the record types: each is registered in FEED_TYPES by the feed's `type` name,
with how to make a record whose optional fields are filled (nested lists and aliased fields
included) and its GET path. A new type the feed carries is added there by name; a test fails
when the feed carries a type that is not registered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx

from childprotect_api.schemas.sync import SyncItem
from tests.activities import activity_helpers
from tests.agreements import agreement_helpers
from tests.benefits import benefit_helpers
from tests.care import care_support
from tests.children.child_payloads import CHILDREN, new_child
from tests.conftest import VILLAGE, World
from tests.reports import report_support
from tests.sync.test_sync_feed import drain, upserts
from tests.visits.visit_factories import put_visit, registered_child

Make = Callable[[httpx.AsyncClient, World, Any, Any], Awaitable[str]]


@dataclass(frozen=True)
class FeedType:
    make: Make  # creates one record (client, world, session, settings): its id
    get_path: str  # the GET endpoint, "{id}" for the record's id; or a list holding it
    actor: str = "director"  # whose feed carries it
    in_list: bool = False  # get_path is a list page: the record is the item with its id


async def _child(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    body = new_child(
        subsidies=[
            {"kind": "minimum_living_allowance", "monthly_amount": 380, "from": "2024-01-01"},
            {"kind": "orphan_allowance", "from": "2023-09-01", "to": "2026-08-31"},
        ]
    )
    r = await client.post(CHILDREN, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _visit(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    child = await registered_child(session, settings, VILLAGE)
    visit = await put_visit(
        client,
        world["director"],
        child.id,
        visited_at=datetime.now(UTC) - timedelta(hours=5, microseconds=7),
        latitude=38.0,
        longitude=100.5,
        accuracy_m=12.0,
        follow_up_actions=[{"action": "联系学校", "due_on": "2030-01-10", "done": True}],
    )
    return str(visit["id"])


async def _agreement(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    child = await agreement_helpers.away_child(session, settings, VILLAGE)
    agreement = await agreement_helpers.create(client, world["director"].headers, child.id)
    return str(agreement["id"])


async def _report(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    report = await report_support.file(client, world, "director", area_code=VILLAGE)
    return str(report["id"])


async def _pairing(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    child = await registered_child(session, settings, VILLAGE)
    body = care_support.pairing_body(child.id, ends_on="2030-06-30")
    r = await client.post(care_support.PAIRINGS, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _case(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    child = await registered_child(session, settings, VILLAGE)
    body = care_support.case_body(child.id)
    r = await client.post(care_support.CASES, json=body, headers=world["officer"].headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _alert(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    child = await registered_child(session, settings, VILLAGE)
    await care_support.set_risk(client, world, child.id, "red", "officer")
    alerts = await care_support.alerts_for(session, "child_red")
    return str(next(a.id for a in alerts if a.child_id == child.id))


async def _site(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    body = activity_helpers.site_body(VILLAGE)
    r = await client.post(activity_helpers.SITES, json=body, headers=world["officer"].headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _activity(client: httpx.AsyncClient, world: World, session: Any, settings: Any) -> str:
    body = activity_helpers.activity_body(VILLAGE)
    r = await client.post(activity_helpers.ACTIVITIES, json=body, headers=world["director"].headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _category_application(
    client: httpx.AsyncClient, world: World, session: Any, settings: Any
) -> str:
    child = await registered_child(session, settings, VILLAGE)
    app = await benefit_helpers.granted(client, world, child.id)  # every step's fields filled
    return str(app["id"])


FEED_TYPES: dict[str, FeedType] = {
    "child": FeedType(_child, "/api/v1/children/{id}"),
    "visit": FeedType(_visit, "/api/v1/visits/{id}"),
    "agreement": FeedType(_agreement, "/api/v1/agreements/{id}"),
    "report": FeedType(_report, "/api/v1/my-reports/{id}"),
    "pairing": FeedType(_pairing, "/api/v1/pairings/{id}"),
    "case": FeedType(_case, "/api/v1/cases/{id}"),
    "site": FeedType(_site, "/api/v1/sites/{id}"),
    "activity": FeedType(_activity, "/api/v1/activities/{id}"),
    "category_application": FeedType(_category_application, "/api/v1/category-applications/{id}"),
    "alert": FeedType(_alert, "/api/v1/alerts?limit=200", actor="officer", in_list=True),
}


def _feed_types() -> set[str]:
    """The `type` names of the feed's upsert items, read from the schema (the members of the
    discriminated union)."""
    union, _discriminator = get_args(SyncItem)
    names: set[str] = set()
    for member in get_args(union):
        if member.model_fields["op"].default == "upsert":
            names.add(str(member.model_fields["type"].default))
    return names


def differences(feed: Any, get: Any, path: str = "data") -> list[str]:
    """The paths where the two JSON values differ (missing keys on either side included)."""
    if isinstance(feed, dict) and isinstance(get, dict):
        out: list[str] = []
        for key in sorted(set(feed) | set(get)):
            if key not in feed:
                out.append(f"{path}.{key}: missing from the feed")
            elif key not in get:
                out.append(f"{path}.{key}: not in GET")
            else:
                out += differences(feed[key], get[key], f"{path}.{key}")
        return out
    if isinstance(feed, list) and isinstance(get, list):
        if len(feed) != len(get):
            return [f"{path}: {len(feed)} items in the feed, {len(get)} in GET"]
        return [
            d
            for i, (f, g) in enumerate(zip(feed, get, strict=True))
            for d in differences(f, g, f"{path}[{i}]")
        ]
    return [] if feed == get else [f"{path}: feed {feed!r} != GET {get!r}"]


def test_every_type_the_feed_carries_is_compared():
    assert _feed_types() == set(FEED_TYPES)


async def test_feed_items_equal_their_get_body_field_by_field(client, world, session, settings):
    made = {
        name: await kind.make(client, world, session, settings) for name, kind in FEED_TYPES.items()
    }
    feeds = {}
    for actor in {kind.actor for kind in FEED_TYPES.values()}:
        items, _, _ = await drain(client, world[actor])
        feeds[actor] = upserts(items)
    problems: list[str] = []
    for name, record_id in made.items():
        kind = FEED_TYPES[name]
        headers = world[kind.actor].headers
        item = feeds[kind.actor].get((name, record_id))
        assert item is not None, f"the feed did not carry the {name}"
        r = await client.get(kind.get_path.format(id=record_id), headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if kind.in_list:
            body = next(i for i in body["items"] if i["id"] == record_id)
        problems += [f"{name}: {d}" for d in differences(item["data"], body)]
        if "version" in body:
            assert item["version"] == body["version"], name
    assert problems == []
