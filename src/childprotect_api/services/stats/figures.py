"""Figures per area row (one statement per figure group), and what a caller is shown of them:
everything, or, for auditors, the figures left after small-figure suppression
(services/stats/suppression.py) over the rows of the county they lie in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from childprotect_api.security.scope import Scope
from childprotect_api.services.stats import periods, queries, snapshots
from childprotect_api.services.stats.metrics import (
    DEFS,
    GROUPS,
    HIDDEN,
    METRICS,
    ROW_EQUATIONS,
    MetricKind,
    derive,
    values,
)
from childprotect_api.services.stats.queries import Figures, Rows
from childprotect_api.services.stats.suppression import PRIMARY, SUPPRESSED, THRESHOLD, Table, solve

Figure = int | float | str | None
RowKey = tuple[int, str]
Shown = dict[RowKey, dict[str, Figure]]

GROUP_ORDER = GROUPS  # services/stats/metrics.py


def groups_for(metrics: Iterable[str]) -> list[str]:
    needed = {DEFS[m].group for m in values(metrics) if m in DEFS}
    return [g for g in GROUP_ORDER if g in needed]


async def compute(
    session: AsyncSession,
    area: Scope,
    lengths: tuple[int, ...],
    days: list[date],
    now: datetime,
    today: date,
    metrics: Sequence[str],
) -> tuple[Rows, datetime]:
    """The figures of `metrics` (and those they derive from) for the area and, with
    `lengths`, for every area below it at those code lengths; and the moment the snapshot
    figures are as of (now, unless county snapshots were used)."""
    params = queries.Params(area, lengths, days, now, today)
    await queries.prepare(session)
    rows: Rows = {}
    names: set[str] = set()
    groups = groups_for(metrics)
    as_of = now
    if snapshots.eligible(area, lengths):
        from_snapshots = [g for g in groups if g in snapshots.GROUPS]
        groups = [g for g in groups if g not in snapshots.GROUPS]
        if from_snapshots:
            found, as_of = await snapshots.rows(session, params, from_snapshots)
            for key, figures in found.items():
                rows.setdefault(key, {}).update(figures)
                names.update(figures)
    results = await _run_groups(session, params, groups)
    for found, found_as_of in results:
        as_of = min(as_of, found_as_of)
        for key, figures in found.items():
            rows.setdefault(key, {}).update(figures)
            names.update(figures)
    for figures in rows.values():
        for name in names - figures.keys():
            figures[name] = None if name in DEFS and DEFS[name].kind == MetricKind.hours else 0
        derive(figures)
    return rows, as_of


# The groups whose statements take longest at a county after the children's pass (a pass
# over the area's children each, or many rows): started first.
_LONGER = ("visited", "care", "visitors", "subsidies")


async def _run(session: AsyncSession, params: queries.Params, group: str) -> tuple[Rows, datetime]:
    """One group's rows and the moment they are as of: live (now), or, for the period's
    distinct children above the county, summed from the counties' entries (periods.py)."""
    if group in periods.GROUPS and snapshots.eligible(params.area, params.lengths):
        return await periods.rows(session, params, group)
    return await queries.run(session, group, params), params.now


async def _run_groups(
    session: AsyncSession, params: queries.Params, groups: list[str]
) -> list[tuple[Rows, datetime]]:
    """The children's pass is most of the time of an area's figures: it runs on a second
    connection while the other groups run one after the other on this one; where the children
    come from the county snapshots (cities, the province), the period's distinct children
    (reached by activities, visited) take that place, each on a connection of its own: they
    come from the counties' period entries (periods.py), and a county whose entry is missing
    or too old is computed there. A connection done with its heavy group takes the next
    group not yet started, so that neither waits on the other (a county's other groups add up
    to about its children's pass). (Snapshots a few milliseconds apart: statistics tolerate
    it, as they tolerate a replica's lag.)"""
    if "children" in groups:
        heavy = ["children"]
    else:
        heavy = [g for g in ("reach", "visited", "visitors") if g in groups]
    if not heavy or len(groups) == 1 or session.bind is None:
        return [await _run(session, params, g) for g in groups]
    # The longer statements first, so that the last to finish is a short one.
    waiting = sorted((g for g in groups if g not in heavy), key=lambda g: g not in _LONGER)
    bind = session.bind

    async def drain(on: AsyncSession) -> list[tuple[Rows, datetime]]:
        found = []
        while waiting:
            found.append(await _run(on, params, waiting.pop(0)))
        return found

    async def alone(group: str) -> list[tuple[Rows, datetime]]:
        async with AsyncSession(bind, expire_on_commit=False) as other:
            await queries.prepare(other)
            return [await _run(other, params, group), *await drain(other)]

    done = await asyncio.gather(*(alone(g) for g in heavy), drain(session))
    return [rows for found in done for rows in found]


async def compute_trend(
    session: AsyncSession,
    area: Scope,
    lengths: tuple[int, ...],
    months: list[date],
    now: datetime,
    today: date,
    metric: str,
) -> tuple[Rows, datetime]:
    """`metric@i` for each month window i (and, for a rate, its numerator, denominator and
    their difference; for the median, the reports it is taken over), and the moment they are
    as of (now, unless county snapshots or period entries were used)."""
    d = DEFS[metric]
    params = queries.Params(area, lengths, months, now, today)
    await queries.prepare(session)
    base = trend_base(metric)
    wanted = [*base, metric] if d.kind == MetricKind.hours else base
    if d.group == "children" and snapshots.eligible(area, lengths):
        return await snapshots.trend_rows(session, params, metric)
    if d.group in periods.TRENDABLE_GROUPS and snapshots.eligible(area, lengths):
        return await periods.trend_rows(session, params, wanted)
    rows = await queries.run(session, d.group, params, wanted, trend=True)
    for figures in rows.values():
        for i in range(params.windows):
            if d.kind == MetricKind.rate:
                num, den = figures[f"{d.parts[0]}@{i}"], figures[f"{d.parts[1]}@{i}"]
                figures[f"{d.parts[2]}@{i}"] = (den or 0) - (num or 0)
                figures[f"{metric}@{i}"] = round(num / den, 4) if den and num is not None else None
    return rows, now


def trend_base(metric: str) -> list[str]:
    """The counts a trendable metric is made of."""
    d = DEFS[metric]
    if d.kind == MetricKind.rate:
        return [d.parts[0], d.parts[1]]
    if d.kind == MetricKind.hours:
        return [d.parts[0]]
    return [metric]


# --- what callers see ---------------------------------------------------------------------


def _plain(name: str, value: float | int | None) -> Figure:
    kind = DEFS[name].kind
    if value is None:
        return None
    if kind == MetricKind.rate:
        return round(float(value), 4)
    if kind == MetricKind.hours:
        return round(float(value), 1)
    if kind in (MetricKind.amount, MetricKind.spent):
        return round(float(value), 2)
    return int(value)


def shown_all(rows: Rows, metrics: Iterable[str]) -> Shown:
    """Every figure as computed (staff, integration clients, admins)."""
    wanted = list(metrics)
    return {key: {m: _plain(m, figs.get(m)) for m in wanted} for key, figs in rows.items()}


@dataclass(frozen=True)
class Tree:
    """The rows of a computation rooted at `root` (an area code) with grouping `lengths`:
    which row is whose part, which are villages, which are known totals."""

    root: str
    lengths: tuple[int, ...]

    def chain(self) -> list[int]:
        return [*sorted(self.lengths, reverse=True), len(self.root)]

    def parent_length(self, n: int) -> int:
        chain = self.chain()
        return chain[chain.index(n) + 1]

    def parent(self, key: RowKey) -> RowKey | None:
        """The row this one is a part of; None for the root and for duplicate remainders."""
        n, code = key
        if n == 0:
            return None
        up = self.parent_length(n)
        if len(code) == n:
            target = code[:up]
        elif len(code) == up:
            target = code  # what is recorded at the parent's own level: its remainder
        else:
            return None  # the same records as a remainder at a coarser grouping
        return (0, self.root) if up == len(self.root) else (up, target)

    def canonical(self, key: RowKey) -> RowKey:
        """Records kept at a township or county appear as a remainder in every finer grouping;
        the row that stands for them in the tree is the one just below their own level."""
        n, code = key
        if n == 0 or len(code) == n:
            return key
        return (min(m for m in self.lengths if m > len(code)), code)

    def is_village(self, key: RowKey) -> bool:
        n, code = key
        return (n == 0 and len(self.root) == 12) or (n == 12 and len(code) == 12)

    def is_known_total(self, key: RowKey) -> bool:
        """Counties and above (and what is recorded at a city or province itself)."""
        n, code = key
        if n == 0:
            return len(self.root) <= 6
        return len(code) <= 4 or (len(code) == n and n <= 6)


def _protected_cells() -> list[str]:
    names = [m for m in METRICS if DEFS[m].kind in (MetricKind.count, MetricKind.amount)]
    return names + list(HIDDEN)


def _small(figures: Figures, name: str) -> bool:
    if name in DEFS and DEFS[name].kind == MetricKind.amount:
        return (figures.get(DEFS[name].parts[0]) or 0) < THRESHOLD
    return (figures.get(name) or 0) < THRESHOLD


def _table(
    rows: Rows,
    tree: Tree,
    cells: list[str],
    row_equations: Iterable[tuple[str, Sequence[str]]],
    hidden: dict[str, tuple[str, str]],
    locked: Iterable[str] = (),
) -> Table:
    table = Table()
    locked = set(locked)
    live = [k for k in rows if k[0] == 0 or tree.parent(k) is not None]
    # Every row has every cell: the row equations need no check when they use only cells.
    names = set(cells)
    checked = all(t in names and set(p) <= names for t, p in row_equations)
    for key in live:
        figures = rows[key]
        known = tree.is_known_total(key)
        if not known and len(key[1]) < key[0]:
            # A remainder nobody is shown (all zero) is known to be zero.
            known = not any(figures.get(c) for c in cells)
        for name in cells:
            table.add(
                (key, name),
                figures.get(name),
                primary=tree.is_village(key) and _small(figures, name),
                fixed=known,
                locked=name in locked,
            )
        for h, (whole, part) in hidden.items():
            table.hidden[(key, h)] = ((key, whole), (key, part))
        for total, parts in row_equations:
            table.equation((key, total), [(key, p) for p in parts], checked=checked)
    members: dict[RowKey, list[RowKey]] = {}
    for key in live:
        up = tree.parent(key)
        if up is not None and up in rows:
            members.setdefault(up, []).append(key)
    for parent, rows_of in members.items():
        for name in cells:
            table.equation((parent, name), [(p, name) for p in rows_of], checked=True)
    return table


def _display(name: str, figures: Figures, unknown: set[str], primary: set[str]) -> Figure:
    d = DEFS[name]
    if d.kind in (MetricKind.staff, MetricKind.work, MetricKind.spent):
        return _plain(name, figures.get(name))
    if d.kind in (MetricKind.rate, MetricKind.hours):
        return SUPPRESSED if any(p in unknown for p in d.parts) else _plain(name, figures.get(name))
    if name in unknown:
        return PRIMARY if name in primary and d.kind == MetricKind.count else SUPPRESSED
    return _plain(name, figures.get(name))


def shown_to_auditor(
    rows: Rows, tree: Tree, metrics: Iterable[str], keys: Iterable[RowKey] | None = None
) -> Shown:
    """What an auditor sees of the rows (of `keys` only, when given)."""
    table = _table(rows, tree, _protected_cells(), ROW_EQUATIONS, HIDDEN)
    unknown, _ = solve(table)
    hidden_by_row = _by_key(unknown)
    primary_by_row = _by_key(table.primary)
    wanted = list(metrics)
    return {
        key: {
            m: _display(m, rows[key], hidden_by_row.get(key, set()), primary_by_row.get(key, set()))
            for m in wanted
        }
        for key in (rows if keys is None else [k for k in keys if k in rows])
    }


def _by_key(cells: Iterable[tuple[object, str]]) -> dict[object, set[str]]:
    out: dict[object, set[str]] = {}
    for key, name in cells:
        out.setdefault(key, set()).add(name)
    return out


def trend_shown_to_auditor(rows: Rows, tree: Tree, metric: str, windows: int) -> Shown:
    """The trend points of every row after suppression over the county's rows and months:
    each month sums over the villages, and each flow figure's twelve months add up to what a
    summary over those months shows."""
    d = DEFS[metric]
    if not d.protected:  # work done, never about children: shown as it is
        return trend_shown_all(rows, metric, windows)
    base = trend_base(metric)
    cells = [f"{b}@{i}" for b in base for i in range(windows)]
    hidden: dict[str, tuple[str, str]] = {}
    equations: list[tuple[str, Sequence[str]]] = []
    if d.kind == MetricKind.rate:
        for i in range(windows):
            h = f"{d.parts[2]}@{i}"
            hidden[h] = (f"{d.parts[1]}@{i}", f"{d.parts[0]}@{i}")
            cells.append(h)
    locked = []
    if metric != "children.active":  # flows: the months add up to the period's figure
        for b in base:
            total = f"{b}@sum"
            for figures in rows.values():
                figures[total] = sum(figures.get(f"{b}@{i}") or 0 for i in range(windows))
            cells.append(total)
            locked.append(total)
            equations.append((total, [f"{b}@{i}" for i in range(windows)]))
    table = _table(rows, tree, cells, equations, hidden, locked)
    unknown, _ = solve(table)
    hidden_by_row = _by_key(unknown)
    out: Shown = {}
    for key, figures in rows.items():
        u = hidden_by_row.get(key, set())
        points: dict[str, Figure] = {}
        for i in range(windows):
            if d.kind in (MetricKind.rate, MetricKind.hours):
                parts = [f"{p}@{i}" for p in d.parts]
                points[str(i)] = (
                    SUPPRESSED
                    if any(p in u for p in parts)
                    else _plain(metric, figures.get(f"{metric}@{i}"))
                )
            elif f"{metric}@{i}" in u:
                small = tree.is_village(key) and (figures.get(f"{metric}@{i}") or 0) < THRESHOLD
                points[str(i)] = PRIMARY if small else SUPPRESSED
            else:
                points[str(i)] = _plain(metric, figures.get(f"{metric}@{i}"))
        out[key] = points
    return out


def trend_shown_all(rows: Rows, metric: str, windows: int) -> Shown:
    return {
        key: {str(i): _plain(metric, figures.get(f"{metric}@{i}")) for i in range(windows)}
        for key, figures in rows.items()
    }
