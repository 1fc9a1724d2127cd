"""Ids chosen by callers for new records (issue 18, item 9; core/client_ids.py).

Each create that takes a client id is walked: an id taken in the caller's scope (another
record of the caller's) and one taken out of scope (another county's record) answer the very
same 409 `id_taken`; a caller's own retry keeps answering the stored record; an id that is not
random (UUID version 5, like the demo's, or version 1) answers 422 whatever exists, and a
version 7 id is welcome."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from childprotect_api.core import client_ids
from childprotect_api.models.base import utcnow
from tests.activities.activity_helpers import activity_body, site_body
from tests.agreements.agreement_helpers import away_child
from tests.agreements.agreement_helpers import body as agreement_body
from tests.care.care_support import case_body, pairing_body
from tests.children.child_payloads import new_child
from tests.conftest import (
    TOWNSHIP,
    TOWNSHIP_OTHER_COUNTY,
    VILLAGE,
    VILLAGE_OTHER_COUNTY,
)
from tests.factories import make_child
from tests.reports.report_support import body as report_body
from tests.sync.test_sync_push import op, push
from tests.visits.visit_factories import visit_body

DEMO_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def uuid7() -> uuid.UUID:
    ms = int(time.time() * 1000)
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return uuid.UUID(bytes=bytes(raw))


def guessable() -> uuid.UUID:
    return uuid.uuid5(DEMO_NS, f"child-{uuid.uuid4()}")


def test_random_versions():
    assert client_ids.is_random(uuid.uuid4()) and client_ids.is_random(uuid7())
    for other in (guessable(), uuid.uuid1(), uuid.UUID(int=1), uuid.uuid3(DEMO_NS, "x")):
        assert not client_ids.is_random(other)


# --- the walk -----------------------------------------------------------------------------

# Each side: (actor, the parent records its creates need). "a" is the caller's county,
# "b" another county.


@dataclass
class Side:
    actor: str
    area: str
    township: str
    child: Any = None
    child2: Any = None
    visit: dict[str, Any] | None = None
    report: str | None = None
    pairing: str | None = None
    pairing2: str | None = None
    case: str | None = None
    case2: str | None = None


Request = tuple[str, str, dict[str, Any], dict[str, str]]
# (side, id, variant) -> (method, path, body, extra headers); `variant` makes different
# content under the same id (for the care records: another parent record of the caller's).
Builder = Callable[[Side, uuid.UUID, bool], Request]


def _child(s: Side, i: uuid.UUID, v: bool) -> Request:
    return "POST", "/api/v1/children", new_child(s.area, id=str(i), name="李小花" + "二" * v), {}


def _visit(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = visit_body(s.child.id, notes="复访" if v else "初访")
    return "PUT", f"/api/v1/visits/{i}", body, {}


def _correction(s: Side, i: uuid.UUID, v: bool) -> Request:
    assert s.visit is not None
    body = visit_body(s.child.id, id=str(i), correction_reason="更正" + "二" * v)
    return "POST", f"/api/v1/visits/{s.visit['id']}/corrections", body, {"If-Match": '"1"'}


def _report(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = report_body(id=str(i), area_code=s.township, description="孩子多处淤青" + "!" * v)
    return "POST", "/api/v1/reports", body, {}


def _referral(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = {"id": str(i), "target": "police", "contact": "派出所" + "二" * v}
    return "POST", f"/api/v1/reports/{s.report}/referrals", body, {}


def _note(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = {"id": str(i), "text": "电话回访" + "二" * v}
    return "POST", f"/api/v1/reports/{s.report}/notes", body, {}


def _agreement(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = agreement_body(id=str(i), times_per_week_child=3 if v else 2)
    return "POST", f"/api/v1/children/{s.child.id}/agreements", body, {}


def _pairing(s: Side, i: uuid.UUID, v: bool) -> Request:
    return "POST", "/api/v1/pairings", pairing_body((s.child2 if v else s.child).id, id=str(i)), {}


def _contact(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = {"id": str(i), "contacted_at": (utcnow() - timedelta(hours=1)).isoformat()}
    body["kind"] = "phone"
    return "POST", f"/api/v1/pairings/{s.pairing2 if v else s.pairing}/contacts", body, {}


def _case(s: Side, i: uuid.UUID, v: bool) -> Request:
    return "POST", "/api/v1/cases", case_body((s.child2 if v else s.child).id, id=str(i)), {}


def _measure(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = {"id": str(i), "kind": "living_assistance", "responsible": "民政办"}
    return "POST", f"/api/v1/cases/{s.case2 if v else s.case}/measures", body, {}


def _activity(s: Side, i: uuid.UUID, v: bool) -> Request:
    body = activity_body(s.area, id=str(i), title="防溺水" + "二" * v)
    return "POST", "/api/v1/activities", body, {}


def _site(s: Side, i: uuid.UUID, v: bool) -> Request:
    return "POST", "/api/v1/sites", site_body(s.area, id=str(i), name="儿童之家" + "二" * v), {}


def _pushed(kind: str, data: Callable[[Side, bool], dict[str, Any]]) -> Builder:
    def build(s: Side, i: uuid.UUID, v: bool) -> Request:
        return "PUSH", "/api/v1/sync/push", op(kind, data(s, v), id=i), {}

    return build


# name: (builder, caller's role on each side: "staff" directors or "sup" supervisors/officers)
CREATES: dict[str, tuple[Builder, str]] = {
    "createChild": (_child, "staff"),
    "createVisit": (_visit, "staff"),
    "correctVisit": (_correction, "staff"),
    "createReport": (_report, "sup"),
    "createReportReferral": (_referral, "officer"),
    "createReportNote": (_note, "officer"),
    "createAgreement": (_agreement, "staff"),
    "createPairing": (_pairing, "staff"),
    "logPairingContact": (_contact, "staff"),
    "createCase": (_case, "sup"),
    "addCaseMeasure": (_measure, "sup"),
    "createActivity": (_activity, "staff"),
    "createSite": (_site, "sup"),
    "push:create_child": (
        _pushed("create_child", lambda s, v: new_child(s.area, name="李小花" + "二" * v)),
        "staff",
    ),
    "push:create_visit": (
        _pushed("create_visit", lambda s, v: visit_body(s.child.id, notes="复访" * v or "初访")),
        "staff",
    ),
    "push:create_case": (
        _pushed(
            "create_case",
            lambda s, v: {"child_id": str((s.child2 if v else s.child).id), "reason": "risk"},
        ),
        "sup",
    ),
    "push:create_activity": (
        _pushed(
            "create_activity",
            lambda s, v: {
                k: x
                for k, x in activity_body(s.area, title="防溺水" + "二" * v).items()
                if k != "id"
            },
        ),
        "staff",
    ),
}

ACTORS = {
    "staff": ("director", "director_other_county"),
    "sup": ("supervisor", "supervisor_other_county"),
    "officer": ("officer", "officer_other_county"),
}


async def _send(client, world, side: Side, req: Request) -> tuple[int, dict[str, Any]]:
    method, path, body, headers = req
    headers = {**world[side.actor].headers, **headers}
    if method == "PUSH":
        result = (await push(client, world[side.actor], body))["results"][0]
        if result["status"] == "rejected":
            return result["problem"]["status"], result["problem"]
        return (201 if result["status"] == "created" else 200), result
    r = await client.request(method, path, json=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
    return r.status_code, r.json()


async def _sides(client, world, session, settings, role: str) -> tuple[Side, Side]:
    sides = []
    for actor, area, township in (
        (ACTORS[role][0], VILLAGE, TOWNSHIP),
        (ACTORS[role][1], VILLAGE_OTHER_COUNTY, TOWNSHIP_OTHER_COUNTY),
    ):
        s = Side(actor, area, township)
        past = utcnow() - timedelta(days=365)
        s.child = await away_child(session, settings, area, created_at=past)
        s.child2 = await make_child(session, settings, area, created_at=past)
        sides.append(s)
    for s, filer in zip(sides, ("supervisor", "supervisor_other_county"), strict=True):
        if role == "staff":
            status, s.visit = await _send(client, world, s, _visit(s, uuid.uuid4(), False))
            assert status == 201, s.visit
            for attr, v in (("pairing", False), ("pairing2", True)):
                status, p = await _send(client, world, s, _pairing(s, uuid.uuid4(), v))
                assert status == 201, p
                setattr(s, attr, p["id"])
        if role == "sup":
            for attr, v in (("case", False), ("case2", True)):
                status, c = await _send(client, world, s, _case(s, uuid.uuid4(), v))
                assert status == 201, c
                setattr(s, attr, c["id"])
        if role == "officer":
            reporter = Side(filer, s.area, s.township)
            status, rep = await _send(client, world, reporter, _report(s, uuid.uuid4(), False))
            assert status == 201, rep
            s.report = rep["id"]
            r = await client.post(
                f"/api/v1/reports/{s.report}/accept", headers=world[s.actor].headers
            )
            assert r.status_code == 200, r.text
    return sides[0], sides[1]


def _same(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if k != "request_id"}, {
        k: v for k, v in b.items() if k != "request_id"
    }


@pytest.mark.parametrize("name", sorted(CREATES))
async def test_a_taken_id_reads_the_same_in_and_out_of_scope(
    client, world, session, settings, name
):
    builder, role = CREATES[name]
    mine, theirs = await _sides(client, world, session, settings, role)
    taken = uuid.uuid4()
    made: dict[tuple[str, uuid.UUID, bool], Request] = {}

    def build(side: Side, i: uuid.UUID, v: bool) -> Request:
        """The same request each time it is asked for (a retry is the same content)."""
        return made.setdefault((side.actor, i, v), builder(side, i, v))

    status, first = await _send(client, world, mine, build(mine, taken, False))
    assert status == 201, first
    # The caller's own retry answers the stored record (as before).
    status, again = await _send(client, world, mine, build(mine, taken, False))
    assert status in (200, 201), again
    # In scope, other content: 409.
    status, inside = await _send(client, world, mine, build(mine, taken, True))
    assert status == 409, inside
    assert inside["code"] == "id_taken"
    # Out of scope (another county's caller, its own valid record): the very same answer.
    status, outside = await _send(client, world, theirs, build(theirs, taken, False))
    assert status == 409, outside
    left, right = _same(inside, outside)
    assert left == right
    # A guessable id answers 422 before anything is looked up; a UUIDv7 is welcome.
    for bad in (guessable(), uuid.uuid1()):
        status, problem = await _send(client, world, theirs, build(theirs, bad, False))
        assert status == 422, problem
        assert "version 4 or 7" in str(problem)
    status, created = await _send(client, world, theirs, build(theirs, uuid7(), False))
    assert status == 201, created


async def test_a_demo_id_answers_422_whether_or_not_it_exists(client, world, session, settings):
    """The demo's children have UUIDv5 ids anyone can compute: probing one answers like
    probing a free one."""
    demo_id = uuid.uuid5(DEMO_NS, "child-1")
    await make_child(session, settings, VILLAGE_OTHER_COUNTY, id=demo_id)
    answers = []
    for i in (demo_id, uuid.uuid5(DEMO_NS, "child-2")):
        r = await client.post(
            "/api/v1/children",
            json=new_child(VILLAGE, id=str(i)),
            headers=world["director"].headers,
        )
        assert r.status_code == 422
        answers.append({k: v for k, v in r.json().items() if k != "request_id"})
        r = await client.put(
            f"/api/v1/visits/{i}", json=visit_body(uuid.uuid4()), headers=world["director"].headers
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "visit_id"
    assert answers[0] == answers[1]
