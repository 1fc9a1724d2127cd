"""Arrange data directly (for tests of other features): a child row in a village."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.config import Settings
from childprotect_api.models.child import Child
from childprotect_api.services.children import id_numbers
from childprotect_api.services.children.schedule import refresh_due

_seq = itertools.count(1)


async def make_child(
    session: AsyncSession,
    settings: Settings,
    area_code: str,
    *,
    name: str = "王小明",
    gender: str = "male",
    birth_date: date = date(2015, 3, 14),
    categories: list[str] | None = None,
    risk_level: str = "blue",
    with_id_number: bool = True,
    commit: bool = True,
    **fields: Any,
) -> Child:
    if fields.get("status") == "closed":
        fields.setdefault("closed_reason", "moved_away")  # the schema requires a reason
    child = Child(
        id=fields.pop("id", None) or uuid.uuid4(),
        county_code=area_code[:6],
        area_code=area_code,
        name=name,
        gender=gender,
        birth_date=birth_date,
        categories=categories if categories is not None else ["left_behind"],
        risk_level=risk_level,
        **fields,
    )
    if with_id_number:
        number = id_numbers.make(area_code[:6], birth_date, next(_seq), gender)
        p = id_numbers.protect(settings.data_key, number)
        child.id_number_enc, child.id_number_hash, child.id_number_masked = (
            p.encrypted,
            p.hash,
            p.masked,
        )
    session.add(child)
    await session.flush()
    await session.refresh(child)
    await refresh_due(session, child)
    await session.flush()
    if commit:
        await session.commit()
    return child
