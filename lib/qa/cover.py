"""The greedy covering behind :func:`lib.qa.generate.generate`, on numpy arrays.

Every *dimension set* (each t fields, and each s fields of a sub-model covered at s > t) owns a
slice of one flat array, one slot per combination of the set's value indices, so a complete
row's tuples are one index per set, computed for many rows at once, and the value filling a
field is chosen for all candidate rows in a few array operations (AETG-style, see the generator's
docstring for the rules). Python loops remain only per row and per field: the work inside them is
numpy's.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import cached_property
from itertools import combinations

import numpy as np
import numpy.typing as npt

from lib.qa import negatives
from lib.qa.negatives import NegativeRule
from lib.qa.space import Row, Space
from lib.qa.steps import Steps
from lib.qa.suite import Coverage

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
# Rows seeded from the largest set's tuples are completed this many side by side, blind to each
# other's choices: on the default model 8 gives suites of the same size (±1 row) in about half the
# time of one at a time; far more (100) leaves more tuples over and gets larger and slower.
BATCH = 8
TIE = 1e-9  # a value's share of still-uncovered tuples breaks ties between equal gains, never outweighs one


def dimension_sets(n: int, strength: int, groups: Sequence[tuple[Sequence[int], int]] = ()) -> list[tuple[int, ...]]:
    """Each ``strength`` dimensions of ``n``, and each s of a group's dimensions for a group covered at
    s above ``strength``; a set inside a larger one is left out (covering the larger covers it)."""
    larger = {tuple(sorted(k)) for dims, s in groups if s > strength for k in combinations(dims, s)}
    plain = [k for k in combinations(range(n), strength) if not any(set(k) <= set(big) for big in larger)]
    return plain + sorted(larger)


class Cover:
    """Rows covering every possible tuple of the dimension sets, grown and patched greedily.

    A row is an int array with one more slot than the space has dimensions (-1: unset; the last
    slot a constant 0 that pads the smaller sets)."""

    def __init__(self, space: Space, strength: int, groups: Sequence[tuple[Sequence[int], int]],
                 rng: random.Random) -> None:
        """``groups``: each sub-model's dimensions and the strength it is covered at."""
        self.space, self.strength, self.groups, self.rng = space, strength, groups, rng
        self.constrained = set(space.constrained)
        self.noise = np.random.default_rng(rng.getrandbits(64))
        n = space.n
        self.sets = dimension_sets(n, strength, groups)
        width = max(len(k) for k in self.sets)
        sizes = np.array([len(d.values) for d in space.dims] + [1], dtype=np.int64)
        self.value_base = np.concatenate([[0], np.cumsum(sizes)])  # a (dimension, value)'s slot: base[d] + v
        self.dims = np.full((len(self.sets), width), n, dtype=np.int64)  # padded with n: one value, 0
        for i, dims in enumerate(self.sets):
            self.dims[i, :len(dims)] = dims
        shape = sizes[self.dims]
        steps = np.ones_like(shape)  # row-major strides within each set
        steps[:, :-1] = np.cumprod(shape[:, :0:-1], axis=1)[:, ::-1]
        self.strides = steps * (self.dims < n)
        tuples = shape.prod(axis=1)
        self.offsets = np.concatenate([[0], np.cumsum(tuples)[:-1]]).astype(np.int64)
        # every tuple of every set at once: its set, its value per position, the slots it goes through
        set_of = np.repeat(np.arange(len(self.sets)), tuples)
        at = (np.arange(int(tuples.sum())) - self.offsets[set_of])[:, None] // steps[set_of] % shape[set_of]
        self.values_of = self.value_base[self.dims[set_of]] + at
        slot_valid = np.zeros(int(self.value_base[-1]), dtype=bool)
        slot_valid[np.concatenate([self.value_base[d] + np.asarray(p, dtype=np.int64) for d, p in enumerate(space.positive)]
                                  + [[self.value_base[n]]])] = True
        self.possible = slot_valid[self.values_of].all(axis=1)
        # the constraints matter only to sets through a constrained field (to every set when the
        # space is searched row by row or allows no case)
        exact = space.components is None or space.no_case
        for i, dims in enumerate(self.sets):
            if exact or not self.constrained.isdisjoint(dims):
                self.possible[self.offsets[i]:self.offsets[i] + tuples[i]] = space.possible(dims).ravel()
        rarity = np.concatenate([np.asarray(r, dtype=float) for r in space.rarity] + [[1.0]])
        self.uncovered = self.possible.copy()
        self.gain = np.where(self.uncovered, rarity[self.values_of].max(axis=1), 0.0)  # an uncovered tuple's weight, 0 once covered
        self.pending = np.bincount(self.values_of[self.uncovered].ravel(), minlength=int(self.value_base[-1]))
        self.counts = np.zeros(len(self.possible), dtype=np.int64)  # rows (without a negative) holding each tuple
        self.order = rng.sample(range(n), n)
        self.order.sort(key=lambda d: -max(space.rarity[d]))
        self.plans: dict[tuple[int, ...], list[tuple[int, Ints, Ints, Ints]]] = {}
        self.negative = np.zeros(int(self.value_base[-1]), dtype=bool)
        for d in range(n):
            self.negative[self.value_base[d] + np.asarray(space.negative[d], dtype=np.int64)] = True
        self.penalty = np.where(self.negative, -1.0, 0.0)
        self.size = 0  # rows so far; the arrays below hold room for more
        self._rows = np.zeros((64, n + 1), dtype=np.int64)
        self._tuples = np.zeros((64, len(self.sets)), dtype=np.int64)  # each row's tuple in each set
        self._refused = np.zeros(64, dtype=bool)
        self._locked = np.zeros((64, n), dtype=bool)  # fields no patch may change in a row

    @property
    def rows(self) -> Ints:
        return self._rows[:self.size]

    @property
    def tuples(self) -> Ints:
        return self._tuples[:self.size]

    @property
    def refused(self) -> Bools:
        return self._refused[:self.size]

    @property
    def locked(self) -> Bools:
        return self._locked[:self.size]

    @cached_property
    def per_dim(self) -> list[tuple[Ints, Ints, Ints]]:
        """:meth:`_through` of each field (not needed when covering column by column)."""
        return [self._through(d) for d in range(self.space.n)]

    def _through(self, dim: int) -> tuple[Ints, Ints, Ints]:
        """The sets holding ``dim``, ``dim``'s stride in each, and each value's step into them (so
        the tuple a value completes is the set's partial index + its step)."""
        ids = np.flatnonzero((self.dims == dim).any(axis=1))
        stride = (self.strides[ids] * (self.dims[ids] == dim)).sum(axis=1)
        return ids, stride, stride[:, None] * np.arange(len(self.space.dims[dim].values))

    def tuple_index(self, rows: Ints) -> Ints:
        """Each complete row's tuple in each set: (rows, sets)."""
        index: Ints = self.offsets + (self.strides * rows[:, self.dims]).sum(axis=-1)
        return index

    def _refuses(self, rows: Ints) -> Bools:
        slots = np.maximum(rows[:, :-1], 0) + self.value_base[:self.space.n]
        refused: Bools = (self.negative[slots] & (rows[:, :-1] >= 0)).any(axis=1)
        return refused

    def _left(self) -> Ints:
        """Uncovered tuples per set."""
        return np.add.reduceat(self.uncovered, self.offsets, dtype=np.int64)

    def _end(self, set_id: int) -> int:
        return int(self.offsets[set_id + 1]) if set_id + 1 < len(self.offsets) else len(self.uncovered)

    def _plan(self, start: Ints) -> list[tuple[int, Ints, Ints, Ints]]:
        """For rows setting the fields ``start`` sets: each field left, in the filling order (rare
        values first, they claim their few cases), with the sets it is the last unset field of and
        its values' steps into them, then every set holding it and its stride there. Cached by the
        fields set: most rows start from a tuple of the same largest set."""
        key = tuple(int(d) for d in np.flatnonzero(start[:-1] >= 0))
        if key not in self.plans:
            unset = ((start[self.dims] < 0) & (self.dims < self.space.n)).sum(axis=-1)
            plan = []
            for dim in self.order:
                if start[dim] < 0:
                    ids, stride, step = self.per_dim[dim]
                    last = unset[ids] == 1
                    plan.append((dim, ids[last], step[last], ids, stride))
                    unset[ids] -= 1
            self.plans[key] = [(dim, completes, step, np.stack([ids, stride])) for dim, completes, step, ids, stride in plan]
        return self.plans[key]

    def _fill(self, rows: Ints) -> tuple[Ints, Ints]:
        """Complete candidate rows of valid values field by field, each field taking the value that
        covers the most weight of uncovered tuples with the fields already set (ties: the value
        most still-uncovered tuples go through, then at random); returns the rows and their tuple
        indices. Each set's partial index (its offset plus its set fields' values times their
        strides) is kept as fields are chosen, so a field's gains are two gathers and a sum. The
        candidates set the same fields (a seed tuple is of one set in all): one plan serves all."""
        partial = self.offsets + (self.strides * np.maximum(rows[:, self.dims], 0)).sum(axis=-1)
        # per (dimension, value) slot: the tie-breaks, and -1 on a negative (never chosen)
        bonus = self.penalty + TIE * (self.pending / (1 + self.pending.max())
                                      + TIE * self.noise.random((len(rows), len(self.pending))))
        for dim, completes, step, (ids, stride) in self._plan(rows[0]):
            first = self.value_base[dim]
            score = self.gain[partial[:, completes, None] + step].sum(axis=1) + bonus[:, first:first + step.shape[1]]
            if dim in self.constrained:
                score[~self.space.allowed(rows, dim)] = -1.0
            rows[:, dim] = chosen = score.argmax(axis=1)
            partial[:, ids] += chosen[:, None] * stride
        return rows, partial

    def _seeded(self, start: Ints) -> Ints:
        """The start as a one-row array; an empty start takes a random uncovered tuple of the set
        with most left."""
        rows = start[None].copy()
        if (start[:-1] < 0).all() and self.uncovered.any():
            best = int(self._left().argmax())
            chosen = self.offsets[best] + self.noise.choice(
                np.flatnonzero(self.uncovered[self.offsets[best]:self._end(best)]), 1)
            self._place(rows, best, chosen)
        return rows

    def _place(self, rows: Ints, set_id: int, tuples: Ints) -> None:
        rest = tuples - self.offsets[set_id]
        for d, stride in zip(self.sets[set_id], self.strides[set_id], strict=False):
            rows[:, d] = rest // stride
            rest = rest % stride

    def add(self, start: Row) -> None:
        """``start`` completed greedily; its tuples become covered. A start holding a negative is
        completed with valid values by search (it covers nothing)."""
        row = np.array([-1 if v is None else v for v in start] + [0], dtype=np.int64)
        if self._refuses(row[None])[0]:
            self._append(self._negative_row(start)[None])
        else:
            self._add(self._seeded(row))

    def _add(self, starts: Ints) -> None:
        """Complete rows that set the same fields, side by side, and append them."""
        self._append(*self._fill(starts))

    def _negative_row(self, start: Row) -> Ints:
        space, row = self.space, list(start)
        for d in range(space.n):
            if row[d] is None:
                row[d] = self.rng.choice([v for v in space.positive[d] if space.completable([*row[:d], v, *row[d + 1:]])])
        return np.array([*row, 0], dtype=np.int64)

    def _append(self, rows: Ints, index: Ints | None = None) -> None:
        """Append complete rows (their tuple indices, when known); those without a negative cover."""
        if self.size + len(rows) > len(self._rows):
            grow = max(self.size, len(rows))
            self._rows = np.concatenate([self._rows, np.zeros_like(self._rows[:1]).repeat(grow, axis=0)])
            self._tuples = np.concatenate([self._tuples, np.zeros_like(self._tuples[:1]).repeat(grow, axis=0)])
            self._refused = np.concatenate([self._refused, np.zeros(grow, dtype=bool)])
            self._locked = np.concatenate([self._locked, np.zeros_like(self._locked[:1]).repeat(grow, axis=0)])
        at, self.size = self.size, self.size + len(rows)
        self._rows[at:self.size], self._tuples[at:self.size] = rows, self.tuple_index(rows) if index is None else index
        self._refused[at:self.size] = refused = self._refuses(rows)
        self._covered(self._tuples[at:self.size][~refused].ravel())

    def _covered(self, found: Ints) -> None:
        """Count rows' tuples (a tuple may come more than once)."""
        np.add.at(self.counts, found, 1)
        new = np.unique(found[self.uncovered[found]])
        self.uncovered[new] = False
        self.gain[new] = 0.0
        np.subtract.at(self.pending, self.values_of[new].ravel(), 1)

    def lock(self, row: int, start: Row) -> None:
        """Patches may change only the fields ``start`` left unset in row ``row``."""
        self.locked[row] = [v is not None for v in start]

    def patch(self, changes: dict[int, int], among: Bools | None = None) -> bool:
        """Make ``changes`` in the last row (of ``among``) that takes them without losing coverage:
        every tuple the row stops holding is in another row too (all of them, when the change
        brings a negative). A row holding a negative takes no change."""
        dims = np.fromiter(changes, dtype=np.int64)
        values = np.fromiter(changes.values(), dtype=np.int64)
        changed = self.rows[:, dims] != values
        fits = ~self.refused & changed.any(axis=1) & ~(self.locked[:, dims] & changed).any(axis=1)
        if among is not None:
            fits[len(among):] = False
            fits[:len(among)] &= among
        adds_negative = bool(self.negative[self.value_base[dims] + values].any())
        # only the sets through a changed field move: their tuples' shift per row
        ids = np.unique(np.concatenate([self.per_dim[d][0] for d in changes]))
        shift = np.zeros((self.size, len(ids)), dtype=np.int64)
        for d, v in changes.items():
            through, stride, _ = self.per_dim[d]
            shift[:, np.searchsorted(ids, through)] += (v - self.rows[:, d])[:, None] * stride
        if adds_negative:  # the row stops covering anything
            fits &= (self.counts[self.tuples] > 1).all(axis=1)
        else:
            fits &= ((self.counts[self.tuples[:, ids]] > 1) | (shift == 0)).all(axis=1)
        for r in np.flatnonzero(fits)[::-1]:
            trial: Row = [changes.get(d, int(v)) for d, v in enumerate(self.rows[r, :-1])]
            if not self.space.holds(trial):
                continue
            self.counts[self.tuples[r]] -= 1
            self.rows[r, dims] = values
            self.tuples[r, ids] += shift[r]
            self.refused[r] = adds_negative
            if not adds_negative:
                self._covered(self.tuples[r])
            return True
        return False

    def complete(self, steps: Steps, what: str) -> None:
        """Add rows until every tuple is covered: first one per tuple of the set with most (no suite
        is smaller than that set, so they cost nothing), then each leftover tuple is patched into
        an existing row when possible, else starts a new one. Sets of one field are covered column
        by column."""
        if all(len(k) == 1 for k in self.sets) and self.space.components is not None:
            steps(what, len(self.rows))
            self._complete_by_columns()
            return
        largest = int(self._left().argmax())
        order = self.offsets[largest] + self.noise.permutation(
            np.flatnonzero(self.uncovered[self.offsets[largest]:self._end(largest)]))
        for at in range(0, len(order), BATCH):
            steps(what, len(self.rows))
            batch = order[at:at + BATCH]
            batch = batch[self.uncovered[batch]]
            if len(batch):
                self._add(self._start(largest, batch))
        while self.uncovered.any():
            steps(what, len(self.rows))
            set_id = int(self._left().argmax())
            start = self._start(set_id, self.offsets[set_id] + np.argmax(self.uncovered[self.offsets[set_id]:], keepdims=True))
            if not self.patch({d: int(start[0, d]) for d in self.sets[set_id]}):
                self._add(start)

    def _complete_by_columns(self) -> None:
        """When every tuple is one value: each field's uncovered values go down its own column, a
        component of linked constrained fields taking whole rows of its table (greedily, the row
        holding most of its uncovered values first), and shorter columns repeat: as few rows as
        the longest column, each one completable since components are independent."""
        space = self.space
        # the sets are then (0,), (1,), …: set d is field d
        wanted = [np.flatnonzero(self.uncovered[self.offsets[d]:self._end(d)]) for d in range(space.n)]
        if not any(len(w) for w in wanted):
            return
        columns: list[tuple[list[int], Ints]] = []  # fields, and their values row by row
        for d in range(space.n):
            if d not in self.constrained:
                fill = wanted[d] if len(wanted[d]) else np.asarray(space.positive[d][:1], dtype=np.int64)
                columns.append(([d], fill[:, None]))
        for component in space.components or ():
            table, dims = component.valid, list(component.dims)
            need = [np.isin(table[:, j], wanted[d]) for j, d in enumerate(dims)]
            chosen: list[int] = []
            while (hits := np.sum(need, axis=0)).any() or not chosen:
                chosen.append(int(hits.argmax()))
                for j in range(len(dims)):
                    need[j] &= table[:, j] != table[chosen[-1], j]
            columns.append((dims, table[chosen]))
        rows = np.zeros((max(len(values) for _, values in columns), space.n + 1), dtype=np.int64)
        for dims, values in columns:
            rows[:, dims] = np.resize(values, (len(rows), len(dims)))
        self._append(rows)

    def _start(self, set_id: int, tuples: Ints) -> Ints:
        """One row per tuple of the set, holding only that tuple."""
        start = np.full((len(tuples), self.space.n + 1), -1, dtype=np.int64)
        start[:, -1] = 0
        self._place(start, set_id, tuples)
        return start

    def place_negatives(self, steps: Steps, what: str) -> None:
        """The smallest rule: every negative not yet in the rows once, in a row all of whose tuples
        other rows cover too, else in a row of its own."""
        space = self.space
        seen = {(d, int(v)) for d in range(space.n) for v in np.unique(self.rows[:, d])}
        # placing negatives only lowers counts, so only the rows redundant now can ever take one
        redundant = ~self.refused & (self.counts[self.tuples] > 1).all(axis=1)
        for dim, value in [(d, v) for d in range(space.n) for v in space.negative[d] if (d, v) not in seen]:
            steps(what, len(self.rows))
            if not self.patch({dim: value}, redundant):
                self.add(space.negative_start(dim, value))

    def place_pict(self, steps: Steps, what: str) -> None:
        """PICT's rule: each negative beside every t-1 valid values of other fields the constraints
        allow it with. Per negative, the other fields are covered at t-1 in the space that holds the
        negative as its field's one valid value (rows holding it already count); the new rows join
        this suite, where they are refused and cover no valid tuple."""
        space, k = self.space, max(1, min(self.strength - 1, self.space.n - 1))
        for dim in range(space.n):
            for value in space.negative[dim]:
                start = space.negative_start(dim, value)
                beside = Cover(space.fixing(dim, value), k, (), self.rng)
                beside._append(self.rows[self.rows[:, dim] == value])
                held = beside.size
                beside.complete(steps.after(self.size), what)
                if beside.size == 0:  # no tuple to pair it with: it still goes in once
                    beside.add(start)
                self._append(beside.rows[held:])

    def row_list(self) -> list[Row]:
        return [[int(v) for v in row[:-1]] for row in self.rows]

    def report(self, rows: Iterable[Row], rule: NegativeRule | None) -> Coverage:
        """Coverage of any complete rows: possible tuples held by rows without a negative, and the
        negative pairs the others hold."""
        rows = list(rows)
        found = np.zeros_like(self.possible)
        if rows:
            array = np.array([[*row, 0] for row in rows], dtype=np.int64)
            found[self.tuple_index(array[~self._refuses(array)])] = True
        covered, possible = int((found & self.possible).sum()), int(self.possible.sum())
        allowed = negatives.allowed(self.space)
        held = negatives.held(self.space, rows)
        within = tuple(dict.fromkeys((s, "{ " + ", ".join(self.space.dims[d].path for d in dims) + " }")
                                     for dims, s in self.groups if s > self.strength))
        return Coverage(self.strength, covered, possible, 100.0 * covered / possible if possible else 100.0,
                        rule, len(held & allowed), len(allowed), within)
