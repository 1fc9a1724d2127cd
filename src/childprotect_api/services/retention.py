"""Retention: records closed longer than the retention period (settings.retention_days) are
anonymised — names, ID numbers, phones, addresses and free text removed — while everything the
statistics count (area, dates, categories, risk levels, statuses, situations) stays.

What is anonymised:
- children closed before the cut-off (and the agreements, visits' free text and linked
  reports' free text of those children);
- reports closed before the cut-off (the reporter's identity, descriptions, notes).
Every statement is set-based and idempotent (rows already anonymised are skipped), so the job
is safe to run in several API processes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ANONYMISED = "(已匿名)"

_CHILDREN = text(
    """
    UPDATE children SET
        name = :anon, id_number_enc = NULL, id_number_hash = NULL, id_number_masked = NULL,
        household_registration = NULL, residence = NULL, address = NULL,
        family_situation = NULL, health_notes = NULL, disability_notes = NULL,
        father = CASE WHEN father IS NULL THEN NULL
                      ELSE jsonb_build_object('situation', father->'situation') END,
        mother = CASE WHEN mother IS NULL THEN NULL
                      ELSE jsonb_build_object('situation', mother->'situation') END,
        pairing_helper_name = NULL, pairing_helper_phone = NULL, school = NULL,
        anonymised_at = :now, version = version + 1, updated_at = :now
    WHERE status = 'closed' AND closed_at < :cutoff AND anonymised_at IS NULL
    RETURNING id
    """
)

_AGREEMENTS = text(
    """
    UPDATE agreements SET
        guardian_name = :anon, guardian_phone = NULL, guardian_id_number_enc = NULL,
        guardian_id_number_hash = NULL, guardian_id_number_masked = NULL,
        guardian_work_place = NULL,
        caregiver_name = :anon, caregiver_phone = NULL, caregiver_id_number_enc = '\\x'::bytea,
        caregiver_id_number_hash = 'anonymised', caregiver_id_number_masked = '',
        caregiver_address = NULL, termination_note = NULL
    WHERE child_id = ANY(:ids) AND caregiver_id_number_hash <> 'anonymised'
    """
)

_REPORTS = text(
    """
    UPDATE reports SET
        reporter_name = NULL, reporter_contact = NULL, description = :anon,
        place_description = NULL, outcome_message = NULL,
        child_description = CASE WHEN child_description IS NULL THEN NULL ELSE
            jsonb_strip_nulls(jsonb_build_object(
                'approximate_age', child_description->'approximate_age',
                'gender', child_description->'gender')) END
    WHERE description <> :anon
      AND ((status = 'closed' AND closed_at < :cutoff) OR child_id = ANY(:ids))
    RETURNING id
    """
)

_REPORT_TEXT = [
    text("UPDATE report_notes SET body = :anon WHERE report_id = ANY(:rids) AND body <> :anon"),
    text(
        "UPDATE report_referrals SET contact = NULL, note = NULL, status_note = NULL "
        "WHERE report_id = ANY(:rids)"
    ),
]


async def anonymise_expired(session: AsyncSession, now: datetime, retention_days: int) -> int:
    """Anonymise what is past retention; answers how many children and reports were."""
    cutoff = now - timedelta(days=retention_days)
    params = {"anon": ANONYMISED, "now": now, "cutoff": cutoff}
    ids = list((await session.execute(_CHILDREN, params)).scalars())
    await session.execute(_AGREEMENTS, {**params, "ids": ids})
    await _visits(session, ids)
    rids = list((await session.execute(_REPORTS, {**params, "ids": ids})).scalars())
    for stmt in _REPORT_TEXT:
        await session.execute(stmt, {**params, "rids": rids})
    return len(ids) + len(rids)


async def _visits(session: AsyncSession, child_ids: list[object]) -> None:
    """Visits keep their ratings and dates; their free text goes."""
    exists = (await session.execute(text("SELECT to_regclass('visits') IS NOT NULL"))).scalar()
    if exists and child_ids:
        await session.execute(
            text("UPDATE visits SET notes = NULL WHERE child_id = ANY(:ids) AND notes IS NOT NULL"),
            {"ids": child_ids},
        )
