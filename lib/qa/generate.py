"""Generate QA cases from a model: t-way covering suites, or a full product, each case with its expected outcome.

Our own generator, not allpairspy (:mod:`lib.qa.allpairs` measures it against ours): allpairspy
cannot keep "at most one negative value per case", cannot tell which pairs the constraints rule
out (it filters prefixes without look-ahead, so it may stop early or dead-end) and reports no
coverage. The algorithm is AETG-style, one row at a time:

1. every t-tuple of non-negative values is *possible* when some complete case containing it
   satisfies the constraints; that is decided exactly, by backtracking over the (few) constrained
   dimensions, memoised on their assignment;
2. one row per tuple of the largest dimension set comes first (no suite is smaller than that
   set, so they cost nothing); each row fills the other dimensions with the value covering the
   most uncovered tuples, a tuple weighing more when the constraints confine its values to few
   cases (3-D Secure off allows no challenge fields), never with a value that makes the row
   uncompletable; the best of a few seeded-random candidates is kept. A leftover tuple is first
   *patched* into an existing row whose changed tuples all appear in other rows, else it starts
   a new row;
3. each negative value then *rides along* the same way: it replaces a value in a positive row
   whose tuples through that value are all covered by other rows too, so coverage is unchanged
   and the suite does not grow; only when no row has such a slot does it get a row of its own.
   (A case with a negative still covers the positive tuples of its other values.)

Everything random draws from ``random.Random(seed)``: same model and seed, same cases. Each case's
expected outcome is the tester's mark (a negative value: refused on its field; none: accepted);
:func:`lib.fields.validation.validate_create` of its payload is kept beside it as the contract's
verdict, shown where the two disagree (:func:`lib.qa.suite.disagreements`), never as the oracle.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Literal, cast

from lib.fields.schema import ORDER_ID
from lib.fields.validation import validate_create
from lib.qa.constraints import Constraint, Judge
from lib.qa.model import Model, build_payload, check_values
from lib.qa.steps import Progress, Steps
from lib.qa.suite import Case, Coverage, Suite
from lib.qa.values import Value

CONFIRM_ABOVE = 5_000  # a full product larger than this needs confirm=True
FULL_LIMIT = 100_000  # and one larger than this is refused
CANDIDATES = 8  # rows tried per added row: more gives smaller suites, slower
CANDIDATES_HIGHER = 2  # the same for 3-way and up, where each try costs far more
RARITY_LIMIT = 100_000  # constrained assignments enumerated to weigh rare values (else all weigh 1)
PLACING, CHECKING = "cases placed", "cases checked against the contract"  # the steps progress reports

Row = list[int | None]  # per enabled dimension, the index of its value (None: not chosen yet)
Combo = tuple[tuple[int, ...], tuple[int, ...]]  # (dimensions, value indices)


def _row(n: int, dims: Sequence[int], values: Sequence[int]) -> Row:
    """A row of ``n`` dimensions with only ``dims`` set."""
    row: Row = [None] * n
    for d, v in zip(dims, values, strict=True):
        row[d] = v
    return row


@dataclass
class _Rule:
    """A constraint, the enabled dimensions it names, and its verdicts on their values seen so far."""

    dims: tuple[int, ...]
    constraint: Constraint
    memo: dict[tuple[int | None, ...], bool] = field(default_factory=dict)


class _Space:
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
        self.rules = [_Rule(tuple(index[p] for p in c.paths), c) for c in self.judge.constraints]
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
            if self.holds(_row(self.n, self.constrained, values)):
                total += 1
                counts.update(zip(self.constrained, values, strict=True))
        for (d, v), count in counts.items():
            rarity[d][v] = total / count
        return rarity

    def is_negative(self, dim: int, value: int | None) -> bool:
        """Whether the row's value is a negative one (an unset value is not)."""
        return value is not None and self.negative_flags[dim][value]

    def _ok(self, rule: _Rule, row: Row) -> bool:
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
                yield _row(self.n, dims, values)


class _Cover:
    """Greedy covering of every possible t-tuple of non-negative values (see the module docstring)."""

    def __init__(self, space: _Space, strength: int, rng: random.Random) -> None:
        self.space, self.t, self.rng = space, strength, rng
        self.uncovered: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
        for dims in combinations(range(space.n), strength):
            self.uncovered[dims] = {
                values for values in product(*(space.positive[d] for d in dims))
                if space.completable(_row(space.n, dims, values))
            }
        self.possible = {(dims, values) for dims, found in self.uncovered.items() for values in found}
        self.sets_of = {d: [k for k in self.uncovered if d in k] for d in range(space.n)}
        self.tries = CANDIDATES if strength <= 2 else CANDIDATES_HIGHER
        self.counts: Counter[Combo] = Counter()  # rows containing each tuple
        # uncovered tuples through each (dimension, value): breaks ties towards values still much needed
        self.pending = Counter((d, v) for dims, values in self.possible for d, v in zip(dims, values, strict=True))

    def tuples(self, row: Row, within: Iterable[tuple[int, ...]] | None = None) -> Iterator[Combo]:
        """The t-tuples of non-negative values a complete row contains (in the ``within`` dimension sets)."""
        negative = self.space.negative_flags
        for dims in self.uncovered if within is None else within:
            values = cast(tuple[int, ...], tuple(row[d] for d in dims))  # a complete row: no None
            if not any(negative[d][v] for d, v in zip(dims, values, strict=True)):
                yield dims, values

    def _gain(self, row: Row, fixed: list[int], dim: int, value: int) -> float:
        """Uncovered tuples that ``value`` completes with the fixed values, each weighed by its rarest value."""
        rarity = self.space.rarity
        gain = 0.0
        for others in combinations(fixed, self.t - 1):
            dims = tuple(sorted((*others, dim)))
            # the other dimensions are fixed ones: chosen, not None
            values = cast(tuple[int, ...], tuple(value if d == dim else row[d] for d in dims))
            if values in self.uncovered[dims]:
                gain += max(rarity[d][v] for d, v in zip(dims, values, strict=True))
        return gain

    def _fill(self, start: Row) -> Row:
        """Complete a row greedily; a fresh row is first seeded with an uncovered tuple."""
        row = list(start)
        if all(v is None for v in row):
            dims = max(self.uncovered, key=lambda k: len(self.uncovered[k]))
            for d, v in zip(dims, self.rng.choice(sorted(self.uncovered[dims])), strict=True):
                row[d] = v
        free = [d for d in range(self.space.n) if row[d] is None]
        self.rng.shuffle(free)
        free.sort(key=lambda d: -max(self.space.rarity[d]))  # rare values claim their few cases first
        for dim in free:
            fixed = [d for d in range(self.space.n) if row[d] is not None and not self.space.is_negative(d, row[d])]
            best: list[int] = []
            best_gain = (-1.0, -1)
            for value in self.space.positive[dim]:
                row[dim] = value
                if not self.space.completable(row):
                    continue
                gain = (self._gain(row, fixed, dim, value), self.pending[dim, value])
                if gain > best_gain:
                    best, best_gain = [value], gain
                elif gain == best_gain:
                    best.append(value)
            row[dim] = self.rng.choice(best)
        return row

    def _new(self, row: Row) -> int:
        return sum(1 for dims, values in self.tuples(row) if values in self.uncovered[dims])

    def _covered(self, found: Iterable[Combo]) -> None:
        for dims, values in found:
            self.counts[dims, values] += 1
            if values in self.uncovered[dims]:
                self.uncovered[dims].discard(values)
                self.pending.subtract(zip(dims, values, strict=True))

    def add(self, start: Row, tries: int = 1) -> Row:
        """The best of ``tries`` greedy completions of ``start``; its tuples become covered."""
        row = max((self._fill(start) for _ in range(tries)), key=self._new)
        self._covered(self.tuples(row))
        return row

    def patch(self, rows: list[Row], changes: dict[int, int]) -> bool:
        """Make ``changes`` in some row without losing coverage: every tuple the row stops
        containing must be in another row too. Never drops a negative nor adds a second one."""
        space = self.space
        adds_negative = any(space.is_negative(d, v) for d, v in changes.items())
        for row in reversed(rows):
            if any(space.is_negative(d, row[d]) for d in changes):
                continue
            if adds_negative and any(space.is_negative(d, v) for d, v in enumerate(row)):
                continue
            changed = [d for d, v in changes.items() if row[d] != v]
            trial = [changes.get(d, v) for d, v in enumerate(row)]
            if not changed or not space.holds(trial):
                continue
            if all(self.counts[t] > 1 for t in self._through(row, changed)):  # every tuple through a change is lost
                self.counts.subtract(self._through(row, changed))
                self._covered(self._through(trial, changed))
                row[:] = trial
                return True
        return False

    def _through(self, row: Row, dims: Sequence[int]) -> Iterator[Combo]:
        return self.tuples(row, dict.fromkeys(k for d in dims for k in self.sets_of[d]))

    def complete(self, rows: list[Row], steps: Steps) -> None:
        """Add rows until every tuple is covered: first one per tuple of the largest dimension set
        (no suite is smaller than that, so they cost nothing), then each leftover tuple is patched
        into an existing row when possible, else starts a new one."""
        largest = max(self.uncovered, key=lambda k: len(self.uncovered[k]))
        for values in self.rng.sample(sorted(self.uncovered[largest]), len(self.uncovered[largest])):
            steps(PLACING, len(rows))
            if values in self.uncovered[largest]:
                rows.append(self.add(_row(self.space.n, largest, values), self.tries))
        while any(self.uncovered.values()):
            steps(PLACING, len(rows))
            dims = max(self.uncovered, key=lambda k: len(self.uncovered[k]))
            values = min(self.uncovered[dims])
            if not self.patch(rows, dict(zip(dims, values, strict=True))):
                rows.append(self.add(_row(self.space.n, dims, values), self.tries))

    def place_negatives(self, rows: list[Row]) -> None:
        """Put every negative not yet in ``rows`` into a row where its slot is redundant, else a row of its own."""
        space = self.space
        seen = {(d, row[d]) for row in rows for d in range(space.n)}
        # the negatives with fewest redundant slots choose first
        slots = Counter(d for row in rows for d in range(space.n)
                        if all(self.counts[t] > 1 for t in self._through(row, [d])))
        pending = [(d, v) for d in range(space.n) for v in space.negative[d] if (d, v) not in seen]
        for dim, value in sorted(pending, key=lambda dv: slots[dv[0]]):
            if self.patch(rows, {dim: value}):
                continue
            start = _row(space.n, [dim], [value])
            if not space.completable(start):
                label = space.dims[dim].values[value].label
                raise ValueError(f"the constraints leave no case for {space.dims[dim].path} = {label}")
            rows.append(self.add(start))

    def report(self, rows: list[Row]) -> Coverage:
        # a case with a negative may hold a tuple no all-valid case can: that is not coverage
        covered = len({t for row in rows for t in self.tuples(row)} & self.possible)
        possible = len(self.possible)
        return Coverage(self.t, covered, possible, 100.0 * covered / possible if possible else 100.0)


def _full_dims(model: Model, full_dims: Sequence[str] | None) -> list[str]:
    enabled = [d.path for d in model.enabled()]
    if full_dims is None:
        return enabled
    unknown = [p for p in full_dims if p not in enabled]
    if unknown:
        raise ValueError(f"full product over fields that are not enabled: {', '.join(unknown)}")
    return [p for p in enabled if p in full_dims]


def full_product_size(model: Model, full_dims: Sequence[str] | None = None) -> int:
    """Rows of the full product over ``full_dims`` (all enabled by default), at most one negative each, before constraints."""
    dims = [model.dimension(p) for p in _full_dims(model, full_dims)]
    positives = [len(d.positives) for d in dims]
    return math.prod(positives) + sum(
        len(d.negatives) * math.prod(positives[:i] + positives[i + 1:]) for i, d in enumerate(dims)
    )


def generate(model: Model, *, strength: int | Literal["full"] = 2, seed: int = 0,
             full_dims: Sequence[str] | None = None, confirm: bool = False, progress: Progress | None = None,
             cancelled: Callable[[], bool] | None = None) -> Suite:
    """The suite for a model: t-way coverage (``strength`` t), or ``"full"``: the full product over
    ``full_dims`` with every other enabled field still covered pairwise.

    ValueError for a model that cannot be generated (a dimension with no valid value, a negative
    the constraints exclude), a full product above :data:`CONFIRM_ABOVE` without ``confirm``, or
    above :data:`FULL_LIMIT` at all. ``progress``/``cancelled``: see :class:`lib.qa.steps.Steps`.
    """
    steps = Steps(progress, cancelled)
    space = _Space(model)
    if not space.completable([None] * space.n):
        raise ValueError("the constraints allow no case at all")
    rng = random.Random(seed)
    if strength == "full":
        size = full_product_size(model, full_dims)
        if size > FULL_LIMIT:
            raise ValueError(f"the full product has {size:,} cases, more than the {FULL_LIMIT:,} allowed")
        if size > CONFIRM_ABOVE and not confirm:
            raise ValueError(f"the full product has {size:,} cases (over {CONFIRM_ABOVE:,}): confirm to generate it")
        paths = _full_dims(model, full_dims)
        starts = [r for r in space.full_product([i for i, d in enumerate(space.dims) if d.path in paths]) if space.completable(r)]
        t = 2
    elif isinstance(strength, int) and not isinstance(strength, bool) and strength >= 1:
        if full_dims is not None:
            raise ValueError("full_dims applies to strength='full' only")
        starts, t = [], strength
    else:
        raise ValueError(f"strength must be a positive whole number or 'full', not {strength!r}")
    cover = _Cover(space, min(t, space.n), rng)
    rows = [cover.add(start) for start in steps.over(PLACING, starts, len(starts))]
    cover.complete(rows, steps)
    cover.place_negatives(rows)
    cases = [_case(model, space, i, row, seed) for i, row in enumerate(steps.over(CHECKING, rows, len(rows)))]
    return Suite(cases, cover.report(rows), strength, seed)


def _case(model: Model, space: _Space, index: int, row: Row, seed: int) -> Case:
    complete = cast(list[int], row)  # every row of a suite is complete: no None
    values = {dim.path: dim.values[v] for dim, v in zip(space.dims, complete, strict=True)}
    base = build_payload(model.base, {ORDER_ID: f"qa-{seed}-{index}"})
    payload = build_payload(base, {path: value.value for path, value in values.items()})
    negative = next((path for path, value in values.items() if value.negative), None)
    return Case(
        index=index,
        values=values,
        negative_path=negative,
        payload=payload,
        expected_paths=(negative,) if negative else (),
        contract_paths=tuple(problem["parameter"] for problem in validate_create(payload)),
    )


def coverage_of(model: Model, cases: Sequence[Mapping[str, Value]], strength: int = 2) -> Coverage:
    """How much of the model's allowed t-tuples any list of cases covers (ours, allpairspy's, a Postman data file's)."""
    space = _Space(model)
    cover = _Cover(space, min(strength, space.n), random.Random(0))
    return cover.report([[dim.values.index(case[dim.path]) for dim in space.dims] for case in cases])
