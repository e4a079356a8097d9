"""The enabled dimensions of a model as value indices: constraint checks and exact feasibility.

Kept apart from the covering itself (:mod:`lib.qa.generate`) so that its rules (which partial
rows can still be completed, how rare a value is under the constraints) are one unit, shared by
the t-way cover and the placement of negatives (:mod:`lib.qa.negatives`).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

from lib.qa.constraints import Constraint, Judge
from lib.qa.model import Model, check_values
from lib.qa.values import Value

RARITY_LIMIT = 100_000  # constrained assignments enumerated to weigh rare values (else all weigh 1)

Row = list[int | None]  # per enabled dimension, the index of its value (None: not chosen yet)
Combo = tuple[tuple[int, ...], tuple[int, ...]]  # (dimensions, value indices)


def row_of(n: int, dims: Sequence[int], values: Sequence[int]) -> Row:
    """A row of ``n`` dimensions with only ``dims`` set."""
    row: Row = [None] * n
    for d, v in zip(dims, values, strict=True):
        row[d] = v
    return row


@dataclass
class Rule:
    """A constraint, the enabled dimensions it names, and its verdicts on their values seen so far."""

    dims: tuple[int, ...]
    constraint: Constraint
    memo: dict[tuple[int | None, ...], bool] = field(default_factory=dict)


class Space:
    """The enabled dimensions as value indices, with constraint checks and exact feasibility."""

    def __init__(self, model: Model) -> None:
        self.dims = model.enabled()
        if not self.dims:
            raise ValueError("no dimension is enabled")
        for dim in self.dims:
            check_values(dim.path, dim.values)
        self.n = len(self.dims)
        self.positive = [[i for i, v in enumerate(d.values) if not v.negative] for d in self.dims]
        self.negative = [[i for i, v in enumerate(d.values) if v.negative] for d in self.dims]
        self.negative_flags = [[v.negative for v in d.values] for d in self.dims]
        index = {d.path: i for i, d in enumerate(self.dims)}
        self.judge = Judge(model.constraints, {d.path: d.values for d in self.dims})
        # each constraint with the dimensions it names; one naming a disabled field is skipped (the judge's rule)
        self.rules = [Rule(tuple(index[p] for p in c.paths), c) for c in self.judge.constraints]
        self.constrained = sorted({d for rule in self.rules for d in rule.dims})
        self._rules_of = {d: [r for r in self.rules if d in r.dims] for d in self.constrained}
        self._memo: dict[tuple[int | None, ...], bool] = {}
        self.rarity = self._rarity()

    def _rarity(self) -> list[list[float]]:
        """Per value, how few valid cases can hold it: (valid assignments of the constrained
        dimensions) / (those with this value); 1 for unconstrained ones. Greedy filling counts a
        tuple at its rarest value's weight, so values the constraints confine to few cases (3-D
        Secure off: no challenge fields) take those cases before common values crowd them out."""
        rarity = [[1.0] * len(d.values) for d in self.dims]
        options = [self.positive[d] for d in self.constrained]
        if math.prod(len(o) for o in options) > RARITY_LIMIT:
            return rarity
        counts: Counter[tuple[int, int]] = Counter()
        total = 0
        for values in product(*options):
            if self.holds(row_of(self.n, self.constrained, values)):
                total += 1
                counts.update(zip(self.constrained, values, strict=True))
        for (d, v), count in counts.items():
            rarity[d][v] = total / count
        return rarity

    def is_negative(self, dim: int, value: int | None) -> bool:
        """Whether the row's value is a negative one (an unset value is not)."""
        return value is not None and self.negative_flags[dim][value]

    def row(self, values: Mapping[str, Value]) -> Row:
        """The row of value indices for path → value (paths not given left unset)."""
        row: Row = [None] * self.n
        for d, dim in enumerate(self.dims):
            if dim.path in values:
                row[d] = dim.values.index(values[dim.path])
        return row

    def refused(self, row: Row) -> bool:
        """Whether the row holds a negative value (its case must be refused)."""
        return any(self.is_negative(d, v) for d, v in enumerate(row))

    def negative_start(self, dim: int, value: int) -> Row:
        """A row holding only that negative; ValueError when the constraints leave it no case."""
        start = row_of(self.n, [dim], [value])
        if not self.completable(start):
            label = self.dims[dim].values[value].label
            raise ValueError(f"the constraints leave no case for {self.dims[dim].path} = {label}")
        return start

    def _ok(self, rule: Rule, row: Row) -> bool:
        """Whether the rule is not false on the row's values so far (memoised per rule on them)."""
        key = tuple(row[d] for d in rule.dims)
        if key not in rule.memo:
            values = {self.dims[d].path: self.dims[d].values[v] for d, v in zip(rule.dims, key, strict=True)
                      if v is not None}
            rule.memo[key] = self.judge.verdict(rule.constraint, values.get) is not False
        return rule.memo[key]

    def holds(self, row: Row) -> bool:
        return all(self._ok(rule, row) for rule in self.rules)

    def completable(self, row: Row) -> bool:
        """Whether the unset dimensions can take non-negative values so every constraint holds."""
        key = tuple(row[d] for d in self.constrained)
        if key not in self._memo:
            trial = list(row)
            free = [d for d in self.constrained if row[d] is None]

            def search(k: int) -> bool:
                if k == len(free):
                    return True
                d = free[k]
                for v in self.positive[d]:
                    trial[d] = v
                    if all(self._ok(rule, trial) for rule in self._rules_of[d]) and search(k + 1):
                        return True
                trial[d] = None
                return False

            self._memo[key] = self.holds(row) and search(0)
        return self._memo[key]

    def full_product(self, dims: Sequence[int]) -> Iterator[Row]:
        """The full product over ``dims`` with at most one negative per row (others left unset)."""
        choices = [
            [self.positive[e] if e != d else self.negative[d] for e in dims] for d in dims
        ]
        for options in [[self.positive[d] for d in dims], *choices]:
            for values in product(*options):
                yield row_of(self.n, dims, values)
