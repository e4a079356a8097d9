"""Where negative values go: the two rules a suite can follow, and how much of PICT's rule it meets.

- ``smallest``: each negative once, riding in a row whose every tuple other rows cover too, else
  in a row of its own (:meth:`lib.qa.generate._Cover.place_negatives`). Fewest cases, but a
  negative is seen beside one value of each other field only.
- ``pict``: as PICT does, each negative beside every valid value of every other field the
  constraints allow it with, so a refusal masked or changed by another field's value is found.

Whichever rule made the suite, its report counts the *negative pairs* (a negative with a valid
value of another field) it holds, of those the constraints allow.
"""
from __future__ import annotations

import random
from typing import Literal

from lib.qa.space import Row, Space

NegativeRule = Literal["smallest", "pict"]
NEGATIVE_RULES: tuple[NegativeRule, ...] = ("smallest", "pict")

Pair = tuple[int, int, int, int]  # (negative's dimension, its value, other dimension, a valid value)


def allowed_pairs(space: Space) -> set[Pair]:
    """Every negative with every valid value of another field that some case allowing both holds."""
    found: set[Pair] = set()
    for dim in range(space.n):
        for value in space.negative[dim]:
            start = space.negative_start(dim, value)
            for other in range(space.n):
                if other == dim:
                    continue
                for valid in space.positive[other]:
                    start[other] = valid
                    if space.completable(start):
                        found.add((dim, value, other, valid))
                start[other] = None
    return found


def pairs_in(space: Space, rows: list[Row]) -> set[Pair]:
    """The negative pairs the rows hold (each row holds at most one negative)."""
    found: set[Pair] = set()
    for row in rows:
        for dim, value in enumerate(row):
            if value is not None and space.is_negative(dim, value):
                found.update((dim, value, other, v) for other, v in enumerate(row) if other != dim and v is not None)
    return found


def place_pict(space: Space, rows: list[Row], rng: random.Random) -> None:
    """PICT's rule: add rows until every allowed negative pair is held. Each row takes one negative
    and, field by field (those with most pairs still wanted first), a wanted valid value that
    keeps the row completable, else any value that does."""
    wanted = allowed_pairs(space) - pairs_in(space, rows)
    placed = {(d, v) for row in rows for d, v in enumerate(row) if space.is_negative(d, v)}
    for dim in range(space.n):
        for value in space.negative[dim]:
            mine = {(other, v) for d, n, other, v in wanted if (d, n) == (dim, value)}
            while mine or (dim, value) not in placed:
                row = space.negative_start(dim, value)
                others = [d for d in range(space.n) if d != dim]
                rng.shuffle(others)
                others.sort(key=lambda d: -sum(1 for o, _ in mine if o == d))
                for other in others:
                    options = [v for v in space.positive[other] if (other, v) in mine] + space.positive[other]
                    row[other] = next(v for v in options if space.completable([*row[:other], v, *row[other + 1:]]))
                mine -= set(enumerate(row))
                placed.add((dim, value))
                rows.append(row)
