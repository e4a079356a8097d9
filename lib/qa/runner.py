"""Run a QA suite against an environment in server-side worker threads.

Why it is built this way:
- The work runs in daemon threads this module starts, never in a Streamlit script: a rerun, a
  second tab or a closed browser does not touch it. Everything a page shows comes from
  :class:`lib.qa.store.RunStore`, written case by case, so any page in any process can poll it
  (through :mod:`lib.qa.results`).
- Requests go out raw (a dict: no client pre-check) through the ordinary :class:`Client`, built
  with the tag ``qa-run:<run_id>``: every call in the log, and every session the registry
  records, carries the run's id, and QA sessions stay out of finance's lists.
- Only ``sandbox`` and ``acquired-test`` may be targets; a live environment is refused here,
  whatever the UI offers. The caller's :class:`~lib.access.policy.Identity` must hold ``qa_run`` there
  (``access.enforce``: a refusal is logged), so a role without it cannot start a run by any path.
- Cancel reaches the workers at once in this process (an event they check before each case) and
  from any other process through the database (the coordinator polls it every ``POLL_S``).
"""
from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lib.access import events
from lib.access.policy import Identity
from lib.api.client import Client
from lib.api.errors import ApiError, NetworkError, ServerError, UnknownOutcome, ValidationFailed
from lib.qa import store as qa_store
from lib.qa.interface import RunWriter
from lib.qa.store import CaseResult, RunStore
from lib.qa.suite import Case, Suite
from lib.sessions.service import QA_TAG_PREFIX, SessionsService
from lib.settings import ACQUIRED_LIVE, ACQUIRED_TEST, SANDBOX
from lib.storage.db import close_thread_connections

TARGETS = (SANDBOX, ACQUIRED_TEST)
MIN_CONCURRENCY, MAX_CONCURRENCY, DEFAULT_CONCURRENCY = 1, 16, 4  # at most the client's pooled connections
POLL_S = 0.25  # how often the coordinator looks for a cancel from another process
HEARTBEAT_S = 2.0  # well inside ``store.HEARTBEAT_STALE_S``


class LiveRunRefused(ValueError):
    """QA runs send hundreds of deliberately odd requests: never to a live environment."""


class ClientFactory(Protocol):
    """``SessionsService.client``'s shape: a client for one environment and operator with these tags/headers."""

    def __call__(self, env_name: str, operator: str, *, tags: Sequence[str] = (),
                 headers: Mapping[str, str] | None = None) -> Client: ...


@dataclass
class _Run:
    """One run's in-process state: the cases left, the stop signal, and its end."""

    run_id: str
    client: Client
    store: RunWriter
    cases: Iterator[Case]
    concurrency: int
    cancel: threading.Event = field(default_factory=threading.Event)
    workers_done: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failure: str | None = None
    live_workers: int = 0

    def next_case(self) -> Case | None:
        """The next case to start, or None once cancelled, failed or exhausted."""
        if self.cancel.is_set():
            return None
        with self.lock:
            return next(self.cases, None)

    def worker_ended(self) -> None:
        with self.lock:
            self.live_workers -= 1
            if self.live_workers == 0:
                self.workers_done.set()


_runs: dict[str, _Run] = {}
_runs_lock = threading.Lock()


def start_run(source: SessionsService | ClientFactory, *, env_name: str, who: Identity, suite: Suite,
              model_json: str | None = None, model_pict: str | None = None,
              concurrency: int = DEFAULT_CONCURRENCY, headers: Mapping[str, str] | None = None,
              store: RunWriter | None = None, origin: qa_store.Origin | None = None) -> str:
    """Record a run and start its workers; returns the run id at once (the work goes on in daemon
    threads). ``source`` is the :class:`SessionsService` or any ``SessionsService.client``-shaped factory; the run
    is saved in ``store``, by default the database of that client's call log. ``headers`` go on every request.
    ``who`` must be allowed ``qa_run`` in ``env_name`` (:class:`~lib.access.policy.AccessDenied` otherwise).
    ``origin``: the saved run this one reruns (None for a new suite)."""
    if env_name == ACQUIRED_LIVE:
        raise LiveRunRefused(f"QA runs are never sent to {ACQUIRED_LIVE}: choose {' or '.join(TARGETS)}")
    if env_name not in TARGETS:
        raise ValueError(f"QA runs may target only {' or '.join(TARGETS)}, not {env_name!r}")
    if type(concurrency) is not int or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be a whole number from {MIN_CONCURRENCY} to {MAX_CONCURRENCY}, got {concurrency!r}")
    if not suite.cases:
        raise ValueError("the suite has no cases")
    run_id = uuid.uuid4().hex[:12]
    factory = source.client if isinstance(source, SessionsService) else source
    operator = who.operator
    client = factory(env_name, operator, tags=(QA_TAG_PREFIX + run_id,), headers=headers)
    events.enforce(client.log, who, "qa_run", env_name)
    if client.env.live:
        raise LiveRunRefused(f"{env_name} resolves to a live environment ({client.env.api_base}): QA runs are refused there")
    store = store or RunStore(client.log.db_path)
    store.create_run(run_id=run_id, operator=operator, environment=env_name, total=len(suite.cases),
                     concurrency=concurrency, seed=suite.seed, strength=suite.strength, model_json=model_json,
                     model_pict=model_pict, headers=headers, origin=origin)
    run = _Run(run_id, client, store, iter(list(suite.cases)), concurrency)
    with _runs_lock:
        _runs[run_id] = run
    threading.Thread(target=_coordinate, args=(run,), name=f"qa-run:{run_id}", daemon=True).start()
    return run_id


def cancel(run_id: str, db_path: str | Path | None = None, *, store: RunWriter | None = None) -> None:
    """Start no new case; cases under way finish and are kept. A run of this process stops at once;
    another process's run (in ``store``, or ``db_path``, default ``$OPS_DB_PATH``) within ``POLL_S``."""
    with _runs_lock:
        run = _runs.get(run_id)
    if run is not None:
        run.cancel.set()
    (run.store if run is not None else store or RunStore(db_path)).request_cancel(run_id)


def wait(run_id: str, timeout: float | None = None) -> bool:
    """Block until this process's run ``run_id`` has ended; False on timeout (tests, the bench)."""
    with _runs_lock:
        run = _runs.get(run_id)
    return True if run is None else run.done.wait(timeout)


def _coordinate(run: _Run) -> None:
    """Start the workers, relay a cancel asked through the database, beat, and record the ending."""
    try:
        run.live_workers = run.concurrency
        for n in range(run.concurrency):
            threading.Thread(target=_work, args=(run,), name=f"qa-run:{run.run_id}:{n}", daemon=True).start()
        next_beat = time.monotonic() + HEARTBEAT_S
        while not run.workers_done.wait(POLL_S):
            if time.monotonic() >= next_beat:
                run.store.heartbeat(run.run_id)
                next_beat = time.monotonic() + HEARTBEAT_S
            if run.store.cancel_requested(run.run_id):
                run.cancel.set()
        status = qa_store.FAILED if run.failure else qa_store.CANCELLED if run.cancel.is_set() else qa_store.COMPLETED
        run.store.finish(run.run_id, status, run.failure)
    finally:
        with _runs_lock:
            _runs.pop(run.run_id, None)
        run.done.set()
        close_thread_connections()


def _none_queued() -> None:
    """What a worker awaits before its first case: no case of its own is queued yet."""


def _work(run: _Run) -> None:
    """Take cases until none is left or a stop is asked; a failure to record stops the whole run.

    Each case is recorded with the store's next write (``queue_case``): the commit of the next
    case's request entry, so awaiting it then costs nothing; the last one is awaited before the
    worker ends (and after a failure too), so nothing of the run is written after its end."""
    recorded: Callable[[], None] = _none_queued
    try:
        while (case := run.next_case()) is not None:
            result = execute(run.client, case)
            recorded()
            recorded = run.store.queue_case(run.run_id, result)
        recorded()
    except Exception as exc:  # noqa: BLE001 - the run must end as failed, with the reason saved
        run.failure = f"{type(exc).__name__}: {exc}"
        run.cancel.set()
        with contextlib.suppress(Exception):
            recorded()  # the case in the queue, when something else failed
    finally:
        close_thread_connections()
        run.worker_ended()


def execute(client: Client, case: Case) -> CaseResult:
    """Send one case raw and classify what came back against what it expected."""
    started = time.perf_counter()
    try:
        created = client.create_session(case.payload)
    except ApiError as exc:
        answer: dict[str, Any] = {"http_status": exc.status, "attempt_id": exc.attempt_id, "entry_seq": exc.entry_seq}
        if isinstance(exc, ValidationFailed):
            problems = tuple(dict(p) for p in exc.invalid_parameters)
            result = classify(case.expected_paths, accepted=False, paths={str(p["parameter"]) for p in problems})
            answer |= {"problems": problems}
        else:
            result = _error_result(exc)
            answer |= {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - e.g. a body JSON cannot carry: the case failed, not the run
        result, answer = qa_store.CLIENT_ERROR, {"error": f"{type(exc).__name__}: {exc}"}
    else:
        result = classify(case.expected_paths, accepted=True)
        answer = {"session_id": created.session_id, "attempt_id": created.attempt_id, "entry_seq": created.entry_seq}
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return CaseResult(index=case.index, labels=case.labels, negative_path=case.negative_path,
                      expected_paths=tuple(case.expected_paths), result=result, payload=case.payload,
                      latency_ms=latency_ms, **answer)


def classify(expected_paths: Sequence[str], *, accepted: bool, paths: set[str] | None = None) -> str:
    """The result class of an answered case: accepted or refused (400) on ``paths``."""
    if accepted:
        return qa_store.UNEXPECTED_ACCEPT if expected_paths else qa_store.AS_EXPECTED
    if not expected_paths:
        return qa_store.UNEXPECTED_REFUSAL
    return qa_store.AS_EXPECTED if paths == set(expected_paths) else qa_store.OTHER_PATHS


def _error_result(exc: ApiError) -> str:
    if isinstance(exc, ServerError):
        return qa_store.SERVER_ERROR
    if isinstance(exc, UnknownOutcome):
        return qa_store.UNKNOWN_OUTCOME
    if isinstance(exc, NetworkError):
        return qa_store.NETWORK_ERROR
    return qa_store.HTTP_ERROR
