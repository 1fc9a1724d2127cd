"""Arrange visits and children for the visit, worklist and policy tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.schemas.visit import CHECKLIST_ITEMS
from tests.conftest import VILLAGE
from tests.factories import make_child

VISITS = "/api/v1/visits"
WORKLIST = "/api/v1/worklist"
POLICY = "/api/v1/visit-policy"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64


async def registered_child(
    session: AsyncSession,
    settings: Settings,
    area_code: str = VILLAGE,
    *,
    days_ago: float = 365,
    **fields: Any,
) -> Child:
    """A child registered `days_ago` days ago (so visits in the past are allowed)."""
    fields.setdefault("created_at", utcnow() - timedelta(days=days_ago))
    return await make_child(session, settings, area_code, **fields)


def checklist(**override: Any) -> dict[str, Any]:
    items: dict[str, Any] = {item: {"rating": "good"} for item in CHECKLIST_ITEMS}
    items["emotional_state"] = {"rating": "fair", "note": "想念在外打工的妈妈"}
    items.update(override)
    return items


def visit_body(child_id: uuid.UUID, visited_at: datetime | str | None = None, **over: Any) -> dict:
    body: dict[str, Any] = {
        "child_id": str(child_id),
        "visited_at": (visited_at or utcnow() - timedelta(hours=1)).isoformat()
        if not isinstance(visited_at, str)
        else visited_at,
        "kind": "home",
        "latitude": 38.43,
        "longitude": 100.81,
        "accuracy_m": 12.5,
        "checklist": checklist(),
        "notes": "孩子在家写作业，奶奶身体尚可。",
        "suggested_risk_level": "yellow",
        "follow_up_actions": [{"action": "联系学校了解出勤", "due_on": "2030-01-10"}],
    }
    body.update(over)
    return body


async def put_visit(client, actor, child_id: uuid.UUID, **over: Any) -> dict:  # type: ignore[no-untyped-def]
    """Log a visit through the API and answer it (asserting it was created)."""
    visit_id = over.pop("visit_id", None) or uuid.uuid4()
    r = await client.put(
        f"{VISITS}/{visit_id}", json=visit_body(child_id, **over), headers=actor.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def if_match(visit: dict) -> dict[str, str]:
    return {"If-Match": f'"{visit["version"]}"'}


class StatementLog:
    """The SQL statements an engine runs while the block is active (for query-count tests)."""

    def __init__(self, db) -> None:  # type: ignore[no-untyped-def]
        self.engine = db.engine.sync_engine
        self.statements: list[str] = []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> StatementLog:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.statements if s.upper().startswith(prefix.upper())]
