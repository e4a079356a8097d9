"""Where negative values go: the two rules a suite can follow, and how much of PICT's rule it meets.

- ``smallest``: each negative once, riding in a row whose every tuple other rows cover too, else
  in a row of its own (:meth:`lib.qa.generate._Cover.place_negatives`). Fewest cases, but a
  negative is seen beside one value of each other field only.
- ``pict``: as PICT does, each negative beside every valid value of every other field the
  constraints allow it with (at strength t, beside every t-1 valid values of other fields), so a
  refusal masked or changed by another field's value is found.

Whichever rule made the suite, its report counts the *negative pairs* (a negative with a valid
value of another field) it holds, of those the constraints allow.
"""
from __future__ import annotations

import random
from bisect import bisect
from itertools import combinations, product
from typing import Literal, cast

from lib.qa.space import Row, Space
from lib.qa.steps import NO_STEPS, Steps

NegativeRule = Literal["smallest", "pict"]
NEGATIVE_RULES: tuple[NegativeRule, ...] = ("smallest", "pict")

Combo = tuple[int, int, tuple[int, ...], tuple[int, ...]]  # (negative's dimension, its value, other dimensions, valid values)


def allowed(space: Space, k: int = 1) -> set[Combo]:
    """Every negative with every k valid values of other fields that some case allowing them all holds
    (k = 1: the negative pairs the report counts)."""
    found: set[Combo] = set()
    for dim in range(space.n):
        for value in space.negative[dim]:
            start = space.negative_start(dim, value)
            for others in combinations([d for d in range(space.n) if d != dim], k):
                for values in product(*(space.positive[d] for d in others)):
                    row = list(start)
                    for d, v in zip(others, values, strict=True):
                        row[d] = v
                    if space.completable(row):
                        found.add((dim, value, others, values))
    return found


def held(space: Space, rows: list[Row], k: int = 1) -> set[Combo]:
    """The negative combinations the (complete) rows hold; each row holds at most one negative."""
    found: set[Combo] = set()
    for row in rows:
        for dim, value in enumerate(row):
            if value is not None and space.is_negative(dim, value):
                others = [d for d in range(space.n) if d != dim]
                found.update((dim, value, combo, tuple(cast(int, row[d]) for d in combo))
                             for combo in combinations(others, k))
    return found


def place_pict(space: Space, rows: list[Row], rng: random.Random, strength: int, steps: Steps = NO_STEPS,
               what: str = "cases placed") -> None:
    """PICT's rule at strength t: add rows until each negative is held with every t-1 valid values of
    other fields the constraints allow it with. Each row takes one negative and one combination still
    wanted, then, field by field, the valid value completing most wanted combinations that keeps
    the row completable. ``steps(what, rows so far)`` before each row (progress, cancel)."""
    k = max(1, min(strength - 1, space.n - 1))
    wanted: dict[tuple[int, int], set[tuple[tuple[int, ...], tuple[int, ...]]]] = {}
    for d, n, others, values in allowed(space, k) - held(space, rows, k):
        wanted.setdefault((d, n), set()).add((others, values))
    placed = {(d, v) for row in rows for d, v in enumerate(row) if space.is_negative(d, v)}
    for dim in range(space.n):
        for value in space.negative[dim]:
            mine = wanted.get((dim, value), set())
            while mine or (dim, value) not in placed:
                steps(what, len(rows))
                row = space.negative_start(dim, value)
                if mine:
                    others, values = min(mine)
                    for d, v in zip(others, values, strict=True):
                        row[d] = v
                free = [d for d in range(space.n) if row[d] is None]
                rng.shuffle(free)
                for other in free:
                    options = [v for v in space.positive[other] if space.completable([*row[:other], v, *row[other + 1:]])]
                    table = _partners(space, row, dim, other, k)
                    gains = [sum(1 for dims, before, after in table if (dims, (*before, v, *after)) in mine)
                             for v in options]
                    row[other] = options[gains.index(max(gains))]
                mine -= {(combo, values) for _, _, combo, values in held(space, [row], k)}
                placed.add((dim, value))
                rows.append(row)


def _partners(space: Space, row: Row, negative: int, at: int,
              k: int) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Per k-1 valid values already in the row: the dimensions they make with ``at``, and their
    values before and after ``at``'s place (so each candidate value costs one lookup)."""
    fixed = [d for d in range(space.n) if d not in (negative, at) and row[d] is not None]
    table = []
    for combo in combinations(fixed, k - 1):
        where = bisect(combo, at)
        values = tuple(cast(int, row[d]) for d in combo)
        table.append(((*combo[:where], at, *combo[where:]), values[:where], values[where:]))
    return table
