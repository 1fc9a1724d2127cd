"""Bulk import of screening results (摸排) into the registry.

Decisions recorded here:
- Per row, not all-or-nothing: each valid row is created in its own savepoint (through the
  registry's create service, so the same rules hold: ID number, birth date and gender,
  age, village in the caller's scope, one record per ID number); an invalid or duplicate
  row is reported and the others go on. A paper screening of a township has a few bad rows;
  refusing the other hundreds for them helps nobody, and the report says which to fix.
  Re-sending the fixed file is safe: rows already created come back as duplicates.
- Duplicates: the same ID number as an existing record (named by id only when that record
  is in the caller's scope, like the registry's 409), the same ID number as an earlier row
  of the file, and, for rows without an ID number, the same name and birth date in the same
  village (so re-sending a file does not register those children twice).
- A dry run goes through the same steps and rolls each savepoint back: what it reports is
  what a real run would do, short of a concurrent change, and of one thing: a row whose ID
  number is registered outside the caller's scope reads `created` like any new row (and is
  audited as `child.import_match_elsewhere`), so that a dry run cannot be used to test
  which of thousands of made-up numbers exist (issue #18). A real run reports it as a
  `duplicate` without an id, the registry's one-record answer: audited and counted against
  the daily limit of those answers; once past it, the rest of the file is `invalid`
  `rate_limited` (not processed), so that the limit bounds what a file can reveal.
- Files of more than `import_sync_max_rows` rows run as a job in the background (see
  core/jobs.py), committing every `PROGRESS_EVERY` rows with the job's progress; a job
  cut short (process stopped or killed: then marked failed when its lease runs out) keeps
  what it committed, so re-sending the file is the fix.
- The report holds row numbers, outcomes, ids and reasons, never a name or an ID number."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from childprotect_api.config import Settings
from childprotect_api.core import audit, jobs
from childprotect_api.core.db import Database
from childprotect_api.core.errors import AppError, Conflict, NotFound, TooManyRequests
from childprotect_api.models.base import utcnow
from childprotect_api.models.child import Child
from childprotect_api.models.job import Job, JobKind, JobStatus
from childprotect_api.schemas.child import ChildCreate
from childprotect_api.schemas.child_import import (
    ChildImportReport,
    ImportRowReport,
    RowError,
    RowOutcome,
)
from childprotect_api.security.scope import Action, Scope, in_scope
from childprotect_api.services.children import id_numbers, registry, rules
from childprotect_api.services.children import import_file as child_import_file
from childprotect_api.services.children.import_file import ParsedRow

log = logging.getLogger(__name__)

PROGRESS_EVERY = 100


@dataclass
class ImportRun:
    """The state of one import across its rows."""

    scope: Scope
    data_key: str
    dry_run: bool
    ignored_columns: list[str]

    def __post_init__(self) -> None:
        self.rows: list[ImportRowReport] = []
        self.counts: Counter[RowOutcome] = Counter()
        # Keys of the rows seen so far (ID number hash, or village+name+birth date) -> row.
        self._seen: dict[tuple[str, ...], ImportRowReport] = {}
        # Past the daily limit of "registered elsewhere" answers: no further row is processed.
        self.stopped = False

    def progress(self) -> dict[str, int]:
        """The job table's counters."""
        return {
            "processed": len(self.rows),
            "created": self.counts[RowOutcome.created],
            "duplicates": self.counts[RowOutcome.duplicate],
            "invalid": self.counts[RowOutcome.invalid],
        }

    def report(self) -> ChildImportReport:
        return ChildImportReport(
            dry_run=self.dry_run,
            total=len(self.rows),
            created=self.counts[RowOutcome.created],
            duplicates=self.counts[RowOutcome.duplicate],
            invalid=self.counts[RowOutcome.invalid],
            ignored_columns=self.ignored_columns,
            rows=self.rows,
        )

    async def add(self, session: AsyncSession, parsed: ParsedRow) -> ImportRowReport:
        result = await self._row(session, parsed)
        self.rows.append(result)
        self.counts[result.outcome] += 1
        return result

    async def _row(self, session: AsyncSession, parsed: ParsedRow) -> ImportRowReport:
        if self.stopped:
            return _not_processed(parsed.row)
        if parsed.data is None:
            return ImportRowReport(row=parsed.row, outcome=RowOutcome.invalid, errors=parsed.errors)
        data = parsed.data
        key = self._key(data)
        earlier = self._seen.get(key)
        if earlier is not None:
            return ImportRowReport(
                row=parsed.row,
                outcome=RowOutcome.duplicate,
                duplicate_of_row=earlier.row,
                existing_child_id=earlier.child_id,
            )
        if data.id_number is None:
            existing = await _same_child_without_id(session, self.scope, data)
            if existing is not None:
                return await self._duplicate(session, parsed.row, existing)
        result = await self._create(session, parsed.row, data)
        if result.outcome == RowOutcome.created:
            self._seen[key] = result
        return result

    def _key(self, data: ChildCreate) -> tuple[str, ...]:
        if data.id_number:
            try:
                normalized = id_numbers.parse(data.id_number).normalized
            except ValueError:
                normalized = data.id_number  # invalid: the create rejects it
            return ("id", id_numbers.hash_of(self.data_key, normalized))
        return ("nb", data.area_code, data.name, data.birth_date.isoformat())

    async def _create(self, session: AsyncSession, row: int, data: ChildCreate) -> ImportRowReport:
        savepoint = await session.begin_nested()
        try:
            child, _ = await registry.create_child(
                session, self.scope, self.data_key, data, count_elsewhere=not self.dry_run
            )
        except rules.DuplicateElsewhere as e:
            await savepoint.rollback()
            if not self.dry_run:  # audited and counted by the registry
                return ImportRowReport(row=row, outcome=RowOutcome.duplicate)
            await audit.record(
                session,
                self.scope,
                "child.import_match_elsewhere",
                registry.RESOURCE,
                e.child_id,
                e.area_code,
            )
            return ImportRowReport(row=row, outcome=RowOutcome.created)
        except TooManyRequests:
            await savepoint.rollback()
            self.stopped = True
            return _not_processed(row)
        except Conflict as e:
            await savepoint.rollback()
            if e.code != "duplicate_child":
                return _invalid(row, e)
            existing = e.extra.get("existing_child_id")
            if existing is None:  # registered outside the caller's scope: no id
                return ImportRowReport(row=row, outcome=RowOutcome.duplicate)
            found = await session.get(Child, uuid.UUID(str(existing)))
            assert found is not None  # the registry has just named it
            return await self._duplicate(session, row, found)
        except AppError as e:
            await savepoint.rollback()
            return _invalid(row, e)
        if self.dry_run:
            await savepoint.rollback()
            return ImportRowReport(row=row, outcome=RowOutcome.created)
        await savepoint.commit()
        return ImportRowReport(row=row, outcome=RowOutcome.created, child_id=child.id)

    async def _duplicate(self, session: AsyncSession, row: int, child: Child) -> ImportRowReport:
        # Naming an existing record is a read of it.
        await audit.record(
            session, self.scope, "child.import_match", registry.RESOURCE, child.id, child.area_code
        )
        return ImportRowReport(row=row, outcome=RowOutcome.duplicate, existing_child_id=child.id)


def _not_processed(row: int) -> ImportRowReport:
    error = RowError(
        field="row",
        code="rate_limited",
        message="not processed: too many ID numbers found registered in other areas today",
    )
    return ImportRowReport(row=row, outcome=RowOutcome.invalid, errors=[error])


# Errors the registry raises without naming a field.
_FIELD_OF_CODE = {"risk_level_not_allowed": "risk_level"}


def _invalid(row: int, e: AppError) -> ImportRowReport:
    if e.errors:
        errors = [RowError(field=f.field, code=e.code, message=f.message) for f in e.errors]
    elif isinstance(e, NotFound):
        # The village is outside the caller's scope (or does not exist): say no more.
        errors = [
            RowError(field="area_code", code="unknown_area", message="no such village in your area")
        ]
    else:
        field = _FIELD_OF_CODE.get(e.code, "row")
        errors = [RowError(field=field, code=e.code, message=e.detail or e.title)]
    return ImportRowReport(row=row, outcome=RowOutcome.invalid, errors=errors)


async def _same_child_without_id(
    session: AsyncSession, scope: Scope, data: ChildCreate
) -> Child | None:
    stmt = (
        select(Child)
        .where(
            in_scope(scope, col(Child.area_code), col(Child.county_code)),
            col(Child.county_code) == data.area_code[:6],
            col(Child.area_code) == data.area_code,
            col(Child.name) == data.name,
            col(Child.birth_date) == data.birth_date,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def run_rows(
    session: AsyncSession, run: ImportRun, rows: Sequence[ParsedRow]
) -> ChildImportReport:
    """All rows in the caller's transaction (small files: the request's own)."""
    for parsed in rows:
        await run.add(session, parsed)
    return run.report()


async def run_job(
    db: Database,
    job_id: uuid.UUID,
    run: ImportRun,
    rows: Sequence[ParsedRow],
    lease_seconds: float = 120.0,
) -> None:
    """A large import in the background, in its own session: the rows of each stretch of
    PROGRESS_EVERY are committed together with the job's progress (so the counters always
    say what is committed), under the job's lease (core/jobs.py)."""
    try:
        async with jobs.leased(db, job_id, lease_seconds), db.sessionmaker() as session:
            await jobs.update_job(session, job_id, status=JobStatus.running.value)
            await session.commit()
            for parsed in rows:
                await run.add(session, parsed)
                if len(run.rows) % PROGRESS_EVERY == 0 and len(run.rows) < len(rows):
                    await jobs.update_job(session, job_id, **run.progress())
                    await session.commit()
                    session.expunge_all()  # keep memory flat over a long file
            report = run.report()
            await jobs.update_job(
                session,
                job_id,
                status=JobStatus.done.value,
                report=report.model_dump(mode="json", by_alias=True),
                finished_at=utcnow(),
                **run.progress(),
            )
            await session.commit()
    except asyncio.CancelledError:
        await jobs.fail_job(db, job_id, jobs.INTERRUPTED)
        raise
    except jobs.LeaseLost:
        # Reaped as dead meanwhile (this process lost the database for longer than the
        # lease): the uncommitted stretch is rolled back; the job already says failed.
        log.warning("import job %s lost its lease: stopped", job_id)
    except Exception as e:
        # The type only: messages can quote row values (names, ID numbers).
        log.error("import job %s failed: %s", job_id, type(e).__name__)
        await jobs.fail_job(db, job_id, f"internal error ({type(e).__name__})")


async def import_children(
    session: AsyncSession,
    db: Database,
    state: Any,
    scope: Scope,
    settings: Settings,
    raw: bytes,
    *,
    dry_run: bool,
) -> ChildImportReport | Job:
    """The report of a small file (in the request's transaction), or the queued job of a
    large one (`state`: the app's state, which holds the background tasks)."""
    scope.require(Action.children_write)
    # Reading a workbook is CPU work: off the event loop.
    table = await asyncio.to_thread(child_import_file.read_table, raw)
    parsed, ignored = await asyncio.to_thread(child_import_file.parse_rows, table)
    run = ImportRun(scope, settings.data_key, dry_run, ignored)
    if len(parsed) <= settings.import_sync_max_rows:
        return await run_rows(session, run, parsed)
    job = await jobs.create_job(
        db, scope, JobKind.children_import, dry_run=dry_run, total=len(parsed)
    )
    jobs.spawn(state, run_job(db, job.id, run, parsed, settings.job_lease_seconds))
    return job
