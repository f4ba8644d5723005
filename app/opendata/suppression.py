"""Small-cell suppression of published tables of counts, so that nobody can be singled out.

A table is published with its totals: an "extended grid" of n + 1 rows and m + 1 columns, whose
last column holds the row totals, last row the column totals and corner the grand total. Every
line (row or column, totals included) is an equation: its cells add up to its total.

Rules, and why:

- Primary suppression: a count from 1 to 4 is published as "<5".
- A count of 0 is published as 0. It singles nobody out, and hiding it would not help: whoever
  reads the register knows which establishments exist. The price is that a reader knows every
  "<5" is at least 1, so the checker below assumes so too.
- Secondary suppression: a count hidden only to protect another is published as "x". It is
  always 5 or more (zeros are never chosen, and anything under 5 is already "<5"), and the
  checker assumes the reader knows that too. It is not written "<5", which would be false.
- Nothing hidden may be worked out: not from one line where it is the only hidden cell (the
  "differencing" of a total against the published cells), not by combining several lines
  (linear algebra over all the equations), and not by the bounds a reader knows ("<5" is 1 to 4,
  "x" is 5 or more): two "<5" in a line whose hidden part adds up to 2 are both 1.
  `disclosed` is that reader; `protect` hides one more cell (the smallest non-zero one published
  in a line of the problem) until `disclosed` finds nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

THRESHOLD = 5
PRIMARY = "<5"
SECONDARY = "x"

Published = int | str
Grid = list[list[int]]
PublishedGrid = list[list[Published]]
Position = tuple[int, int]
Number = int | Fraction
#: One equation over the hidden cells: {cell's index: coefficient}, and the constant it equals.
Equation = tuple[dict[int, Number], Number]


def extend(cells: list[list[int]]) -> Grid:
    """The grid with its row totals, column totals and grand total added."""
    rows = [[*row, sum(row)] for row in cells]
    width = len(rows[0]) if rows else 1
    totals = [sum(row[j] for row in rows) for j in range(width)]
    return [*rows, totals]


def lines(n_rows: int, n_cols: int) -> list[tuple[list[Position], Position]]:
    """Every equation of an extended grid of that size: (the cells, the total they add up to)."""
    result = []
    for i in range(n_rows):
        result.append(([(i, j) for j in range(n_cols - 1)], (i, n_cols - 1)))
    for j in range(n_cols):
        result.append(([(i, j) for i in range(n_rows - 1)], (n_rows - 1, j)))
    return result


def _check_consistent(grid: Grid) -> None:
    for parts, total in lines(len(grid), len(grid[0])):
        if sum(grid[i][j] for i, j in parts) != grid[total[0]][total[1]]:
            raise ValueError("the totals of the grid do not add up")


def primary(grid: Grid) -> PublishedGrid:
    """Naive suppression: only the counts under 5 hidden (shown here so the tests can prove it leaks)."""
    return [[PRIMARY if 0 < v < THRESHOLD else v for v in row] for row in grid]


def protect(grid: Grid) -> PublishedGrid:
    """The grid as it may be published: small counts hidden, and enough others that none can be worked out."""
    if not grid or not grid[0]:
        return []
    _check_consistent(grid)
    published = primary(grid)
    all_lines = lines(len(grid), len(grid[0]))
    while True:
        problem = _line_with_one_hidden(published, all_lines)
        if problem is not None:
            candidates = [*problem[0], problem[1]]
        else:
            found = disclosed(published)
            if not found:
                return published
            i, j = min(found)
            candidates = [
                p
                for parts, total in all_lines
                if (i, j) in (*parts, total)
                for p in (*parts, total)
            ]
        choice = _smallest_visible(grid, published, candidates) or _smallest_visible(
            grid, published, [(i, j) for i in range(len(grid)) for j in range(len(grid[0]))]
        )
        if choice is None:
            return published  # everything non-zero is hidden already
        published[choice[0]][choice[1]] = SECONDARY


def _line_with_one_hidden(
    published: PublishedGrid, all_lines: list[tuple[list[Position], Position]]
) -> tuple[list[Position], Position] | None:
    for parts, total in all_lines:
        hidden = [p for p in (*parts, total) if isinstance(published[p[0]][p[1]], str)]
        if len(hidden) == 1:
            return parts, total
    return None


def _smallest_visible(
    grid: Grid, published: PublishedGrid, candidates: Iterable[Position]
) -> Position | None:
    """The cell to hide next among the candidates, non-zero and published: inner cells before
    totals (the totals are what people read most, the grand total above all), then one that also
    completes another line left with a single hidden cell, then the smallest."""
    n, m = len(grid) - 1, len(grid[0]) - 1
    visible = [
        p
        for p in dict.fromkeys(candidates)
        if not isinstance(published[p[0]][p[1]], str) and grid[p[0]][p[1]] > 0
    ]
    if not visible:
        return None

    def hidden_in_row(i: int) -> int:
        return sum(isinstance(v, str) for v in published[i])

    def hidden_in_column(j: int) -> int:
        return sum(isinstance(row[j], str) for row in published)

    def key(p: Position) -> tuple[bool, bool, int, int, Position]:
        lonely = int(hidden_in_row(p[0]) == 1) + int(hidden_in_column(p[1]) == 1)
        return (p == (n, m), p[0] == n or p[1] == m, -lonely, grid[p[0]][p[1]], p)

    return min(visible, key=key)


# --- the reader who tries to work out the hidden cells ------------------------------------------


def disclosed(published: PublishedGrid) -> dict[Position, int]:
    """The hidden cells a reader can work out exactly from what is published, with their values.

    The reader knows every equation (each line adds up to its total), every published number, that
    "<5" is 1 to 4 and that "x" is 5 or more. Exact linear algebra finds the cells the equations
    fix on their own; bounds are then narrowed through the equations until nothing changes.
    """
    if not published or not published[0]:
        return {}
    hidden = [
        (i, j)
        for i, row in enumerate(published)
        for j, value in enumerate(row)
        if isinstance(value, str)
    ]
    if not hidden:
        return {}
    index = {p: k for k, p in enumerate(hidden)}
    equations: list[Equation] = []
    for parts, total in lines(len(published), len(published[0])):
        coefficients: dict[int, Number] = {}
        constant: Number = 0  # sum(parts) - total = 0, the published values moved to the right
        for p, sign in [*((p, 1) for p in parts), (total, -1)]:
            value = published[p[0]][p[1]]
            if isinstance(value, str):
                coefficients[index[p]] = coefficients.get(index[p], 0) + sign
            else:
                constant -= sign * value
        if coefficients:
            equations.append((coefficients, constant))
    reduced = _row_reduce(equations)

    low: list[float] = []
    high: list[float] = []
    for i, j in hidden:
        primary_cell = published[i][j] == PRIMARY
        low.append(1 if primary_cell else THRESHOLD)
        high.append(THRESHOLD - 1 if primary_cell else math.inf)
    _narrow(reduced + equations, low, high)
    return {p: int(low[k]) for k, p in enumerate(hidden) if low[k] == high[k]}


def _row_reduce(equations: list[Equation]) -> list[Equation]:
    """Reduced row echelon form of the equations, exact and sparse.

    The equations of a table are those of a network (each hidden cell is in one row and one
    column), a totally unimodular matrix: pivots are 1 or -1 and everything stays an integer.
    Fractions are used only if that ever stops being true.
    """
    rows = [(dict(c), b) for c, b in equations]
    done: list[Equation] = []
    while rows:
        coefficients, constant = rows.pop()
        if not coefficients:
            continue
        col = min(coefficients)
        factor = coefficients[col]
        inverse: Number = factor if factor in (1, -1) else Fraction(1) / factor
        pivot = ({k: c * inverse for k, c in coefficients.items()}, constant * inverse)
        rows = [_eliminate(row, pivot, col) for row in rows]
        done = [_eliminate(row, pivot, col) for row in done]
        done.append(pivot)
    return done


def _eliminate(row: Equation, pivot: Equation, col: int) -> Equation:
    coefficients, constant = row
    times = coefficients.get(col)
    if not times:
        return row
    result = dict(coefficients)
    for k, c in pivot[0].items():
        value = result.get(k, 0) - times * c
        if value:
            result[k] = value
        else:
            result.pop(k, None)
    return result, constant - times * pivot[1]


def _narrow(equations: list[Equation], low: list[float], high: list[float]) -> None:
    """Tighten each hidden cell's bounds through every equation until nothing changes (integers).

    An equation with a single cell fixes it; one whose other cells are bounded bounds it.
    """
    prepared = [
        ([(k, float(c)) for k, c in coefficients.items()], float(constant))
        for coefficients, constant in equations
    ]
    for _round in range(200):
        changed = False
        for terms, constant in prepared:
            # a * v_k = constant - (the other terms): bound the sum of all terms, then leave v_k out.
            least = [c * (low[k] if c > 0 else high[k]) for k, c in terms]
            most = [c * (high[k] if c > 0 else low[k]) for k, c in terms]
            for position, (k, a) in enumerate(terms):
                others_least = _sum_without(least, position)
                others_most = _sum_without(most, position)
                lo, hi = (constant - others_most) / a, (constant - others_least) / a
                if a < 0:
                    lo, hi = hi, lo
                lo = math.ceil(lo - 1e-9) if math.isfinite(lo) else lo
                hi = math.floor(hi + 1e-9) if math.isfinite(hi) else hi
                if lo > low[k]:
                    low[k], changed = lo, True
                if hi < high[k]:
                    high[k], changed = hi, True
        if not changed:
            return


def _sum_without(values: list[float], position: int) -> float:
    return math.fsum(v for p, v in enumerate(values) if p != position)
