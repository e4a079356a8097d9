"""Comparing two QA runs: only in A, only in B and differing cases in three groups apart."""
from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.qa.service import QAService
from lib.qa.store import CaseResult, RunStore

# --- comparisons, over runs written straight into the store (no HTTP needed) -------------------------
OUTCOMES = [("as_expected", 201, ()), ("as_expected", 400, ("a",)), ("other_paths", 400, ("b",)),
            ("server_error", 500, ())]
CASES = st.lists(st.tuples(st.sampled_from("pqrstu"), st.sampled_from(OUTCOMES)), max_size=12)


def write_run(store: RunStore, cases: list[tuple[str, tuple]]) -> str:
    run_id = uuid.uuid4().hex[:12]
    store.create_run(run_id=run_id, operator="qa", environment="sandbox", total=len(cases), concurrency=1,
                     seed=0, strength=2)
    for index, (key, (result, status, paths)) in enumerate(cases):
        store.record_case(run_id, CaseResult(
            index=index, labels={"k": key}, negative_path=None, expected_paths=(), result=result, payload={},
            http_status=status, problems=tuple({"parameter": p, "reason": "r"} for p in paths)))
    return run_id


def pairs(cases: list[tuple[str, tuple]]) -> dict[tuple[str, int], int]:
    """(key, its n-th occurrence) → the case's index: how a comparison pairs cases across runs."""
    seen: Counter[str] = Counter()
    found = {}
    for index, (key, _) in enumerate(cases):
        found[(key, seen[key])] = index
        seen[key] += 1
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=CASES, b=CASES)
def test_the_three_groups_partition_the_cases_and_differs_only_pairs(tmp_path: Path, a: list, b: list) -> None:
    store = RunStore(tmp_path / "ops.db")
    comparison = QAService(tmp_path / "ops.db", runner_unused, list).compare(write_run(store, a), write_run(store, b))
    in_a, in_b = pairs(a), pairs(b)
    index_a, index_b = {i: k for k, i in in_a.items()}, {i: k for k, i in in_b.items()}
    only_a = [index_a[d.a.index] for d in comparison.only_in_a]
    only_b = [index_b[d.b.index] for d in comparison.only_in_b]
    differs = [index_a[d.a.index] for d in comparison.differs]
    assert all(d.b is None for d in comparison.only_in_a) and all(d.a is None for d in comparison.only_in_b)
    assert all(index_b[d.b.index] == index_a[d.a.index] for d in comparison.differs)  # differs ⊆ both
    assert all(d.a.text != d.b.text for d in comparison.differs)
    both = in_a.keys() & in_b.keys()
    same = [k for k in both if a[in_a[k]][1] == b[in_b[k]][1]]
    # Only in A, only in B, differs and alike: apart from each other, and together every case of either run.
    assert Counter(only_a) == Counter(in_a.keys() - in_b.keys()) and Counter(only_b) == Counter(in_b.keys() - in_a.keys())
    assert Counter(differs) == Counter(both - set(same)) and comparison.same == len(same)
    assert len(only_a) + len(only_b) + len(differs) + comparison.same == len(in_a.keys() | in_b.keys())
    assert [d.a.index for d in comparison.differs] == sorted(d.a.index for d in comparison.differs)  # A's order


def runner_unused(*args: object, **kwargs: object) -> object:
    raise AssertionError("a comparison sends nothing")
