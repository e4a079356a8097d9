"""Generating a suite in a background job: progress as it goes, a cancel that leaves no suite, errors
reported as text. A job is held at a chosen step (``Hold``) so what happens *while* it runs is seen
without waiting on time; its end is awaited on its own event."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from lib.qa.allpairs import ALLPAIRSPY
from lib.qa.generate import CHECKING, PLACING, generate
from lib.qa.generation_jobs import Job, JobProgress
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.service import Generated, QAService
from lib.qa.steps import Cancelled, Steps
from lib.sessions.service import SessionsService
from tests.generation_support import WAIT_S, Hold

SMALL = "transaction.currency: gbp, eur, ~xxx\nsave_card: true, false\n"


@pytest.fixture
def service(app_env: Path) -> QAService:
    return QAService.for_console(SessionsService("http://127.0.0.1:9", db_path=app_env / "ops.db"))


def test_the_generator_reports_each_step_in_order() -> None:
    from lib.qa.defaults import default_model
    from lib.qa.pict import from_pict

    seen: list[tuple[str, int, int | None]] = []
    suite = generate(from_pict(SMALL, default_model()), strength="full", progress=lambda *step: seen.append(step))
    placed = [step for step in seen if step[0] == PLACING]
    checked = [step for step in seen if step[0] == CHECKING]
    assert placed and seen.index(placed[-1]) < seen.index(checked[0])
    assert checked == [(CHECKING, n, len(suite.cases)) for n in range(len(suite.cases))]


def test_a_job_reports_progress_while_it_runs_then_the_suite(service: QAService, hold: Hold) -> None:
    model = service.import_pict(SMALL, service.default_model())
    job = service.start_generation(model, strength="full")
    assert hold.reached.wait(WAIT_S)
    assert (job.state, job.done, job.result) == ("running", False, None)
    assert job.progress == JobProgress(CHECKING, 0, 6) and job.progress.text == f"{CHECKING}: 0 of 6"
    hold.release.set()
    assert job.wait(WAIT_S)
    assert job.state == "completed" and job.error is None
    assert isinstance(job.result, Generated) and len(job.result.suite.cases) == 6
    assert job.result.allpairspy.cases == 4  # the yardstick was measured too
    assert job.progress.what == ALLPAIRSPY


@pytest.mark.parametrize("at", [PLACING, CHECKING, ALLPAIRSPY])
def test_a_cancelled_job_stops_at_its_next_step_and_offers_no_suite(service: QAService, hold: Hold, at: str) -> None:
    hold.at = at
    job = service.start_generation(service.import_pict(SMALL, service.default_model()), strength="full")
    assert hold.reached.wait(WAIT_S)
    job.cancel()
    assert job.state == "cancelling" and not job.done
    hold.release.set()
    assert job.wait(WAIT_S)
    assert (job.state, job.result, job.error) == ("cancelled", None, None)


def test_a_refused_model_ends_the_job_with_its_reason(service: QAService) -> None:
    model = service.default_model()
    job = service.start_generation(dataclasses.replace(model, dimensions=[dataclasses.replace(d, enabled=False)
                                                                          for d in model.dimensions]))
    assert job.wait(WAIT_S)
    assert (job.state, job.result, job.error) == ("failed", None, "no dimension is enabled")


def test_an_unexpected_exception_is_the_jobs_error_not_a_crash() -> None:
    def broken(steps: Steps) -> int:
        steps("rows", 1, 2)
        raise KeyError("boom")

    job = Job(broken, name="test-broken")
    assert job.wait(WAIT_S)
    assert (job.state, job.result, job.error) == ("failed", None, "KeyError: 'boom'")
    assert job.progress == JobProgress("rows", 1, 2) and job.progress.fraction == 0.5


def test_steps_stop_once_cancelled_and_report_before() -> None:
    seen: list[tuple[str, int, int | None]] = []
    stop = threading.Event()
    steps = Steps(lambda *step: seen.append(step), stop.is_set)
    items = steps.over("rows", ["a", "b", "c"], 3)
    assert next(items) == "a" and next(items) == "b"
    stop.set()
    with pytest.raises(Cancelled):
        next(items)
    assert seen == [("rows", 0, 3), ("rows", 1, 3)]
    assert JobProgress().text == "starting" and JobProgress("x", 3).fraction is None


def test_a_job_nobody_watches_any_more_stops_as_if_cancelled() -> None:
    """The page polls ``watch`` every second; once nobody has for ``abandon_after_s`` (a reload), the work stops."""
    now, given, started, release = [0.0], [], threading.Event(), threading.Event()

    def work(steps: Steps) -> str:
        given.append(steps)
        started.set()
        assert release.wait(WAIT_S)
        steps("rows", 1)
        return "made"

    job = Job(work, name="test-abandoned", abandon_after_s=10, clock=lambda: now[0])
    assert started.wait(WAIT_S)
    stop = given[0].cancelled
    assert stop is not None
    now[0] = 9.0
    assert job.watch() == JobProgress() and not stop()
    now[0] = 19.0
    assert not stop() and job.state == "running"
    now[0] = 19.5
    assert stop() and job.state == "cancelling"
    release.set()
    assert job.wait(WAIT_S)
    assert (job.state, job.result) == ("cancelled", None)


def _cancelled_after(placed: int) -> tuple[Steps, list[str]]:
    """Steps that report into a list and ask a cancel once ``placed`` rows were reported placed."""
    seen: list[str] = []
    return Steps(lambda what, done, total: seen.append(what), lambda: seen.count(PLACING) >= placed), seen


@pytest.mark.parametrize("rule", NEGATIVE_RULES)
def test_a_cancel_stops_either_negative_rule_between_rows(rule: NegativeRule) -> None:
    from lib.qa.defaults import default_model
    from lib.qa.pict import from_pict

    model = from_pict(SMALL, default_model())
    everything, seen = _cancelled_after(10**6)
    generate(model, negative_rule=rule, progress=everything.progress)
    for placed in range(1, seen.count(PLACING) + 1):  # a cancel at any row placed, negatives' rows included
        steps, _ = _cancelled_after(placed)
        with pytest.raises(Cancelled):
            generate(model, negative_rule=rule, progress=steps.progress, cancelled=steps.cancelled)
