"""Request bodies and steps for category decisions and benefit payments."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

APPLICATIONS = "/api/v1/category-applications"
REMOVALS = "/api/v1/category-removals"
PAYMENTS = "/api/v1/benefit-payments"


def applications_of(child_id: uuid.UUID | str) -> str:
    return f"/api/v1/children/{child_id}/category-applications"


def removals_of(child_id: uuid.UUID | str) -> str:
    return f"/api/v1/children/{child_id}/category-removals"


def application_body(category: str = "de_facto_unsupported", **kw: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "category": category,
        "basis": "父亲服刑，母亲失联，由祖母照料",
        **kw,
    }


def removal_body(category: str = "orphan", reason: str = "adopted", **kw: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "category": category,
        "reason": reason,
        "removed_on": date.today().isoformat(),
        **kw,
    }


def payment_item(child_id: uuid.UUID | str, **kw: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "child_id": str(child_id),
        "kind": "de_facto_allowance",
        "period": date.today().strftime("%Y-%m"),
        "amount": "1050.00",
    }
    item.update(kw)
    return item


async def file(client, world, child_id, actor: str = "director", **kw: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await client.post(
        applications_of(child_id), json=application_body(**kw), headers=world[actor].headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def step(client, world, app_id, what: str, decision: str, actor: str, note=None):  # type: ignore[no-untyped-def]
    body = {"decision": decision} if note is None else {"decision": decision, "note": note}
    r = await client.post(
        f"{APPLICATIONS}/{app_id}/{what}", json=body, headers=world[actor].headers
    )
    return r


async def granted(  # type: ignore[no-untyped-def]
    client,
    world,
    child_id,
    category: str = "de_facto_unsupported",
    filer: str = "director",
    reviewer: str = "supervisor",
) -> dict:
    """An application filed, agreed and approved: the category granted."""
    app = await file(client, world, child_id, filer, category=category)
    r = await step(client, world, app["id"], "review", "agree", reviewer)
    assert r.status_code == 200, r.text
    r = await step(client, world, app["id"], "decision", "approve", "officer")
    assert r.status_code == 200, r.text
    return dict(r.json())
