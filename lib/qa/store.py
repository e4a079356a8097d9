"""Saved QA runs: the runs and every case result, in the call log's SQLite database (the write side;
:mod:`lib.qa.results` reads them back).

Why it is built this way:
- Runs live beside the log (tables ``qa_runs`` and ``qa_cases``), so a run, its calls in the log
  and the sessions it made are one backup and one set of joins.
- The runner records each case in one write (case row + the run's counters + heartbeat):
  progress is an O(1) read that any page, tab or process can poll while the run goes on. That
  write goes in the transaction of the log entry of the case's answer (``case_write``), so a
  case row and the evidence of its call are committed together or not at all; the runner awaits
  every case's write before the run ends, so no case row is written after the run's end.
- A worker lives inside one process. Each run records its owner (host, pid, a per-process token)
  and a heartbeat; ``recover_interrupted`` marks ``running`` runs whose owner is gone (pid dead,
  our own pid but an earlier process, or heartbeat stale) as ``interrupted``, and leaves alone the
  live runs of other processes sharing the database.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from lib.calllog.log import CallLog
from lib.calllog.redaction import redact
from lib.common import jsonutil
from lib.common.timefmt import utc_now, utc_text
from lib.settings import ops_db_path
from lib.storage.db import connect, immediate

RUNNING, COMPLETED, CANCELLED, INTERRUPTED, FAILED = "running", "completed", "cancelled", "interrupted", "failed"
FINAL_STATUSES = (COMPLETED, CANCELLED, INTERRUPTED, FAILED)
CANCELLING = "cancelling"  # what progress reports for a running run asked to stop

AS_EXPECTED = "as_expected"
UNEXPECTED_ACCEPT = "unexpected_accept"
UNEXPECTED_REFUSAL = "unexpected_refusal"
OTHER_PATHS = "other_paths"
SERVER_ERROR = "server_error"
NETWORK_ERROR = "network_error"
UNKNOWN_OUTCOME = "unknown_outcome"
HTTP_ERROR = "http_error"  # any other non-2xx answer (401, 403, 404, 409, other 4xx)
CLIENT_ERROR = "client_error"  # the request could not be made at all (e.g. a body JSON cannot carry)
RESULTS = (AS_EXPECTED, UNEXPECTED_ACCEPT, UNEXPECTED_REFUSAL, OTHER_PATHS, SERVER_ERROR, NETWORK_ERROR,
           UNKNOWN_OUTCOME, HTTP_ERROR, CLIENT_ERROR)

# Which cases of a saved run a rerun takes (``qa_runs.origin_scope``).
RERUN_ALL, RERUN_SURPRISES = "all", "surprises"
RERUN_SCOPES = (RERUN_ALL, RERUN_SURPRISES)

HEARTBEAT_STALE_S = 30.0
PROCESS_TOKEN = uuid.uuid4().hex  # tells this process from an earlier one that had the same pid

Clock = Callable[[], datetime]

CASE_COLUMNS = (
    "idx", "case_key", "labels", "negative_path", "expected_paths", "result", "surprise", "http_status",
    "session_id", "paths", "problems", "error", "latency_ms", "attempt_id", "entry_seq", "payload", "finished_at",
)
_INSERT_CASE = "INSERT INTO qa_cases (run_id, {}) VALUES (:run_id, {})".format(
    ", ".join(CASE_COLUMNS),
    ", ".join("COALESCE(:http_status, (SELECT http_status FROM entries WHERE seq = :entry_seq))"
              if c == "http_status" else f":{c}" for c in CASE_COLUMNS),
)


def case_key(labels: Mapping[str, str]) -> str:
    """A stable key of a case's value labels, so the same case matches across runs whatever its index."""
    canonical = json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Origin:
    """The saved run a rerun came from, and which of its cases it took (one of ``RERUN_SCOPES``)."""

    run_id: str
    scope: str

    def __post_init__(self) -> None:
        if self.scope not in RERUN_SCOPES:
            raise ValueError(f"a rerun takes {' or '.join(RERUN_SCOPES)} of a run's cases, not {self.scope!r}")


@dataclass(frozen=True)
class CaseResult:
    """What one case did. ``paths``/``problems`` are the refusal's; ``error`` explains anything else."""

    index: int
    labels: dict[str, str]
    negative_path: str | None
    expected_paths: tuple[str, ...]
    result: str
    payload: Any
    http_status: int | None = None
    session_id: str | None = None
    problems: tuple[dict[str, str], ...] = ()
    error: str | None = None
    latency_ms: float | None = None
    attempt_id: str | None = None
    entry_seq: int | None = None

    @property
    def surprise(self) -> bool:
        return self.result != AS_EXPECTED

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(sorted({p["parameter"] for p in self.problems}))

    def columns(self, finished_at: str) -> dict[str, Any]:
        """The case as stored, one entry per name of ``CASE_COLUMNS`` (values, not yet JSON text)."""
        return {
            "idx": self.index, "case_key": case_key(self.labels), "labels": self.labels,
            "negative_path": self.negative_path, "expected_paths": self.expected_paths, "result": self.result,
            "surprise": self.surprise, "http_status": self.http_status, "session_id": self.session_id,
            "paths": self.paths, "problems": self.problems, "error": self.error, "latency_ms": self.latency_ms,
            "attempt_id": self.attempt_id, "entry_seq": self.entry_seq, "payload": self.payload,
            "finished_at": finished_at,
        }


# How the columns that hold more than a number or a string are stored (labels keep their letters as typed).
_AS_TEXT: dict[str, Callable[[Any], Any]] = {
    "labels": lambda labels: json.dumps(labels, ensure_ascii=False),
    "expected_paths": lambda paths: json.dumps(list(paths)), "surprise": int,
    "paths": lambda paths: json.dumps(list(paths)), "problems": lambda problems: json.dumps(list(problems)),
    "payload": lambda payload: _payload_json(payload),
}


def _payload_json(payload: Any) -> str:
    """The payload as sent; one no JSON number can carry (which the client refuses too) as text."""
    try:
        return jsonutil.dumps(payload)
    except (TypeError, ValueError):
        return json.dumps(payload, default=str, ensure_ascii=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


class RunStore:
    """QA runs in one SQLite file (default: the call log's). Cheap to construct; thread-safe."""

    def __init__(self, db_path: str | Path | None = None, *,
                 clock: Clock = utc_now) -> None:
        self.db_path = Path(db_path or ops_db_path()).resolve()
        self._clock = clock
        # Runs the database's migrations (lib.storage.ops_schema): qa_runs, qa_cases, entries; case rows
        # are written in the log's group commits.
        self._log = CallLog(self.db_path)

    def _db(self) -> Database:
        return connect(self.db_path)

    def _now(self) -> str:
        return utc_text(self._clock())

    # --- writing (the runner) ---------------------------------------------------------------
    def create_run(self, *, run_id: str, operator: str, environment: str, total: int, concurrency: int,
                   seed: int | None, strength: int | str | None, model_json: str | None = None,
                   model_pict: str | None = None, headers: Mapping[str, str] | None = None,
                   origin: Origin | None = None) -> str:
        """Record a new ``running`` run owned by this process. Headers are stored redacted."""
        now = self._now()
        with immediate(self._db()) as db:
            db.conn.execute(
                """INSERT INTO qa_runs (run_id, created_at, operator, environment, seed, strength, concurrency,
                    total, model_json, model_pict, headers, status, owner_host, owner_pid, owner_token, heartbeat_at,
                    origin_run, origin_scope)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (run_id, now, operator, environment, seed, None if strength is None else str(strength), concurrency,
                 total, model_json, model_pict, json.dumps(redact(dict(headers or {}))), RUNNING,
                 socket.gethostname(), os.getpid(), PROCESS_TOKEN, now,
                 *((origin.run_id, origin.scope) if origin else (None, None))),
            )
        return run_id

    def record_case(self, run_id: str, result: CaseResult) -> None:
        """One case and the run's counters and heartbeat, in one transaction, committed on return."""
        self._log.together(self.case_write(run_id, result))

    def case_write(self, run_id: str, result: CaseResult) -> Callable[[Database], None]:
        """One case and the run's counters and heartbeat, as a write for a transaction of the log's
        file (the runner commits it with the entry of the case's answer).

        An accepted case's HTTP status is read from the call-log entry of its answer (``entry_seq``):
        a created session does not carry it, and the real API may say 200 where the sandbox says 201.
        """
        now = self._now()
        values = {name: _AS_TEXT.get(name, lambda value: value)(value) for name, value in result.columns(now).items()}
        values["run_id"] = run_id

        def write(db: Database) -> None:
            db.conn.execute(_INSERT_CASE, values)
            db.conn.execute(
                "UPDATE qa_runs SET done = done + 1, surprises = surprises + ?, heartbeat_at = ? WHERE run_id = ?",
                (int(result.surprise), now, run_id),
            )

        return write

    def heartbeat(self, run_id: str) -> None:
        """Say the owner is alive, for runs whose cases are slow to finish (each case beats too)."""
        with immediate(self._db()) as db:
            db.conn.execute("UPDATE qa_runs SET heartbeat_at = ? WHERE run_id = ?", (self._now(), run_id))

    def cancel_requested(self, run_id: str) -> bool:
        row = self._db().conn.execute("SELECT cancel_requested FROM qa_runs WHERE run_id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def request_cancel(self, run_id: str) -> None:
        """Ask the run's owner (whichever process) to start no new case."""
        with immediate(self._db()) as db:
            db.conn.execute("UPDATE qa_runs SET cancel_requested = 1 WHERE run_id = ? AND status = ?", (run_id, RUNNING))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        """End a running run; a run already ended keeps its first ending."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, got {status!r}")
        with immediate(self._db()) as db:
            db.conn.execute(
                "UPDATE qa_runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ? AND status = ?",
                (status, self._now(), error, run_id, RUNNING),
            )

    def recover_interrupted(self, *, stale_after_s: float = HEARTBEAT_STALE_S) -> list[str]:
        """Mark as ``interrupted`` the running runs whose owner is gone; returns their ids.

        Gone: silent for ``stale_after_s`` (owners beat every few seconds; this also covers other
        hosts, reused pids and a coordinator of ours that died), or on this host with a dead pid,
        or with our pid but not our process token (a restart reused the pid). Cheap enough to
        call on every page load as well as at start-up.
        """
        host, stale_before = socket.gethostname(), utc_text(self._clock() - timedelta(seconds=stale_after_s))
        with immediate(self._db()) as db:  # one transaction: no owner can beat between the check and the mark
            rows = db.conn.execute(
                "SELECT run_id, owner_host, owner_pid, owner_token, heartbeat_at FROM qa_runs WHERE status = ?",
                (RUNNING,),
            ).fetchall()
            dead = [
                run_id for run_id, owner_host, pid, token, beat in rows
                if beat < stale_before
                or (owner_host == host and token != PROCESS_TOKEN and (pid == os.getpid() or not _pid_alive(pid)))
            ]
            db.conn.executemany(
                "UPDATE qa_runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
                [(INTERRUPTED, self._now(), "the process running it ended before it finished", r) for r in dead],
            )
        return dead

    def now(self) -> datetime:
        """The store's clock (tests inject one): what a reader measures a running run's time against."""
        return self._clock()


def recover_interrupted(db_path: str | Path | None = None) -> list[str]:
    """Start-up hook: mark runs whose worker process is gone as ``interrupted``."""
    return RunStore(db_path).recover_interrupted()
