"""allpairspy on the same model, as the yardstick our generator is shown against.

allpairspy's filter sees only a prefix of a case and it stops at the first case adding no new
pair, so under constraints it may end before covering every allowed pair: it is measured with
our :func:`lib.qa.generate.coverage_of`, never trusted to be complete. It sends no negative
either, so a like-for-like count compares it with a suite of the model's positives only
(:func:`positives_only`): ours adds a case per negative it cannot fit into a redundant slot.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from allpairspy import AllPairs

from lib.qa.constraints import Judge
from lib.qa.generate import coverage_of
from lib.qa.model import Model
from lib.qa.steps import NO_STEPS, Progress, Steps
from lib.qa.suite import Coverage
from lib.qa.values import Value

ALLPAIRSPY = "allpairspy's cases (for comparison)"  # the step progress reports


def allpairspy_suite(model: Model, steps: Steps = NO_STEPS) -> list[dict[str, Value]]:
    """What allpairspy makes of the enabled fields' non-negative values, the constraints as its filter."""
    dims = model.enabled()
    if len(dims) < 2:
        return [{dims[0].path: value} for value in dims[0].positives] if dims else []

    judge = Judge(model.constraints, {d.path: d.values for d in dims})

    def allowed(prefix: list[Value]) -> bool:
        # a prefix: the values of the first dimensions only
        return judge.allows({d.path: v for d, v in zip(dims, prefix, strict=False)})

    cases = AllPairs([d.positives for d in dims], filter_func=allowed)
    return [dict(zip((d.path for d in dims), case, strict=True)) for case in steps.over(ALLPAIRSPY, cases)]


def positives_only(model: Model) -> Model:
    """The model allpairspy is given (it sends no negative): each field's valid values only."""
    return dataclasses.replace(model, dimensions=[dataclasses.replace(d, values=d.positives) for d in model.dimensions])


@dataclass(frozen=True)
class Yardstick:
    """allpairspy's case count and pairwise coverage on a model; both None where it dead-ended."""

    cases: int | None
    coverage: Coverage | None


def measure(model: Model, *, progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> Yardstick:
    """allpairspy's count and pairwise coverage (well under a second for our models, minutes for a big
    full product's: ``progress``/``cancelled`` as in :class:`lib.qa.steps.Steps`)."""
    try:
        theirs = allpairspy_suite(model, Steps(progress, cancelled))
        return Yardstick(len(theirs), coverage_of(model, theirs, 2) if theirs else None)
    except (ValueError, RecursionError):  # allpairspy can dead-end under constraints
        return Yardstick(None, None)
