"""The constraint tables of a QA space agree with the row-by-row search on random models.

The generator decides which tuples are possible and which values keep a row completable from
each group of linked constrained fields' table of allowed combinations; the search
(:meth:`lib.qa.space.Space.completable`) is the reference those answers must equal.
"""
from __future__ import annotations

from itertools import combinations, product

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.qa.model import Model
from lib.qa.space import Space, row_of
from tests.test_qa_model import models

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def space_of(model: Model) -> Space | None:
    try:
        return Space(model)
    except ValueError:  # a model Space refuses (no dimension enabled, a bad value) has nothing to compare
        return None


@PROPERTIES
@given(models(), st.integers(1, 3))
def test_possible_tuples_are_those_the_search_completes(model: Model, t: int) -> None:
    space = space_of(model)
    if space is None:
        return
    for dims in combinations(range(space.n), min(t, space.n)):
        possible = space.possible(dims)
        for values in product(*(range(len(space.dims[d].values)) for d in dims)):
            valid = all(v in space.positive[d] for d, v in zip(dims, values, strict=True))
            expected = valid and space.completable(row_of(space.n, dims, values))
            assert possible[values] == expected, (dims, values)


@PROPERTIES
@given(models(), st.data())
def test_allowed_values_are_those_that_keep_the_row_completable(model: Model, data: st.DataObject) -> None:
    space = space_of(model)
    if space is None:
        return
    for dim in range(space.n):
        rows = []
        for _ in range(3):  # partial rows of valid values the search can complete, dim unset
            row = [None if d == dim or not data.draw(st.booleans()) else data.draw(st.sampled_from(space.positive[d]))
                   for d in range(space.n)]
            if space.completable(row):
                rows.append(row)
        if not rows:
            continue
        array = np.array([[-1 if v is None else v for v in row] + [0] for row in rows], dtype=np.int64)
        allowed = space.allowed(array, dim)
        for r, row in enumerate(rows):
            for v in range(len(space.dims[dim].values)):
                expected = v in space.positive[dim] and space.completable([*row[:dim], v, *row[dim + 1:]])
                assert allowed[r, v] == expected, (row, dim, v)
