"""Two readers who try to work out hidden cells, written apart from the code they check."""

from __future__ import annotations

from app.opendata.suppression import PRIMARY, lines


def peel(published):  # type: ignore[no-untyped-def]
    """What a person with a calculator finds: a line with one hidden cell gives it away (its total
    minus the published cells); put the value back and go on until nothing more comes out."""
    grid = [list(row) for row in published]
    found = {}
    progress = True
    while progress:
        progress = False
        for parts, total in lines(len(grid), len(grid[0])):
            cells = [*parts, total]
            hidden = [p for p in cells if isinstance(grid[p[0]][p[1]], str)]
            if len(hidden) != 1:
                continue
            (i, j) = hidden[0]
            if (i, j) == total:
                value = sum(grid[a][b] for a, b in parts)
            else:
                others = sum(grid[a][b] for a, b in parts if (a, b) != (i, j))
                value = grid[total[0]][total[1]] - others
            grid[i][j] = value
            found[(i, j)] = value
            progress = True
    return found


def possible_values(published, cap: int = 60):  # type: ignore[no-untyped-def]
    """Every value each hidden cell can take in some table that publishes exactly this, by trying
    them all ("<5" is 1 to 4, "x" is 5 to `cap`). Only for small tables.

    A depth-first search over the hidden cells; a line left with one unknown cell fixes it, so
    only the free choices are enumerated."""
    hidden = [
        (i, j) for i, row in enumerate(published) for j, v in enumerate(row) if isinstance(v, str)
    ]
    all_lines = [[*parts, total] for parts, total in lines(len(published), len(published[0]))]
    totals = {id(cells): cells[-1] for cells in all_lines}
    seen = {p: set() for p in hidden}

    def allowed(p, value) -> bool:  # type: ignore[no-untyped-def]
        if published[p[0]][p[1]] == PRIMARY:
            return 1 <= value <= 4
        return 5 <= value <= cap

    def search(values: dict) -> None:  # type: ignore[type-arg]
        # Propagate: any line with a single unknown cell decides it.
        values = dict(values)
        changed = True
        while changed:
            changed = False
            for cells in all_lines:
                total = totals[id(cells)]
                unknown = [p for p in cells if p in seen and p not in values]
                if len(unknown) != 1:
                    continue
                p = unknown[0]

                def of(q):  # type: ignore[no-untyped-def]
                    return values[q] if q in values else published[q[0]][q[1]]

                parts_sum = sum(of(q) for q in cells[:-1] if q != p)
                value = parts_sum if p == total else of(total) - parts_sum
                if not allowed(p, value):
                    return
                values[p] = value
                changed = True
        for cells in all_lines:
            if all(p not in seen or p in values for p in cells):

                def of(q):  # type: ignore[no-untyped-def]
                    return values[q] if q in values else published[q[0]][q[1]]

                if sum(of(q) for q in cells[:-1]) != of(cells[-1]):
                    return
        free = [p for p in hidden if p not in values]
        if not free:
            for p in hidden:
                seen[p].add(values[p])
            return
        p = free[0]
        choices = range(1, 5) if published[p[0]][p[1]] == PRIMARY else range(5, cap + 1)
        for value in choices:
            search({**values, p: value})

    search({})
    return seen
