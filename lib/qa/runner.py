"""Run a QA suite against an environment in a server-side thread.

Why it is built this way:
- The work runs in a daemon thread this module starts, never in a Streamlit script: a rerun, a
  second tab or a closed browser does not touch it. That thread sends the cases from one event
  loop, ``concurrency`` at a time (:mod:`lib.qa.pipeline`). Everything a page shows comes from
  :class:`lib.qa.store.RunStore`, written case by case, so any page in any process can poll it
  (through :mod:`lib.qa.results`).
- Requests go out raw (a dict: no client pre-check) as creates of the ordinary :class:`Client`, built
  with the tag ``qa-run:<run_id>``: every call in the log, and every session the registry
  records, carries the run's id, and QA sessions stay out of finance's lists.
- Only ``sandbox`` and ``acquired-test`` may be targets; a live environment is refused here,
  whatever the UI offers. The caller's :class:`~lib.access.policy.Identity` must hold ``qa_run`` there
  (``access.enforce``: a refusal is logged), so a role without it cannot start a run by any path.
- Cancel reaches the run at once in this process (an event checked before each case) and
  from any other process through the database (the coordinator polls it every ``POLL_S``).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lib.access import events
from lib.access.policy import Identity
from lib.api.client import Client
from lib.qa import pipeline
from lib.qa import store as qa_store
from lib.qa.interface import RunWriter
from lib.qa.store import RunStore
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
    sent: threading.Event = field(default_factory=threading.Event)  # every case sent and recorded, or the run stopped
    done: threading.Event = field(default_factory=threading.Event)
    failure: str | None = None

    def next_case(self) -> Case | None:
        """The next case to start, or None once cancelled, failed or exhausted (one event loop asks)."""
        return None if self.cancel.is_set() else next(self.cases, None)

    def failed(self, reason: str) -> None:
        """Something the run needs failed (a case could not be recorded): start no other case."""
        self.failure = self.failure or reason
        self.cancel.set()


_runs: dict[str, _Run] = {}
_runs_lock = threading.Lock()


def start_run(source: SessionsService | ClientFactory, *, env_name: str, who: Identity, suite: Suite,
              model_json: str | None = None, model_pict: str | None = None,
              concurrency: int = DEFAULT_CONCURRENCY, headers: Mapping[str, str] | None = None,
              store: RunWriter | None = None, origin: qa_store.Origin | None = None) -> str:
    """Record a run and start it; returns the run id at once (the work goes on in daemon
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
    """Start no new case; cases under way (those whose request entry is written: at most one per
    connection beyond those sent) finish and are kept. A run of this process stops at once; another
    process's run (in ``store``, or ``db_path``, default ``$OPS_DB_PATH``) within ``POLL_S``."""
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
    """Start the sending, relay a cancel asked through the database, beat, and record the ending."""
    try:
        threading.Thread(target=_send, args=(run,), name=f"qa-run:{run.run_id}:send", daemon=True).start()
        next_beat = time.monotonic() + HEARTBEAT_S
        while not run.sent.wait(POLL_S):
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


def _send(run: _Run) -> None:
    """Every case, ``concurrency`` in flight; a failure of the sending itself fails the run."""
    try:
        pipeline.send_cases(run.client, run.run_id, run, run.store, run.concurrency)
    except Exception as exc:  # noqa: BLE001 - the run must end as failed, with the reason saved
        run.failed(f"{type(exc).__name__}: {exc}")
    finally:
        close_thread_connections()
        run.sent.set()
