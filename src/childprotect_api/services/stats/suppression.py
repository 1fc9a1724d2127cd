"""Small-figure suppression for auditors: no figure about fewer than 5 children in a village
may be shown or be computable from what is shown.
The rule (primary and complementary suppression over the county's sums), and what it does
not protect: docs/statistics.md."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

Cell = tuple[Hashable, str]  # (row, figure)

PRIMARY = "<5"
SUPPRESSED = "suppressed"
THRESHOLD = 5


@dataclass
class Table:
    """Figures as cells, and what links them."""

    values: dict[Cell, float] = field(default_factory=dict)
    # Known to anyone (shown and never hidden): totals of counties and above.
    fixed: set[Cell] = field(default_factory=set)
    # Never chosen to be hidden, though hidden when small: figures another answer shows
    # (a village's total over the twelve months of its trend).
    locked: set[Cell] = field(default_factory=set)
    primary: set[Cell] = field(default_factory=set)
    # A hidden cell (never shown) = whole - part of two shown cells of its row.
    hidden: dict[Cell, tuple[Cell, Cell]] = field(default_factory=dict)
    # Each: (total, *parts), total = sum(parts).
    equations: list[tuple[Cell, ...]] = field(default_factory=list)

    def add(
        self, cell: Cell, value: float | None, *, primary: bool, fixed: bool, locked: bool = False
    ) -> None:
        self.values[cell] = value or 0
        if fixed:
            self.fixed.add(cell)
            return
        if primary:
            self.primary.add(cell)
        if locked:
            self.locked.add(cell)

    def equation(self, total: Cell, parts: Iterable[Cell], *, checked: bool = False) -> None:
        """total = sum(parts); left out unless every cell exists (`checked`: the caller knows
        they do)."""
        cells = (total, *parts)
        if len(cells) > 1 and (checked or all(c in self.values for c in cells)):
            self.equations.append(cells)


def solve(table: Table) -> tuple[set[Cell], list[tuple[Cell, ...]]]:
    """The cells nobody can know (primary, complementary, and hidden cells computed from
    them), and the sums that could not be protected (every other term known for good)."""
    defined_by: dict[Cell, list[Cell]] = defaultdict(list)
    for h, (whole, part) in table.hidden.items():
        defined_by[whole].append(h)
        defined_by[part].append(h)
    containing: dict[Cell, list[int]] = defaultdict(list)
    for i, eq in enumerate(table.equations):
        for c in eq:
            containing[c].append(i)
    # Unknown: hidden by suppression, or a difference one of whose terms is.
    unknown: set[Cell] = set()

    def hide(cell: Cell) -> list[Cell]:
        changed = [cell] if cell not in unknown else []
        unknown.add(cell)
        for h in defined_by.get(cell, ()):
            if h not in unknown:
                unknown.add(h)
                changed.append(h)
        return changed

    for cell in table.primary:
        hide(cell)
    order = {c: i for i, c in enumerate(table.values)}  # ties go to the first added

    def candidates(eq: tuple[Cell, ...]) -> list[Cell]:
        out: list[Cell] = []
        for c in eq:
            if c in unknown:
                continue
            if c in table.hidden:
                out += [d for d in table.hidden[c] if _free(table, d) and d not in unknown]
            elif _free(table, c):
                out.append(c)
        return out

    queue = list(range(len(table.equations)))
    queued = set(queue)
    while queue:
        i = queue.pop()
        queued.discard(i)
        eq = table.equations[i]
        if sum(1 for c in eq if c in unknown) != 1:
            continue
        options = candidates(eq)
        if not options:
            continue
        pick = min(options, key=lambda c: (table.values[c], order[c]))
        for c in hide(pick):
            for j in containing.get(c, ()):
                if j not in queued:
                    queued.add(j)
                    queue.append(j)
    residual = [eq for eq in table.equations if sum(1 for c in eq if c in unknown) == 1]
    return unknown, residual


def _free(table: Table, cell: Cell) -> bool:
    return cell not in table.fixed and cell not in table.locked and cell not in table.hidden
