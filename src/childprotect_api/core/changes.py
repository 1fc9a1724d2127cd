"""Whether a PATCH changed anything (DESIGN.md "API conventions": a write that changes nothing
keeps the version, so the other offline phones get no needless 412)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


def unchanged(session: AsyncSession, *records: object) -> bool:
    """True when no column of `records` holds a value other than the stored one.

    SQLAlchemy compares each assigned attribute with the loaded value (an equal value, or an
    equal JSON list, is no change), so the services assign what was sent and ask here."""
    return not any(session.is_modified(r, include_collections=False) for r in records)
