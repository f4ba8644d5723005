"""Small-cell suppression: counts under 5 hidden, and no hidden count can be worked out from the
totals, whether from one line (differencing), from several lines together, or from the bounds a
reader knows. Two readers written apart from the module check it (tests/opendata/attacker.py)."""

from __future__ import annotations

import random

import pytest

from app.opendata.suppression import PRIMARY, SECONDARY, disclosed, extend, lines, primary, protect
from tests.opendata.attacker import peel, possible_values


def _hidden(published) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [
        (i, j) for i, row in enumerate(published) for j, v in enumerate(row) if isinstance(v, str)
    ]


def _assert_safe(grid, published) -> None:  # type: ignore[no-untyped-def]
    """Published cells are true, hidden ones are marked by their size, and nobody recovers any."""
    for i, row in enumerate(published):
        for j, value in enumerate(row):
            true = grid[i][j]
            if value == PRIMARY:
                assert 1 <= true <= 4
            elif value == SECONDARY:
                assert true >= 5
            else:
                assert value == true and not 1 <= true <= 4
    assert peel(published) == {}
    assert disclosed(published) == {}


def test_counts_under_five_are_published_as_less_than_five_and_zero_as_zero():
    grid = extend([[0, 1, 4, 5, 12]])
    assert primary(grid)[0] == [0, PRIMARY, PRIMARY, 5, 12, 22]


def test_naive_suppression_leaks_through_the_total_and_protection_stops_it():
    # Lodging, restaurants and agencies in two regions; the 3 restaurants in the first region are
    # hidden, but the region's total (25) minus the published cells (10 + 12) gives them away.
    grid = extend([[10, 3, 12], [8, 9, 7]])
    naive = primary(grid)
    assert naive[0] == [10, PRIMARY, 12, 25]
    assert peel(naive) == {(0, 1): 3}
    assert disclosed(naive) == {(0, 1): 3}

    published = protect(grid)
    _assert_safe(grid, published)
    # Each line now has two hidden cells or none, and every hidden one can take several values.
    for parts, total in lines(len(grid), len(grid[0])):
        assert sum(isinstance(published[i][j], str) for i, j in (*parts, total)) != 1
    for cell, values in possible_values(published, cap=100).items():
        assert grid[cell[0]][cell[1]] in values
        assert len(values) > 1, (cell, values)


def test_a_hidden_total_is_protected_too():
    # Madre de Dios has 3 signatories in all: its total is small, so it is hidden, and so must be
    # enough of the others that the national figure does not give it away.
    grid = extend([[20, 9], [2, 1], [11, 7]])
    published = protect(grid)
    assert published[1][2] == PRIMARY
    _assert_safe(grid, published)


def test_lines_combined_give_away_what_no_single_line_does():
    # Two blocks of hidden cells joined by one cell, (1, 2): every line has two hidden cells or
    # none, so no single line gives anything away, but rows 0-1 minus columns 0-1 give (1, 2).
    grid = extend([[7, 6, 5, 9], [8, 9, 6, 5], [5, 5, 8, 7], [9, 5, 6, 8]])
    published: list[list[object]] = [list(row) for row in grid]
    for cell in [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 2), (2, 3), (3, 2), (3, 3)]:
        published[cell[0]][cell[1]] = SECONDARY
    for parts, total in lines(len(grid), len(grid[0])):
        assert sum(isinstance(published[i][j], str) for i, j in (*parts, total)) != 1
    assert peel(published) == {}
    assert disclosed(published) == {(1, 2): 6}
    assert possible_values(published, cap=40)[(1, 2)] == {6}


def test_what_a_reader_knows_of_a_hidden_count_can_give_it_away():
    # The hidden part of the first row adds up to 2, and each "<5" is at least 1: both are 1.
    grid = extend([[1, 1, 30], [2, 3, 30]])
    naive = primary(grid)
    assert peel(naive) == {}  # no line has a single hidden cell...
    assert disclosed(naive)[(0, 0)] == 1  # ...but the bounds give them away
    _assert_safe(grid, protect(grid))


@pytest.mark.parametrize("seed", range(6))
def test_random_small_tables_are_safe_against_trying_every_value(seed):
    rng = random.Random(seed)
    for _trial in range(12):
        rows, columns = rng.choice([(2, 2), (2, 3), (3, 2)])
        grid = extend(
            [[rng.choice([0, 1, 2, 3, 4, 5, 6, 9]) for _ in range(columns)] for _ in range(rows)]
        )
        published = protect(grid)
        _assert_safe(grid, published)
        for cell, values in possible_values(published, cap=2 * grid[-1][-1] + 20).items():
            assert len(values) > 1, (grid, published, cell, values)


def test_a_national_table_is_protected_quickly():
    import time

    rng = random.Random(42)
    grid = extend(
        [[rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 40]) for _ in range(8)] for _ in range(26)]
    )
    started = time.perf_counter()
    published = protect(grid)
    assert time.perf_counter() - started < 2
    _assert_safe(grid, published)
    assert len(_hidden(published)) < 26 * 8


def test_an_empty_or_inconsistent_grid():
    assert protect(extend([[0, 0], [0, 0]])) == extend([[0, 0], [0, 0]])
    with pytest.raises(ValueError):
        protect([[1, 2, 4], [1, 2, 3]])
