"""Where negative values go: the two rules a suite can follow, and how much of PICT's rule it meets.

- ``smallest``: each negative once, riding in a row whose every tuple other rows cover too, else
  in a row of its own (:meth:`lib.qa.cover.Cover.place_negatives`). Fewest cases, but a
  negative is seen beside one value of each other field only.
- ``pict``: as PICT does, each negative beside every valid value of every other field the
  constraints allow it with (at strength t, beside every t-1 valid values of other fields), so a
  refusal masked or changed by another field's value is found
  (:meth:`lib.qa.cover.Cover.place_pict`).

Whichever rule made the suite, its report counts the *negative pairs* (a negative with a valid
value of another field) it holds, of those the constraints allow.
"""
from __future__ import annotations

from typing import Literal, cast

from lib.qa.space import Row, Space

NegativeRule = Literal["smallest", "pict"]
NEGATIVE_RULES: tuple[NegativeRule, ...] = ("smallest", "pict")

Pair = tuple[int, int, int, int]  # (negative's dimension, its value, another dimension, a valid value of it)


def allowed(space: Space) -> set[Pair]:
    """Every negative pair that some case the constraints allow holds."""
    found: set[Pair] = set()
    for dim in range(space.n):
        for value in space.negative[dim]:
            start = space.negative_start(dim, value)
            for other in (d for d in range(space.n) if d != dim):
                for partner in space.positive[other]:
                    row = list(start)
                    row[other] = partner
                    if space.completable(row):
                        found.add((dim, value, other, partner))
    return found


def held(space: Space, rows: list[Row]) -> set[Pair]:
    """The negative pairs the (complete) rows hold; each row holds at most one negative."""
    found: set[Pair] = set()
    for row in rows:
        for dim, value in enumerate(row):
            if value is not None and space.is_negative(dim, value):
                found.update((dim, value, other, cast(int, row[other])) for other in range(space.n) if other != dim)
    return found
