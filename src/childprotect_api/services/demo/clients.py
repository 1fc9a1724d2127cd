"""Demo integration clients: the county education bureau's enrolment system and the civil
affairs subsidy system. Secrets are made anew at each load and printed, like the demo
passwords (never stored in the repository)."""

from __future__ import annotations

import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.models.client import ClientScope, IntegrationClient
from childprotect_api.security.passwords import hash_password
from childprotect_api.services.demo.county import DEMO_COUNTY
from childprotect_api.services.integrations.clients import new_secret

DEMO_CLIENTS: list[tuple[str, list[ClientScope]]] = [
    (
        "民乐县教育局 学籍管理系统(演示)",
        [ClientScope.children_read, ClientScope.schooling_write, ClientScope.stats_read],
    ),
    (
        "民乐县民政局 低保救助系统(演示)",
        [ClientScope.children_read, ClientScope.subsidies_write, ClientScope.reports_read],
    ),
]


async def load(session: AsyncSession) -> None:
    lines = []
    for name, scopes in DEMO_CLIENTS:
        secret = new_secret()
        client = (
            await session.execute(
                select(IntegrationClient).where(col(IntegrationClient.name) == name)
            )
        ).scalar_one_or_none()
        if client is None:
            client = IntegrationClient(
                name=name,
                area_code=DEMO_COUNTY,
                scopes=sorted(s.value for s in scopes),
                secret_hash=hash_password(secret),
            )
            session.add(client)
            await session.flush()
        else:
            client.secret_hash = hash_password(secret)
            client.is_active = True
        lines.append(f"  {client.id}  {secret}  {name}")
    await session.flush()
    print("\nDemo integration clients (client_id / client_secret):", file=sys.stderr)
    print("\n".join(lines), file=sys.stderr)
