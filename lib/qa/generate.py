"""Generate QA cases from a model: t-way covering suites, or a full product, each case with its expected outcome.

Our own generator, not allpairspy (:mod:`lib.qa.allpairs` measures it against ours): allpairspy
cannot keep "at most one negative value per case", cannot tell which pairs the constraints rule
out (it filters prefixes without look-ahead, so it may stop early or dead-end) and reports no
coverage. The algorithm is AETG-style, one row at a time (on arrays: :mod:`lib.qa.cover`):

1. the tuples to cover are those of every t fields, and of every s fields of a sub-model covered
   at s > t (variable strength: 3-way over the 3-D Secure fields, pairwise elsewhere); a tuple of
   non-negative values is *possible* when some complete case containing it satisfies the
   constraints, decided exactly from each group of linked constrained fields' table of allowed
   combinations (:class:`lib.qa.space.Space`);
2. one row per tuple of the largest dimension set comes first (no suite is smaller than that
   set, so they cost nothing); each row fills the other dimensions with the value covering the
   most uncovered tuples, a tuple weighing more when the constraints confine its values to few
   cases (3-D Secure off allows no challenge fields), never with a value that makes the row
   uncompletable; rows seeded from that set are completed eight side by side, blind to each
   other's choices (about half the time of one by one, suites no larger). A leftover tuple is first
   *patched* into an existing row whose changed tuples all appear in other rows, else it starts
   a new row;
3. negative values are placed by one of two rules (:mod:`lib.qa.negatives`): ``smallest`` puts
   each once, riding in a row all of whose tuples other rows cover too (the suite does not grow),
   else in a row of its own; ``pict`` puts each beside every t-1 valid values of other fields the
   constraints allow, as PICT does: per negative, a covering at t-1 of the other fields in the
   space where the negative is its field's one valid value (at t-1 = 1, column by column). A case
   with a negative is refused, so it covers no valid tuple: coverage counts cases without a
   negative only.

Everything random draws from ``random.Random(seed)``: same model and seed, same cases. Each case's
expected outcome is the tester's mark (a negative value: refused on its field; none: accepted);
:func:`lib.fields.validation.validate_create` of its payload (found by one
:class:`~lib.fields.validation.CreateValidator` per suite, which checks each shared part once) is
kept beside it as the contract's verdict, shown where the two disagree
(:func:`lib.qa.suite.disagreements`), never as the oracle.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, cast

from lib.fields.schema import ORDER_ID
from lib.fields.validation import CreateValidator
from lib.qa.cover import Cover
from lib.qa.model import Model, build_payload, check_submodel
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.space import Row, Space
from lib.qa.steps import Progress, Steps
from lib.qa.suite import Case, Coverage, Suite
from lib.qa.values import Value

CONFIRM_ABOVE = 5_000  # a full product larger than this needs confirm=True
FULL_LIMIT = 100_000  # and one larger than this is refused
PLACING, CHECKING = "cases placed", "cases checked against the contract"  # the steps progress reports


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
    cover = Cover(space, min(t, space.n), _groups(model, space, t), rng)
    required = [space.row(values) for values in seeds]
    if not all(space.completable(row) and sum(space.is_negative(d, v) for d, v in enumerate(row)) <= 1 for row in required):
        raise ValueError("a required row has two negatives or values the constraints allow in no case")
    starts = required + starts
    # What a required row or a full product's start fixed stays: later patches change other fields only.
    for start in steps.over(PLACING, starts, len(starts)):
        cover.add(start)
        cover.lock(cover.size - 1, start)
    cover.complete(steps, PLACING)
    if negative_rule == "smallest":
        cover.place_negatives(steps, PLACING)
    else:
        cover.place_pict(steps, PLACING)
    rows = cover.row_list()
    check = CreateValidator()
    cases = [_case(model, space, i, row, seed, check) for i, row in enumerate(steps.over(CHECKING, rows, len(rows)))]
    return Suite(cases, cover.report(rows, negative_rule), strength, seed)


def _groups(model: Model, space: Space, strength: int) -> list[tuple[list[int], int]]:
    """The model's sub-models as dimension indices with the strength each is covered at;
    ValueError naming one that is not valid for the model (a field switched off since, say)."""
    index = {d.path: i for i, d in enumerate(space.dims)}
    groups = []
    for submodel in model.submodels:
        try:
            check_submodel(submodel, list(index))
        except ValueError as error:
            raise ValueError(f"sub-model {submodel.pict}: {error}") from None
        groups.append(([index[p] for p in submodel.paths], submodel.strength_at(strength)))
    return groups


def _case(model: Model, space: Space, index: int, row: Row, seed: int, check: CreateValidator) -> Case:
    complete = cast(list[int], row)  # every row of a suite is complete: no None
    values = {dim.path: dim.values[v] for dim, v in zip(space.dims, complete, strict=True)}
    # The case's order id first, so a value of <base> keeps it; one copy of the base.
    payload = build_payload(model.base, {ORDER_ID: f"qa-{seed}-{index}"},
                            {path: value.value for path, value in values.items()})
    negative = next((path for path, value in values.items() if value.negative), None)
    return Case(
        index=index,
        values=values,
        negative_path=negative,
        payload=payload,
        expected_paths=(negative,) if negative else (),
        contract_paths=tuple(problem["parameter"] for problem in check(payload)),
    )


def coverage_of(model: Model, cases: Sequence[Mapping[str, Value]], strength: int = 2) -> Coverage:
    """How much of the model's allowed t-tuples (and its sub-models' higher ones) and negative pairs
    any list of cases covers (ours, allpairspy's, PICT's, a Postman data file's); no rule of ours
    placed their negatives."""
    space = Space(model)
    t = min(strength, space.n)
    cover = Cover(space, t, _groups(model, space, t), random.Random(0))
    return cover.report([[dim.values.index(case[dim.path]) for dim in space.dims] for case in cases], None)
