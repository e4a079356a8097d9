"""After a QA run: a case opened with its request and answer from the call log, reruns of a saved
run (all of it, or its failed and surprising cases), and comparisons in three groups apart."""
from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.access.policy import AUDITOR, Identity
from lib.qa import runner
from lib.qa.service import RERUN_SURPRISES, QAError, QAService
from lib.qa.store import CaseResult, RunStore
from lib.qa.suite import Case, Suite
from lib.qa.values import Value
from lib.sessions.service import SessionsService
from lib.storage.db import connect
from tests.test_qa_runner import BOSS, KNOWN, QA, case, generated, run_to_end, suite

pytestmark = pytest.mark.timeout(60)
EMAIL = "ann.smith@example.com"


@pytest.fixture
def service(console: SessionsService) -> QAService:
    return QAService.for_console(console)


def with_email(index: int) -> Case:
    """An accepted case that sends a customer's e-mail (personal: masked for qa)."""
    sent = case(index, "gbp", "15.02", "no_preference")
    return dataclasses.replace(sent, values={**sent.values, "customer.billing.email": Value(EMAIL)},
                               payload={**sent.payload, "customer": {"billing": {"email": EMAIL}}})


def test_an_opened_case_shows_the_request_sent_and_the_answer(service: QAService) -> None:
    run_id = run_to_end(service, Suite([with_email(0), case(1, "gbp", "-1", "no_preference", ("transaction.amount",))],
                                       coverage=None, strength=2, seed=1), headers={"X-Api-Key": "s3cret"})
    accepted = service.case_call(run_id, 0, BOSS)
    assert accepted.request.method == "POST" and accepted.response.http_status == 201
    assert accepted.sent_body["customer"]["billing"]["email"] == EMAIL
    assert accepted.sent_headers["X-Api-Key"] == "[REDACTED]" and accepted.sent_headers["Authorization"] == "[REDACTED]"
    assert accepted.answer["session_id"] == accepted.case.session_id
    assert accepted.audit_query == {"entry": str(accepted.case.entry_seq)} and accepted.response.seq == accepted.case.entry_seq

    refused = service.case_call(run_id, 1, QA)
    assert refused.response.http_status == 400 and refused.case.paths == ("transaction.amount",)
    assert any(p["parameter"] == "transaction.amount" for p in refused.answer["invalid_parameters"])

    masked = service.case_call(run_id, 0, QA)  # qa sees the shape, not the person: body and values
    assert masked.sent_body["customer"]["billing"]["email"] == "a***@example.com"
    assert masked.case.labels["customer.billing.email"] == Value("a***@example.com").label
    assert EMAIL not in json.dumps(masked.answer, default=str)
    assert service.case_call(run_id, 99, QA) is None


def test_a_case_that_sent_nothing_opens_without_a_call(service: QAService) -> None:
    """A payload JSON cannot carry never leaves the client: the case opens, with nothing logged."""
    broken = dataclasses.replace(case(0, "gbp", "15.02", "no_preference"), payload={"bad": {"a set"}})
    run_id = run_to_end(service, Suite([broken], coverage=None, strength=2, seed=1))
    call = service.case_call(run_id, 0, QA)
    assert call.case.result == "client_error" and call.request is None and call.response is None
    assert call.audit_query is None


SURPRISING = [("gbp", "15.02", "no_preference", ("transaction.currency",)),  # accepted: expected refused
              *KNOWN[:3],
              ("eur", "1", "no_preference", ("transaction.amount",))]


def test_rerun_failed_and_surprising_sends_exactly_those_cases_and_names_its_origin(service: QAService) -> None:
    origin = run_to_end(service, suite(SURPRISING), concurrency=2, headers={"X-Trace": "t-1", "X-Api-Key": "k"})
    surprising = service.cases(origin, BOSS, only_surprises=True)
    assert [c.index for c in surprising] == [0, 4]

    rerun = service.rerun(origin, who=QA, scope=RERUN_SURPRISES)
    assert runner.wait(rerun, 30)
    again = service.cases(rerun, BOSS)
    assert [(c.index, c.case_key, c.payload, c.expected_paths) for c in again] == \
        [(c.index, c.case_key, c.payload, c.expected_paths) for c in surprising]
    info, first = service.run(rerun), service.run(origin)
    assert (info.origin_run, info.origin_scope, info.origin_text) == (origin, "surprises", f"rerun of {origin} (surprises)")
    assert (info.environment, info.concurrency, info.seed, info.strength, info.operator) == \
        (first.environment, first.concurrency, first.seed, first.strength, QA.operator)
    assert service.run_model(rerun) == service.run_model(origin)
    headers = json.loads(connect(service.db_path).execute(
        "SELECT headers FROM qa_runs WHERE run_id = ?", (rerun,)).fetchone()[0])
    assert headers == {"X-Trace": "t-1"}  # a redacted header's value is gone: it is not sent as "[REDACTED]"
    comparison = service.compare(origin, rerun)
    assert (len(comparison.only_in_a), comparison.only_in_b, comparison.differs, comparison.same) == (3, [], [], 2)


def test_rerun_this_run_sends_all_its_cases(service: QAService) -> None:
    origin = run_to_end(service, suite(SURPRISING))
    rerun = service.rerun(origin, who=QA)
    assert runner.wait(rerun, 30)
    assert service.run(rerun).origin_text == f"rerun of {origin} (all)"
    comparison = service.compare(origin, rerun)
    assert (comparison.only_in_a, comparison.only_in_b, comparison.differs, comparison.same) == ([], [], [], 5)


def test_a_rerun_is_refused_as_a_new_run_would_be(service: QAService) -> None:
    origin = run_to_end(service, suite(KNOWN[:2]))
    auditor = Identity("aud@example.com", frozenset({AUDITOR}), local_mode=False)
    with pytest.raises(QAError, match="run QA suites"):
        service.rerun(origin, who=auditor)
    denied = connect(service.db_path).execute(
        "SELECT operator FROM entries WHERE kind = 'access_denied'").fetchall()
    assert denied == [("aud@example.com",)]  # logged, as any refused start
    with pytest.raises(QAError, match="no failed or surprising case"):
        service.rerun(origin, who=QA, scope=RERUN_SURPRISES)
    with pytest.raises(QAError, match="no QA run 'nope'"):
        service.rerun("nope", who=QA)
    slow = service.start_run(generated(suite(KNOWN)), target="sandbox", who=QA, concurrency=1,
                             headers={"X-Sandbox-Fault": "latency=300"})
    with pytest.raises(QAError, match="still running"):
        service.rerun(slow, who=QA)
    service.cancel(slow)
    assert runner.wait(slow, 10)
    assert len(service.runs()) == 2  # nothing recorded for the refused reruns


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
