"""QA runs over real HTTP against the sandbox, saved in a real SQLite database, read through the service."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lib.access.policy import ADMIN, Identity
from lib.access.policy import QA as QA_ROLE
from lib.api.client import Client, Creation
from lib.api.exchange import Call
from lib.qa import pipeline, runner
from lib.qa.allpairs import Yardstick
from lib.qa.defaults import default_model
from lib.qa.service import CaseDifference, Comparison, Generated, QAError, QAService
from lib.qa.store import RunStore, recover_interrupted
from lib.qa.suite import Case, Suite
from lib.qa.values import Value
from lib.sandbox import SandboxServer
from lib.sessions.service import QA_TAG_PREFIX, SessionsService
from lib.storage.db import connect
from tests.conftest import ConfigureEnvironment
from tests.net import free_port


def qa_person(email: str) -> Identity:
    """A signed-in person holding the qa role: what the QA explorer passes to ``start_run``."""
    return Identity(email, frozenset({QA_ROLE}), local_mode=False)


QA = qa_person("qa")
BOSS = Identity("boss@example.com", frozenset({ADMIN}), local_mode=False)  # sees customer data in full

REPO = Path(__file__).resolve().parent.parent
FAULT = "X-Sandbox-Fault"
pytestmark = pytest.mark.timeout(60)

# (currency, amount, challenge preference, the paths a refusal must name): hand-built cases whose
# answers are known; the value at an expected path is the case's deliberately invalid one.
KNOWN = [
    ("gbp", "15.02", "no_preference", ()),
    ("eur", "0", "challenge_mandated", ()),
    ("usd", "100", "challenge_preferred", ()),
    ("GBP", "15.02", "no_preference", ("transaction.currency",)),
    ("gbp", "-1", "no_preference", ("transaction.amount",)),
    ("eur", "15.02", "bogus", ("tds.challenge_preference",)),
    ("=cmd()", "15.02", "no_preference", ("transaction.currency",)),
]
DIMENSIONS = ("transaction.currency", "transaction.amount", "tds.challenge_preference")


def case(index: int, currency: str, amount: str, preference: str, expected: Sequence[str] = ()) -> Case:
    """A case whose payload carries its values; the expected paths name its negative value."""
    raw = (currency, Decimal(amount), preference)
    values = {path: Value(v, negative=path in expected) for path, v in zip(DIMENSIONS, raw, strict=True)}
    payload = {"transaction": {"order_id": f"qa-{index:04d}", "amount": raw[1], "currency": currency},
               "tds": {"is_active": True, "challenge_preference": preference}}
    return Case(index=index, values=values, negative_path=expected[0] if expected else None, payload=payload,
                expected_paths=tuple(expected))


def suite(rows: Sequence[tuple], seed: int = 1) -> Suite:
    return Suite(cases=[case(i, *row) for i, row in enumerate(rows)], coverage=None, strength=2, seed=seed)


def grid(currencies: Sequence[str], amounts: Sequence[str], preferences: Sequence[str]) -> list[tuple]:
    """Every combination, all expected to be accepted (as a model that forgot a rule would say)."""
    return [(c, a, p, ()) for c in currencies for a in amounts for p in preferences]

MODEL = default_model()


def generated(the_suite: Suite) -> Generated:
    """A hand-built suite as the page hands it to the service (the model texts are stored with the run)."""
    return Generated(the_suite, MODEL.to_json(), "currency: gbp, eur", Yardstick(None, None))


@pytest.fixture
def db_path(app_env: Path) -> Path:
    return app_env / "ops.db"


@pytest.fixture
def service(console: SessionsService) -> QAService:
    return QAService.for_console(console)


def run_to_end(service: QAService, the_suite: Suite, *, target: str = "sandbox", concurrency: int = 4,
               headers: Mapping[str, str] | None = None) -> str:
    run_id = service.start_run(generated(the_suite), target=target, who=qa_person("qa@example.com"),
                               concurrency=concurrency, headers=headers)
    assert runner.wait(run_id, 30)
    return run_id


def test_a_known_suite_gets_exactly_the_expected_answers(service: QAService) -> None:
    run_id = run_to_end(service, suite(KNOWN), concurrency=3)
    progress = service.progress(run_id)
    assert (progress.status, progress.done, progress.total, progress.surprises) == ("completed", 7, 7, 0)
    assert progress.eta_s == 0.0 and progress.rate_per_s > 0
    cases = service.cases(run_id, QA)
    assert [c.http_status for c in cases] == [201, 201, 201, 400, 400, 400, 400]
    assert [c.paths for c in cases] == [(), (), (), *((p,) for *_, (p,) in KNOWN[3:])]
    assert all(c.session_id for c in cases[:3]) and not any(c.session_id for c in cases[3:])
    assert cases[4].problems == ({"parameter": "transaction.amount", "reason": "transaction.amount must be zero or more"},)
    assert all(c.result == "as_expected" and c.latency_ms > 0 for c in cases)
    assert service.summary(run_id).counts["as_expected"] == 7
    run = service.run(run_id)
    assert (run.operator, run.environment, run.seed, run.strength, run.concurrency) == \
        ("qa@example.com", "sandbox", 1, "2", 3)
    assert service.run_model(run_id) == MODEL
    assert json.loads(service.export_json(run_id, QA))["run"]["model_pict"] == "currency: gbp, eur"


def test_every_call_and_every_session_carries_the_run_tag(service: QAService, console: SessionsService, db_path: Path) -> None:
    run_id = run_to_end(service, suite(KNOWN))
    tag = QA_TAG_PREFIX + run_id
    entries = connect(db_path).execute("SELECT tags, endpoint, kind FROM entries").fetchall()
    assert entries and all(json.loads(tags) == [tag] for tags, _, _ in entries)
    creates = [e for e in entries if e[1] == "/v1/payment-sessions" and e[2] == "api_result"]
    assert len(creates) == len(KNOWN)
    qa_sessions = console.active("sandbox", include_qa=True)
    assert len(qa_sessions) == 3 and all(s.tags == (tag,) for s in qa_sessions)
    assert console.active("sandbox") == []  # hidden from finance by default


def test_acquired_live_is_refused_and_bad_settings_rejected(service: QAService) -> None:
    start = lambda **settings: service.start_run(generated(suite(KNOWN)), who=QA, **settings)  # noqa: E731
    with pytest.raises(QAError, match="never sent to acquired-live"):
        start(target="acquired-live", concurrency=4)
    with pytest.raises(QAError, match="only sandbox or acquired-test"):
        start(target="production", concurrency=4)
    for bad in (0, 17, True, 2.0):
        with pytest.raises(QAError, match="concurrency"):
            start(target="sandbox", concurrency=bad)
    assert service.runs() == []


def test_a_factory_resolving_to_a_live_environment_is_refused(console: SessionsService, db_path: Path) -> None:
    def disguised(env_name: str, operator: str, **kwargs: Any) -> Client:
        client = console.client("sandbox", operator, **kwargs)
        client.env = dataclasses.replace(client.env, live=True)
        return client

    service = QAService(db_path, disguised, console.environments)
    with pytest.raises(QAError, match="resolves to a live environment"):
        service.start_run(generated(suite(KNOWN)), target="sandbox", who=QA, concurrency=4)
    assert service.runs() == []


def run_threads(run_id: str) -> list[threading.Thread]:
    """The run's coordinator and its sending thread (named ``qa-run:<id>`` and ``qa-run:<id>:send``)."""
    return [t for t in threading.enumerate() if t.name == f"qa-run:{run_id}" or t.name.startswith(f"qa-run:{run_id}:")]


def test_cancel_starts_no_new_case_and_keeps_finished_ones(service: QAService) -> None:
    slow = suite(grid(["gbp", "eur"], ["1", "2", "3", "4", "5"], ["no_preference", "challenge_mandated"]) * 2)
    run_id = service.start_run(generated(slow), target="sandbox", who=QA, concurrency=2,
                               headers={FAULT: "latency=500"})
    while service.progress(run_id).done < 2:
        time.sleep(0.05)
    service.cancel(run_id)
    assert service.progress(run_id).status == "cancelling"
    assert runner.wait(run_id, 30)
    progress = service.progress(run_id)
    assert progress.status == "cancelled" and 2 <= progress.done < len(slow.cases)
    for thread in run_threads(run_id):  # once every thread of the run has ended, nothing can add a case
        thread.join(10)
        assert not thread.is_alive()
    assert service.progress(run_id).done == progress.done == len(service.cases(run_id, QA))
    assert json.loads(service.export_json(run_id, QA))["run"]["headers"] == {FAULT: "latency=500"}


def test_a_cancel_from_another_process_is_seen_through_the_database(service: QAService, db_path: Path) -> None:
    slow = suite(grid(["gbp"], ["1", "2", "3", "4", "5", "6"], ["no_preference"]))
    run_id = service.start_run(generated(slow), target="sandbox", who=QA, concurrency=1,
                               headers={FAULT: "latency=300"})
    RunStore(db_path).request_cancel(run_id)  # what a cancel in another process writes
    assert runner.wait(run_id, 30)
    progress = service.progress(run_id)
    assert progress.status == "cancelled" and progress.done < len(slow.cases)


def _start_and_forget(sandbox_url: str, db_path: Path) -> str:
    """What a Streamlit script does: start, keep only the id, end (its objects are dropped)."""
    page_service = QAService.for_console(SessionsService(sandbox_url, db_path=db_path))
    return page_service.start_run(generated(suite(grid(["gbp", "eur", "usd"], ["1", "2"], ["no_preference", "bogus"]))),
                                  target="sandbox", who=QA, concurrency=2, headers={FAULT: "latency=60"})


def test_a_run_survives_the_page_being_rerun(sandbox: SandboxServer, db_path: Path) -> None:
    import gc

    run_id = _start_and_forget(sandbox.base_url, db_path)
    gc.collect()
    seen: set[str] = set()
    while True:
        progress = QAService.for_console(SessionsService(sandbox.base_url, db_path=db_path)).progress(run_id)  # as a rerun has
        seen.add(progress.status)
        if 0 < progress.done < progress.total:
            assert progress.rate_per_s and progress.eta_s and progress.eta_s > 0
        if progress.finished:
            break
        time.sleep(0.02)
    assert seen == {"running", "completed"}
    assert (progress.done, progress.total, progress.surprises) == (12, 12, 6)  # 'bogus' was expected valid


def _spawn_owner(db_path: Path, run_id: str, *, stay: bool) -> subprocess.Popen[str]:
    """Another process that owns a running run (and stays alive, or dies without finishing it)."""
    code = (
        "import sys, time\n"
        "from lib.qa.store import RunStore\n"
        "RunStore(sys.argv[1]).create_run(run_id=sys.argv[2], operator='qa', environment='sandbox', total=5,"
        " concurrency=1, seed=1, strength=2)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60 if sys.argv[3] == 'stay' else 0)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(db_path), run_id, "stay" if stay else "die"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_recover_interrupted_marks_only_runs_whose_process_is_gone(service: QAService, console: SessionsService,
                                                                   db_path: Path) -> None:
    dead = _spawn_owner(db_path, "dead-run", stay=False)
    dead.wait(10)
    alive = _spawn_owner(db_path, "alive-run", stay=True)
    try:
        ours = service.start_run(generated(suite(KNOWN)), target="sandbox", who=QA, concurrency=1,
                                 headers={FAULT: "latency=200"})
        assert recover_interrupted(db_path) == ["dead-run"]  # what the frame runs once per process
        assert service.progress("dead-run").status == "interrupted"
        assert service.progress("dead-run").error
        assert service.progress("alive-run").status == "running"
        assert service.progress(ours).status == "running"
        service.cancel(ours)
        assert runner.wait(ours, 5)
        later = datetime.now(UTC) + timedelta(minutes=5)
        silent_too_long = QAService(db_path, console.client, console.environments, clock=lambda: later)
        assert silent_too_long.recover_interrupted() == ["alive-run"]
    finally:
        alive.kill()
        alive.wait(10)


def sides(differences: list[CaseDifference]) -> list[tuple[int | None, int | None]]:
    """Each case's index in run A and in run B (None: not in that run)."""
    return [(d.a.index if d.a else None, d.b.index if d.b else None) for d in differences]


def test_compare_lists_the_cases_whose_outcome_differs(service: QAService, console: SessionsService, db_path: Path,
                                                       sandbox: SandboxServer,
                                                       configure_environment: ConfigureEnvironment) -> None:
    """Sandbox vs acquired-test (pointed at a sandbox whose answers fail for two orders)."""
    configure_environment("acquired-test", api_base=f"{sandbox.base_url}/v1")
    rows = grid(["gbp", "eur"], ["1", "2.50"], ["no_preference", "challenge_mandated"])
    failing = {"qa-0002", "qa-0005"}

    def partly_failing(env_name: str, operator: str, *, tags: Sequence[str] = (),
                       headers: Mapping[str, str] | None = None) -> Client:
        return _FailSome(console.environment(env_name), operator=operator, log=console.log, tags=tags,
                         headers=headers, failing=failing)

    run_a = run_to_end(service, suite(rows))
    run_b = run_to_end(QAService(db_path, partly_failing, console.environments), suite(rows), target="acquired-test")
    comparison = service.compare(run_a, run_b)
    diffs = comparison.differs
    assert sides(diffs) == [(2, 2), (5, 5)] and (comparison.only_in_a, comparison.only_in_b) == ([], [])
    assert comparison.same == len(rows) - 2
    assert {(d.a.result, d.a.http_status, d.b.result, d.b.http_status) for d in diffs} == \
        {("as_expected", 201, "server_error", 500)}
    assert diffs[0].labels == suite(rows).cases[2].labels
    assert service.summary(run_b).counts["server_error"] == 2


def test_compare_matches_cases_by_their_values_not_their_index(service: QAService) -> None:
    rows = grid(["gbp", "eur"], ["1", "2"], ["no_preference"])
    run_a = run_to_end(service, suite(rows))
    reordered = [rows[3], rows[1], rows[0], ("usd", "1", "no_preference", ())]  # rows[2] dropped, one added
    run_b = run_to_end(service, suite(reordered))
    comparison = service.compare(run_a, run_b)
    assert (sides(comparison.only_in_a), sides(comparison.only_in_b)) == ([(2, None)], [(None, 3)])
    assert comparison.differs == [] and comparison.same == 3  # one-sided cases never count as differing
    assert comparison.only_in_b[0].labels["transaction.currency"] == Value("usd").label
    assert service.compare(run_a, run_a) == Comparison([], [], [], same=4)


def test_failure_rate_by_value_puts_the_culprit_first(service: QAService) -> None:
    """The model forgot that jpy has no decimals: every jpy case is refused, nothing else is."""
    rows = grid(["gbp", "eur", "jpy"], ["15.02", "0.50"], ["no_preference", "challenge_mandated"])
    run_id = run_to_end(service, suite(rows))
    culprits = service.culprits(run_id)
    top, runner_up = culprits[0], culprits[1]
    assert (top.path, top.label, top.cases, top.surprises, top.rate) == ("transaction.currency", Value("jpy").label, 4, 4, 1.0)
    assert runner_up.rate <= 0.5
    assert len(culprits) == 1 + 2 + 2  # gbp and eur never met a surprise: not culprits
    assert {c.result for c in service.cases(run_id, QA, only_surprises=True)} == {"unexpected_refusal"}


def test_export_csv_escapes_formulas_and_json_has_everything(service: QAService) -> None:
    """A model that thinks -5 is a fine amount: its label starts a spreadsheet formula."""
    run_id = run_to_end(service, suite([*KNOWN, ("gbp", "-5", "no_preference", ())]))
    rows = list(csv.DictReader(io.StringIO(service.export_csv(run_id, BOSS).decode("utf-8"))))
    assert len(rows) == len(KNOWN) + 1
    assert {"index", "result", "expected", "http_status", "paths", "reasons", *DIMENSIONS} <= set(rows[0])
    formula = rows[-1]
    assert (formula["transaction.amount"], formula["result"], formula["surprise"]) == ("'-5", "unexpected_refusal", "yes")
    assert formula["reasons"] == "transaction.amount must be zero or more" and formula["paths"] == "transaction.amount"
    assert rows[0]["expected"] == "accepted" and rows[3]["expected"] == "refused: transaction.currency"
    assert rows[0]["transaction.currency"] == Value("gbp").label
    document = json.loads(service.export_json(run_id, BOSS))
    assert document["run"]["run_id"] == run_id and document["summary"]["cases"] == len(KNOWN) + 1
    assert document["summary"]["counts"]["unexpected_refusal"] == 1
    assert document["cases"][0]["payload"]["transaction"]["amount"] == 15.02
    assert document["cases"][0]["expected"] == "accepted" and document["cases"][3]["paths"] == ["transaction.currency"]
    assert document["run"]["model_pict"] == "currency: gbp, eur"


def test_a_generated_pairwise_suite_meets_exactly_the_announced_surprises(service: QAService) -> None:
    """The sandbox runs the contract, so its surprises are the cases where the tester's marks and
    the contract disagree: no more (nothing unannounced), no fewer (the marks are the oracle)."""
    model = default_model()
    generated_suite = service.generate(model, strength=2, seed=7)
    announced = {c.index for c in generated_suite.suite.cases if c.expected_paths != c.contract_paths}
    assert announced and service.disagreements(generated_suite)
    run_id = service.start_run(generated_suite, target="sandbox", who=QA, concurrency=8)
    assert runner.wait(run_id, 30)
    assert {c.index for c in service.cases(run_id, QA, only_surprises=True)} == announced
    assert service.summary(run_id).cases == len(generated_suite.suite.cases)
    assert service.run_model(run_id) == model


@pytest.mark.parametrize(("headers", "result", "status"), [
    ({FAULT: "status=500"}, "server_error", 500),
    ({FAULT: "drop-after"}, "unknown_outcome", None),
    ({FAULT: "status=409"}, "http_error", 409),
])
def test_faults_are_surprises_of_their_own_class(service: QAService, headers: dict[str, str],
                                                 result: str, status: int | None) -> None:
    run_id = run_to_end(service, suite(KNOWN[:2]), headers=headers)
    cases = service.cases(run_id, QA, only_surprises=True)
    assert [(c.result, c.http_status) for c in cases] == [(result, status)] * 2
    assert all(c.error for c in cases)


def test_an_unreachable_api_is_a_network_error(db_path: Path, configure_environment: ConfigureEnvironment) -> None:
    configure_environment("acquired-test", app_id="x", app_key="y", api_base=f"http://127.0.0.1:{free_port()}/v1")
    service = QAService.for_console(SessionsService("http://127.0.0.1:1", db_path=db_path))
    run_id = run_to_end(service, suite(KNOWN[:2]), target="acquired-test", concurrency=2)
    assert {c.result for c in service.cases(run_id, QA)} == {"network_error"}


@pytest.mark.parametrize(("expected", "accepted", "paths", "result"), [
    ((), True, None, "as_expected"),
    (("a",), True, None, "unexpected_accept"),
    ((), False, {"a"}, "unexpected_refusal"),
    (("a",), False, {"a"}, "as_expected"),
    (("a",), False, {"a", "b"}, "other_paths"),
    (("a",), False, {"b"}, "other_paths"),
])
def test_classify(expected: tuple[str, ...], accepted: bool, paths: set[str] | None, result: str) -> None:
    assert pipeline.classify(expected, accepted=accepted, paths=paths) == result


def test_list_runs_newest_first(service: QAService) -> None:
    first = run_to_end(service, suite(KNOWN[:1]))
    second = run_to_end(service, suite(KNOWN[:2]))
    listed = service.runs()
    assert [r.run_id for r in listed] == [second, first]
    assert [(r.total, r.done, r.status) for r in listed] == [(2, 2, "completed"), (1, 1, "completed")]
    assert listed[0].label == f"{second} · sandbox · strength 2 · seed 1 · qa@example.com"
    assert service.run("no-such-run") is None


class _FailSome(Client):
    """Sends the sandbox's ``status=500`` fault for the chosen order ids only (one real client each way)."""

    def __init__(self, *args: Any, failing: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = failing
        self._faulty = Client(self.env, operator=self.operator, log=self.log, tags=self.tags,
                              headers={**self.extra_headers, FAULT: "status=500"})

    def creation_call(self, creation: Creation) -> Call:
        target = self._faulty if creation.body["transaction"]["order_id"] in self.failing else super()
        return target.creation_call(creation)


def test_exports_and_cases_mask_personal_values_for_those_who_see_them_masked(service: QAService) -> None:
    """A run that sent a customer e-mail: qa sees it masked (page and exports), admin in full."""
    email = "ann.smith@example.com"
    sent = case(0, "gbp", "15.02", "no_preference")
    sent = dataclasses.replace(
        sent, values={**sent.values, "customer.billing.email": Value(email)},
        payload={**sent.payload, "customer": {"billing": {"email": email}}})
    run_id = run_to_end(service, Suite(cases=[sent], coverage=None, strength=2, seed=1))
    assert email in service.export_csv(run_id, BOSS).decode() and email in service.export_json(run_id, BOSS).decode()
    for masked in (service.export_csv(run_id, QA).decode(), service.export_json(run_id, QA).decode()):
        assert email not in masked and "a***@example.com" in masked
    document = json.loads(service.export_json(run_id, QA))
    assert document["cases"][0]["payload"]["customer"]["billing"]["email"] == "a***@example.com"
    assert document["cases"][0]["payload"]["transaction"]["amount"] == 15.02  # amounts are never masked
    shown = service.cases(run_id, QA)[0]
    assert shown.labels["customer.billing.email"] == Value("a***@example.com").label
    assert service.cases(run_id, BOSS)[0].labels["customer.billing.email"] == Value(email).label


def test_a_value_marked_negative_that_the_sandbox_accepts_is_a_surprise(service: QAService) -> None:
    """The tester's ``~`` is the oracle: the contract (which the sandbox runs) accepts ``ok``, so the
    disagreement shows before the run, and the case holding it comes back a surprise."""
    model = service.import_pict("transaction.custom1: qa, ~ok\nsave_card: true, false\n", service.default_model())
    generated_suite = service.generate(model)
    assert [(d.path, d.label, d.tester, d.contract) for d in service.disagreements(generated_suite)] == [
        ("transaction.custom1", '~"ok"', "negative", "accepted")]
    run_id = service.start_run(generated_suite, target="sandbox", who=qa_person("qa@example.com"), concurrency=2)
    assert runner.wait(run_id, 30)
    surprises = service.cases(run_id, QA, only_surprises=True)
    assert [(c.labels["transaction.custom1"], c.result, c.expected, c.http_status) for c in surprises] == [
        ('~"ok"', "unexpected_accept", "refused: transaction.custom1", 201)]
    assert service.progress(run_id).surprises == 1
