"""The scope matrix of every agreement endpoint, for agreements of `director`'s village:
other villages', townships' and counties' staff get 404 (as if it did not exist), roles
outside the matrix (reporter, auditor, admin) 403, the village's own staff an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from childprotect_api.cli import openapi_document
from tests.agreements.agreement_helpers import (
    AGREEMENTS,
    CHILDREN,
    away_child,
    body,
    create,
    make_active,
)
from tests.conftest import OUTSIDER_OFFICERS, OUTSIDER_SUPERVISORS, OUTSIDERS

FORBIDDEN_ROLES = ("reporter", "auditor", "admin")
INSIDERS = ("director", "supervisor", "officer")
PDF = b"%PDF-1.4\n" + b"\x00" * 32


@dataclass
class Arranged:
    child: str
    draft: str
    active: str
    scan: str


@dataclass
class Endpoint:
    name: str
    method: str
    path: str  # formatted with Arranged's fields
    json: dict[str, Any] | None = None
    upload: bool = False
    headers: dict[str, str] | None = None
    is_list: bool = False
    supervisors_only: bool = False  # directors are refused by role before scope


ENDPOINTS = [
    Endpoint("createAgreement", "POST", CHILDREN + "/{child}/agreements", json=body()),
    Endpoint("listChildAgreements", "GET", CHILDREN + "/{child}/agreements"),
    Endpoint("getAgreement", "GET", AGREEMENTS + "/{draft}"),
    Endpoint(
        "updateAgreement",
        "PATCH",
        AGREEMENTS + "/{draft}",
        json={"times_per_week_child": 3},
        headers={"If-Match": '"1"'},
    ),
    Endpoint(
        "signAgreement",
        "POST",
        AGREEMENTS + "/{draft}/signatures",
        json={"party": "guardian", "signed_on": "2026-01-05"},
    ),
    Endpoint(
        "terminateAgreement",
        "POST",
        AGREEMENTS + "/{active}/terminate",
        json={"reason": "parent_returned"},
        supervisors_only=True,
    ),
    Endpoint("listAgreementStatusChanges", "GET", AGREEMENTS + "/{active}/history"),
    Endpoint("uploadAgreementAttachment", "POST", AGREEMENTS + "/{draft}/attachments", upload=True),
    Endpoint("listAgreementAttachments", "GET", AGREEMENTS + "/{draft}/attachments"),
    Endpoint("downloadAgreementAttachment", "GET", AGREEMENTS + "/{draft}/attachments/{scan}"),
    Endpoint("listAgreements", "GET", AGREEMENTS, is_list=True),
    Endpoint("listAgreementGaps", "GET", AGREEMENTS + "/gaps", is_list=True),
]


def test_every_agreement_route_is_in_the_matrix():
    doc = openapi_document()
    ops = {
        op["operationId"]
        for path in doc["paths"].values()  # type: ignore[attr-defined]
        for op in path.values()
        if op.get("tags") == ["agreements"]
    }
    assert ops == {e.name for e in ENDPOINTS}


async def _arrange(client, world, session, settings) -> Arranged:
    child = await away_child(session, settings)
    draft = await create(client, world["director"].headers, child.id)
    active = await make_active(client, world, (await away_child(session, settings)).id)
    # A left-behind child with no active agreement, for the gaps list.
    await away_child(session, settings)
    r = await client.post(
        f"{AGREEMENTS}/{draft['id']}/attachments",
        files={"file": ("scan.pdf", PDF, "application/pdf")},
        headers=world["director"].headers,
    )
    assert r.status_code == 201
    return Arranged(str(child.id), draft["id"], active["id"], r.json()["id"])


async def _call(client, endpoint: Endpoint, arranged: Arranged, headers: dict[str, str]):
    url = endpoint.path.format(**arranged.__dict__)
    kwargs: dict[str, Any] = {"headers": {**headers, **(endpoint.headers or {})}}
    if endpoint.json is not None:
        kwargs["json"] = endpoint.json
    if endpoint.upload:
        kwargs["files"] = {"file": ("other.pdf", PDF + b"1", "application/pdf")}
    return await client.request(endpoint.method, url, **kwargs)


def _listed_ids(answer: dict[str, Any]) -> set[str]:
    if "items" in answer:
        return {a["id"] for a in answer["items"]}
    return {g["child_id"] for g in answer["no_active_agreement"]["items"]} | {
        a["id"] for a in answer["ending_soon"]["items"]
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_scope_matrix(client, world, session, settings, endpoint):
    arranged = await _arrange(client, world, session, settings)
    for name in FORBIDDEN_ROLES:
        r = await _call(client, endpoint, arranged, world[name].headers)
        assert r.status_code == 403, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    for name in OUTSIDERS + OUTSIDER_SUPERVISORS + OUTSIDER_OFFICERS:
        r = await _call(client, endpoint, arranged, world[name].headers)
        if endpoint.is_list:
            assert r.status_code == 200, (name, r.text)
            assert _listed_ids(r.json()) == set(), name
        elif endpoint.supervisors_only and name.startswith("director"):
            assert r.status_code == 403 and r.json()["code"] == "role_forbidden", name
        else:
            assert r.status_code == 404, (name, r.status_code, r.text)
            assert r.json()["code"] == "not_found"
    if endpoint.method == "GET":
        for name in INSIDERS:
            r = await _call(client, endpoint, arranged, world[name].headers)
            assert r.status_code == 200, (name, r.text)
            if endpoint.is_list:
                assert _listed_ids(r.json()), name


async def test_no_token(client, world, session, settings):
    r = await client.get(f"{AGREEMENTS}/gaps")
    assert r.status_code == 401
    r = await client.post(f"{CHILDREN}/{world['director'].id}/agreements", json=body())
    assert r.status_code == 401
