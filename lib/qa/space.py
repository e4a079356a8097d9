"""The enabled dimensions of a model as value indices: constraint checks and exact feasibility.

Kept apart from the covering itself (:mod:`lib.qa.cover`) so that its rules (which partial
rows can still be completed, how rare a value is under the constraints) are one unit, shared by
the t-way cover (PICT's negative rule included, through :meth:`Space.fixing`) and the
count of negative pairs (:mod:`lib.qa.negatives`).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import numpy.typing as npt

from lib.qa.constraints import Constraint, Judge
from lib.qa.model import Model, check_values
from lib.qa.values import Value

TABLE_LIMIT = 1_000_000  # a component's value combinations tabulated at most (else checked one row at a time)

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


@dataclass(frozen=True)
class Component:
    """Constrained dimensions linked by shared constraints, and every combination of their valid
    values that all those constraints allow (one row each, value indices): components are
    independent, so a partial row can be completed exactly when each component has a matching row."""

    dims: tuple[int, ...]
    valid: npt.NDArray[np.int64]


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
        self._derive()

    def _derive(self) -> None:
        """What follows from the valid values: feasibility memo, component tables, rarity."""
        self._memo: dict[tuple[int | None, ...], bool] = {}
        self.components = self._components()
        self.component_of = {d: c for c in self.components or () for d in c.dims}
        self.no_case = any(len(c.valid) == 0 for c in self.components or ())  # the constraints allow no case at all
        self.rarity = self._rarity()

    def _components(self) -> list[Component] | None:
        """The constrained dimensions cut into components, each tabulated (None when one has more
        than :data:`TABLE_LIMIT` combinations: rows are then checked by search alone)."""
        root = list(range(self.n))

        def find(d: int) -> int:
            while root[d] != d:
                d = root[d]
            return d

        for rule in self.rules:
            for d in rule.dims[1:]:
                root[find(d)] = find(rule.dims[0])
        groups: dict[int, list[int]] = {}
        for d in self.constrained:
            groups.setdefault(find(d), []).append(d)
        components = []
        for dims in groups.values():
            sizes = [len(self.positive[d]) for d in dims]
            if math.prod(sizes) > TABLE_LIMIT:
                return None
            at = np.indices(sizes).reshape(len(dims), -1)  # per dimension, the position in its valid values
            ok = np.ones(at.shape[1], dtype=bool)
            for rule in (r for r in self.rules if find(r.dims[0]) == find(dims[0])):
                own = [dims.index(d) for d in rule.dims]
                verdicts = [self._ok(rule, row_of(self.n, rule.dims, values))
                            for values in product(*(self.positive[d] for d in rule.dims))]
                ok &= np.array(verdicts, dtype=bool).reshape([sizes[j] for j in own])[tuple(at[j] for j in own)]
            values = np.stack([np.asarray(self.positive[d], dtype=np.int64)[at[j]] for j, d in enumerate(dims)], axis=1)
            components.append(Component(tuple(dims), values[ok]))
        return components

    def fixing(self, dim: int, value: int) -> Space:
        """This space with ``dim`` held at ``value`` (a negative, for PICT's rule): its one valid
        value, the field's others all count as negatives (never chosen). A covering of the other
        fields then pairs them all with it, under the same constraints (the rules' verdicts on
        values are shared)."""
        view = copy.copy(self)
        view.positive, view.negative, view.negative_flags = list(self.positive), list(self.negative), list(self.negative_flags)
        others = [v for v in range(len(self.dims[dim].values)) if v != value]
        view.positive[dim], view.negative[dim] = [value], others
        view.negative_flags[dim] = [v != value for v in range(len(self.dims[dim].values))]
        view._derive()
        return view

    def _rarity(self) -> list[list[float]]:
        """Per value, how few valid cases can hold it: (valid combinations of its component) /
        (those with this value); 1 for unconstrained ones. Greedy filling counts a tuple at its
        rarest value's weight, so values the constraints confine to few cases (3-D Secure off: no
        challenge fields) take those cases before common values crowd them out."""
        rarity = [[1.0] * len(d.values) for d in self.dims]
        for component in self.components or ():
            for j, d in enumerate(component.dims):
                counts = np.bincount(component.valid[:, j], minlength=len(rarity[d]))
                for v in np.flatnonzero(counts):
                    rarity[d][v] = len(component.valid) / int(counts[v])
        return rarity

    def possible(self, dims: Sequence[int]) -> npt.NDArray[np.bool_]:
        """Over every value index of each of ``dims`` (an array of their sizes): whether those
        values, all valid, are held by some complete case the constraints allow."""
        shape = [len(self.dims[d].values) for d in dims]
        found = np.zeros(shape, dtype=bool)
        if self.no_case:
            return found
        found[np.ix_(*(self.positive[d] for d in dims))] = True
        if self.components is None:
            for values in zip(*np.nonzero(found), strict=True):
                found[values] = self.completable(row_of(self.n, dims, [int(v) for v in values]))
            return found
        for component in self.components:
            shared = [(k, component.dims.index(d)) for k, d in enumerate(dims) if d in component.dims]
            if shared:
                allowed = np.zeros([shape[k] for k, _ in shared], dtype=bool)
                allowed[tuple(component.valid[:, j] for _, j in shared)] = True
                found &= allowed.reshape([shape[k] if any(k == s for s, _ in shared) else 1 for k in range(len(dims))])
        return found

    def allowed(self, rows: npt.NDArray[np.int64], dim: int) -> npt.NDArray[np.bool_]:
        """For rows of valid values (-1: unset; ``dim`` unset in each), which values of ``dim`` keep
        each row completable: a (rows, values of ``dim``) array."""
        size = len(self.dims[dim].values)
        valid = np.zeros(size, dtype=bool)
        if not self.no_case:
            valid[self.positive[dim]] = True
        if dim not in self.constrained:
            return np.broadcast_to(valid, (len(rows), size))
        component = self.component_of.get(dim)
        if component is None:  # too large to tabulate: search, value by value
            result = np.zeros((len(rows), size), dtype=bool)
            for r, row in enumerate(rows):
                trial: Row = [None if v < 0 else int(v) for v in row[:self.n]]
                for v in self.positive[dim]:
                    trial[dim] = v
                    result[r, v] = self.completable(trial)
            return result
        table = component.valid
        match = np.ones((len(rows), len(table)), dtype=bool)
        for j, d in enumerate(component.dims):
            if d != dim:
                fixed = rows[:, d:d + 1]
                match &= (fixed < 0) | (table[:, j] == fixed)
        holds = np.zeros((len(table), size), dtype=bool)
        holds[np.arange(len(table)), table[:, component.dims.index(dim)]] = True
        return (match.astype(np.int32) @ holds.astype(np.int32)) > 0

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
