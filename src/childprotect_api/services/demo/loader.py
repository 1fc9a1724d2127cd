"""The demo county: areas and users (county.py), then each domain's demo step (children,
clients, reports, agreements, visits, care, category decisions and payments, activities and
sites), so every screen has something to show. Loading is idempotent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.core import client_ids
from childprotect_api.core.db import Database
from childprotect_api.services.demo import activities as demo_activities
from childprotect_api.services.demo import agreements as demo_agreements
from childprotect_api.services.demo import benefits as demo_benefits
from childprotect_api.services.demo import care as demo_care
from childprotect_api.services.demo import children as demo_children
from childprotect_api.services.demo import clients as demo_clients
from childprotect_api.services.demo import reports as demo_reports
from childprotect_api.services.demo import visits as demo_visits
from childprotect_api.services.demo.county import load_areas, load_users

DemoStep = Callable[[AsyncSession], Awaitable[None]]


async def load_demo(url: str) -> list[tuple[str, str, str, str]]:
    """Load (or refresh) the demo county; answer the logins to print."""
    db = Database.create(url, pool_size=1, max_overflow=0)
    try:
        # The demo's ids are UUIDv5 made here, on the server: the trusted path of
        # core/client_ids.py (the API accepts only random ids from callers).
        with client_ids.trusted_ids():
            return await _load(db)
    finally:
        await db.dispose()


async def _load(db: Database) -> list[tuple[str, str, str, str]]:
    async with db.sessionmaker() as session:
        await load_areas(session)
        logins = await load_users(session)
        for step in _steps():
            await step(session)
        await session.commit()
    return logins


def _steps() -> list[DemoStep]:
    # Children first: reports and agreements attach to them.
    return [
        demo_children.load,
        demo_clients.load,
        demo_reports.load,
        demo_agreements.load,
        demo_visits.load,
        demo_care.load,
        demo_benefits.load,
        demo_activities.load,
    ]
