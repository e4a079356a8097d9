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
3. negative values are placed by one of two rules (:mod:`lib.qa.negatives`): ``smallest`` puts
   each once, riding in a row all of whose tuples other rows cover too (the suite does not grow),
   else in a row of its own; ``pict`` puts each beside every t-1 valid values of other fields the
   constraints allow, as PICT does. A case with a negative is refused, so it covers no valid
   tuple: coverage counts cases without a negative only.

Everything random draws from ``random.Random(seed)``: same model and seed, same cases. Each case's
expected outcome is the tester's mark (a negative value: refused on its field; none: accepted);
:func:`lib.fields.validation.validate_create` of its payload is kept beside it as the contract's
verdict, shown where the two disagree (:func:`lib.qa.suite.disagreements`), never as the oracle.
"""
from __future__ import annotations

import math
import random
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import combinations, product
from operator import itemgetter
from typing import Literal, cast

from lib.fields.schema import ORDER_ID
from lib.fields.validation import validate_create
from lib.qa import negatives
from lib.qa.model import Model, build_payload
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.space import Combo, Row, Space, row_of
from lib.qa.steps import Progress, Steps
from lib.qa.suite import Case, Coverage, Suite
from lib.qa.values import Value

CONFIRM_ABOVE = 5_000  # a full product larger than this needs confirm=True
FULL_LIMIT = 100_000  # and one larger than this is refused
CANDIDATES = 8  # rows tried per added row: more gives smaller suites, slower
CANDIDATES_HIGHER = 2  # the same for 3-way and up, where each try costs far more
PLACING, CHECKING = "cases placed", "cases checked against the contract"  # the steps progress reports


class _Cover:
    """Greedy covering of every possible t-tuple of non-negative values (see the module docstring)."""

    def __init__(self, space: Space, strength: int, rng: random.Random) -> None:
        self.space, self.t, self.rng = space, strength, rng
        self.uncovered: dict[tuple[int, ...], set[tuple[int, ...]]] = {}
        for dims in combinations(range(space.n), strength):
            self.uncovered[dims] = {
                values for values in product(*(space.positive[d] for d in dims))
                if space.completable(row_of(space.n, dims, values))
            }
        self.possible = {(dims, values) for dims, found in self.uncovered.items() for values in found}
        self.locked: dict[int, set[int]] = {}  # id of a row → the fields no patch may change in it
        self.sets_of = {d: [k for k in self.uncovered if d in k] for d in range(space.n)}
        # each dimension set's values read from a complete row at C speed (itemgetter of one index gives no tuple)
        self.getters: dict[tuple[int, ...], Callable[[Row], tuple[int, ...]]] = {
            dims: itemgetter(*dims) if len(dims) > 1 else partial(_single, dims[0]) for dims in self.uncovered}
        self.tries = CANDIDATES if strength <= 2 else CANDIDATES_HIGHER
        self.counts: Counter[Combo] = Counter()  # rows containing each tuple
        # uncovered tuples through each (dimension, value): breaks ties towards values still much needed
        self.pending = Counter((d, v) for dims, values in self.possible for d, v in zip(dims, values, strict=True))

    def tuples(self, row: Row, within: Iterable[tuple[int, ...]] | None = None) -> Iterator[Combo]:
        """The t-tuples a complete row covers (in the ``within`` dimension sets): none when it holds
        a negative, since a refused request exercises nothing but its refusal."""
        if self.space.refused(row):
            return
        getters = self.getters
        for dims in self.uncovered if within is None else within:
            yield dims, getters[dims](row)

    def _gains(self, row: Row, fixed: list[int], dim: int) -> list[tuple[set[tuple[int, ...]], tuple[int, ...], tuple[int, ...], float]]:
        """Per (t-1)-set of fixed dimensions: the uncovered tuples of it with ``dim``, its values
        before and after ``dim``'s place, and its rarest value's weight; computed once per
        dimension filled, so each candidate value costs one lookup per set."""
        rarity = self.space.rarity
        table = []
        for others in combinations(fixed, self.t - 1):
            at = bisect(others, dim)
            values = tuple(cast(int, row[d]) for d in others)  # fixed dimensions: chosen, not None
            table.append((self.uncovered[(*others[:at], dim, *others[at:])], values[:at], values[at:],
                          max((rarity[d][v] for d, v in zip(others, values, strict=True)), default=0.0)))
        return table

    def _gain(self, table: list[tuple[set[tuple[int, ...]], tuple[int, ...], tuple[int, ...], float]], dim: int,
              value: int) -> float:
        """Uncovered tuples that ``value`` completes with the fixed values, each weighed by its rarest value."""
        weight = self.space.rarity[dim][value]
        return sum(max(rare, weight) for uncovered, before, after, rare in table if (*before, value, *after) in uncovered)

    def _fill(self, start: Row) -> Row:
        """Complete a row greedily; a fresh row is first seeded with an uncovered tuple."""
        row = list(start)
        dims = max(self.uncovered, key=lambda k: len(self.uncovered[k]))
        if all(v is None for v in row) and self.uncovered[dims]:
            for d, v in zip(dims, self.rng.choice(sorted(self.uncovered[dims])), strict=True):
                row[d] = v
        free = [d for d in range(self.space.n) if row[d] is None]
        self.rng.shuffle(free)
        free.sort(key=lambda d: -max(self.space.rarity[d]))  # rare values claim their few cases first
        for dim in free:
            fixed = [d for d in range(self.space.n) if row[d] is not None and not self.space.is_negative(d, row[d])]
            best: list[int] = []
            best_gain = (-1.0, -1)
            table = self._gains(row, fixed, dim)
            for value in self.space.positive[dim]:
                row[dim] = value
                if not self.space.completable(row):
                    continue
                gain = (self._gain(table, dim, value), self.pending[dim, value])
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
        """Make ``changes`` in some row without losing coverage: every tuple the row stops covering
        must be in another row too (all of them, when the change brings a negative). A row already
        holding a negative covers nothing, so it takes no change."""
        space = self.space
        adds_negative = any(space.is_negative(d, v) for d, v in changes.items())
        for row in reversed(rows):
            if space.refused(row):
                continue
            changed = [d for d, v in changes.items() if row[d] != v]
            trial = [changes.get(d, v) for d, v in enumerate(row)]
            if not changed or not space.holds(trial) or self.locked.get(id(row), set()).intersection(changed):
                continue
            lost = partial(self.tuples, row) if adds_negative else partial(self._through, row, changed)
            if all(self.counts[t] > 1 for t in lost()):
                self.counts.subtract(lost())
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
                rows.append(self.add(row_of(self.space.n, largest, values), self.tries))
        while any(self.uncovered.values()):
            steps(PLACING, len(rows))
            dims = max(self.uncovered, key=lambda k: len(self.uncovered[k]))
            values = min(self.uncovered[dims])
            if not self.patch(rows, dict(zip(dims, values, strict=True))):
                rows.append(self.add(row_of(self.space.n, dims, values), self.tries))

    def place_negatives(self, rows: list[Row], steps: Steps) -> None:
        """The smallest rule: every negative not yet in ``rows`` once, in a row all of whose tuples
        other rows cover too, else in a row of its own."""
        space = self.space
        seen = {(d, row[d]) for row in rows for d in range(space.n)}
        # placing negatives only lowers counts, so only the rows redundant now can ever take one
        redundant = [row for row in rows if all(self.counts[t] > 1 for t in self.tuples(row)) and not space.refused(row)]
        for dim, value in [(d, v) for d in range(space.n) for v in space.negative[d] if (d, v) not in seen]:
            steps(PLACING, len(rows))
            if not self.patch(redundant, {dim: value}):
                rows.append(self.add(space.negative_start(dim, value)))

    def report(self, rows: list[Row], rule: NegativeRule | None) -> Coverage:
        covered = len({t for row in rows for t in self.tuples(row)} & self.possible)
        possible = len(self.possible)
        allowed = negatives.allowed(self.space)
        return Coverage(self.t, covered, possible, 100.0 * covered / possible if possible else 100.0,
                        rule, len(negatives.held(self.space, rows) & allowed), len(allowed))


def _single(dim: int, row: Row) -> tuple[int, ...]:
    return (cast(int, row[dim]),)


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
             full_dims: Sequence[str] | None = None, confirm: bool = False,
             negative_rule: NegativeRule = "smallest", seeds: Sequence[Mapping[str, Value]] = (),
             progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> Suite:
    """The suite for a model: t-way coverage (``strength`` t), or ``"full"``: the full product over
    ``full_dims`` with every other enabled field still covered pairwise. ``seeds`` are rows QA
    requires (:mod:`lib.qa.seeds`): each comes first, its unnamed fields filled, and the suite
    covers only what they leave uncovered. ``negative_rule`` places the negatives
    (:mod:`lib.qa.negatives`): once each, or beside every t-1 valid values as PICT does.

    ValueError for a model that cannot be generated (a dimension with no valid value, a negative
    the constraints exclude), a full product above :data:`CONFIRM_ABOVE` without ``confirm``, or
    above :data:`FULL_LIMIT` at all. ``progress``/``cancelled``: see :class:`lib.qa.steps.Steps`.
    """
    if negative_rule not in NEGATIVE_RULES:
        raise ValueError(f"negative_rule must be one of {', '.join(NEGATIVE_RULES)}, not {negative_rule!r}")
    steps = Steps(progress, cancelled)
    space = Space(model)
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
    required = [space.row(values) for values in seeds]
    if not all(space.completable(row) and sum(space.is_negative(d, v) for d, v in enumerate(row)) <= 1 for row in required):
        raise ValueError("a required row has two negatives or values the constraints allow in no case")
    starts = required + starts
    rows = [cover.add(start) for start in steps.over(PLACING, starts, len(starts))]
    # What a required row or a full product's start fixed stays: later patches change other fields only.
    cover.locked = {id(row): {d for d, v in enumerate(start) if v is not None} for row, start in zip(rows, starts,
                                                                                                    strict=True)}
    cover.complete(rows, steps)
    if negative_rule == "pict":
        negatives.place_pict(space, rows, rng, t, steps, PLACING)
    else:
        cover.place_negatives(rows, steps)
    cases = [_case(model, space, i, row, seed) for i, row in enumerate(steps.over(CHECKING, rows, len(rows)))]
    return Suite(cases, cover.report(rows, negative_rule), strength, seed)


def _case(model: Model, space: Space, index: int, row: Row, seed: int) -> Case:
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
    """How much of the model's allowed t-tuples and negative pairs any list of cases covers (ours,
    allpairspy's, PICT's, a Postman data file's); no rule of ours placed their negatives."""
    space = Space(model)
    cover = _Cover(space, min(strength, space.n), random.Random(0))
    return cover.report([[dim.values.index(case[dim.path]) for dim in space.dims] for case in cases], None)
