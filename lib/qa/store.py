"""Saved QA runs: the runs and every case result, in the call log's SQLite database.

Why it is built this way:
- Runs live beside the log (tables ``qa_runs`` and ``qa_cases``), so a run, its calls in the log
  and the sessions it made are one backup and one set of joins.
- The runner records each case in one transaction (case row + the run's counters + heartbeat):
  progress is an O(1) read that any page, tab or process can poll while the run goes on.
- Summaries, failure rates and comparisons are SQL over the stored cases (``json_each`` over the
  value labels), so a big run is never loaded into memory to be summarised.
- A worker lives inside one process. Each run records its owner (host, pid, a per-process token)
  and a heartbeat; ``recover_interrupted`` marks ``running`` runs whose owner is gone (pid dead,
  our own pid but an earlier process, or heartbeat stale) as ``interrupted``, and leaves alone the
  live runs of other processes sharing the database.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from lib.common import jsonutil
from lib.access import masking
from lib.audit.queries import csv_escape
from lib.calllog.log import CallLog, default_db_path, redact
from lib.storage.db import connect, ensure_schema, immediate, parse_utc, utc_text
from lib.qa.suite import expected_text
from lib.qa.values import Marker, Value, parse_label

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

HEARTBEAT_STALE_S = 30.0
PROCESS_TOKEN = uuid.uuid4().hex  # tells this process from an earlier one that had the same pid

Clock = Callable[[], datetime]

_CASE_COLUMNS = (
    "idx", "case_key", "labels", "negative_path", "expected_paths", "result", "surprise", "http_status",
    "session_id", "paths", "problems", "error", "latency_ms", "attempt_id", "entry_seq", "payload", "finished_at",
)
_INSERT_CASE = "INSERT INTO qa_cases (run_id, {}) VALUES (:run_id, {})".format(
    ", ".join(_CASE_COLUMNS),
    ", ".join("COALESCE(:http_status, (SELECT http_status FROM entries WHERE seq = :entry_seq))"
              if c == "http_status" else f":{c}" for c in _CASE_COLUMNS),
)
_RUN_LIST_COLUMNS = (
    "run_id", "created_at", "operator", "environment", "seed", "strength", "concurrency", "total", "done",
    "surprises", "status", "finished_at",
)
_CSV_COLUMNS = ("index", "result", "surprise", "expected", "http_status", "session_id", "paths", "reasons",
                "latency_ms", "negative_path", "attempt_id")


def _create_schema(db: Database) -> None:
    """Idempotent DDL."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS qa_runs (
            run_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, operator TEXT NOT NULL, environment TEXT NOT NULL,
            seed INTEGER, strength TEXT, concurrency INTEGER NOT NULL, total INTEGER NOT NULL,
            model_json TEXT, model_pict TEXT, headers TEXT NOT NULL, status TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, surprises INTEGER NOT NULL DEFAULT 0,
            cancel_requested INTEGER NOT NULL DEFAULT 0, finished_at TEXT, error TEXT,
            owner_host TEXT NOT NULL, owner_pid INTEGER NOT NULL, owner_token TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS qa_runs_created ON qa_runs (created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS qa_runs_status ON qa_runs (status)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS qa_cases (
            run_id TEXT NOT NULL REFERENCES qa_runs (run_id), idx INTEGER NOT NULL, case_key TEXT NOT NULL,
            labels TEXT NOT NULL, negative_path TEXT, expected_paths TEXT NOT NULL, result TEXT NOT NULL,
            surprise INTEGER NOT NULL, http_status INTEGER, session_id TEXT, paths TEXT NOT NULL,
            problems TEXT NOT NULL, error TEXT, latency_ms REAL, attempt_id TEXT, entry_seq INTEGER,
            payload TEXT NOT NULL, finished_at TEXT NOT NULL, PRIMARY KEY (run_id, idx))"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS qa_cases_key ON qa_cases (run_id, case_key, idx)")
    db.execute("CREATE INDEX IF NOT EXISTS qa_cases_surprise ON qa_cases (run_id, surprise, idx)")


def case_key(labels: Mapping[str, str]) -> str:
    """A stable key of a case's value labels, so the same case matches across runs whatever its index."""
    canonical = json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


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
    def paths(self) -> list[str]:
        return sorted({p["parameter"] for p in self.problems})


@dataclass(frozen=True)
class Progress:
    """What the page's polling fragment shows. ``eta_s`` is None until a rate is known."""

    done: int
    total: int
    surprises: int
    rate_per_s: float | None
    eta_s: float | None
    status: str
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


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
                 clock: Clock = lambda: datetime.now(timezone.utc)) -> None:
        self.db_path = Path(db_path or default_db_path()).resolve()
        self._clock = clock
        CallLog(self.db_path)  # the log's tables: a case's HTTP status may be read from its entry
        ensure_schema(self.db_path, "qa", _create_schema)

    def _db(self) -> Database:
        return connect(self.db_path)

    def _now(self) -> str:
        return utc_text(self._clock())

    # --- writing (the runner) ---------------------------------------------------------------
    def create_run(self, *, run_id: str, operator: str, environment: str, total: int, concurrency: int,
                   seed: int | None, strength: int | str | None, model_json: str | None = None,
                   model_pict: str | None = None, headers: Mapping[str, str] | None = None) -> str:
        """Record a new ``running`` run owned by this process. Headers are stored redacted."""
        now = self._now()
        with immediate(self._db()) as db:
            db.conn.execute(
                """INSERT INTO qa_runs (run_id, created_at, operator, environment, seed, strength, concurrency,
                    total, model_json, model_pict, headers, status, owner_host, owner_pid, owner_token, heartbeat_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (run_id, now, operator, environment, seed, None if strength is None else str(strength), concurrency,
                 total, model_json, model_pict, json.dumps(redact(dict(headers or {}))), RUNNING,
                 socket.gethostname(), os.getpid(), PROCESS_TOKEN, now),
            )
        return run_id

    def record_case(self, run_id: str, result: CaseResult) -> None:
        """One case and the run's counters and heartbeat, in one transaction.

        An accepted case's HTTP status is read from the call-log entry of its answer (``entry_seq``):
        a created session does not carry it, and the real API may say 200 where the sandbox says 201.
        """
        now = self._now()
        values = {
            "run_id": run_id, "idx": result.index, "case_key": case_key(result.labels),
            "labels": json.dumps(result.labels, ensure_ascii=False), "negative_path": result.negative_path,
            "expected_paths": json.dumps(list(result.expected_paths)), "result": result.result,
            "surprise": int(result.surprise), "http_status": result.http_status, "session_id": result.session_id,
            "paths": json.dumps(result.paths), "problems": json.dumps(list(result.problems)), "error": result.error,
            "latency_ms": result.latency_ms, "attempt_id": result.attempt_id, "entry_seq": result.entry_seq,
            "payload": _payload_json(result.payload), "finished_at": now,
        }
        with immediate(self._db()) as db:
            db.conn.execute(_INSERT_CASE, values)
            db.conn.execute(
                "UPDATE qa_runs SET done = done + 1, surprises = surprises + ?, heartbeat_at = ? WHERE run_id = ?",
                (int(result.surprise), now, run_id),
            )

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

    # --- reading (the page) -------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with every column (model texts included); headers decoded."""
        cur = self._db().conn.execute("SELECT * FROM qa_runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            return None
        run = dict(zip((d[0] for d in cur.description), row))
        run["headers"] = json.loads(run["headers"])
        return run

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, without the model texts."""
        rows = self._db().conn.execute(
            f"SELECT {', '.join(_RUN_LIST_COLUMNS)} FROM qa_runs ORDER BY created_at DESC, run_id LIMIT ?", (limit,)
        )
        return [dict(zip(_RUN_LIST_COLUMNS, row)) for row in rows]

    def progress(self, run_id: str) -> Progress:
        """done/total, surprises, the rate so far and the time left at that rate."""
        row = self._db().conn.execute(
            "SELECT done, total, surprises, status, cancel_requested, created_at, finished_at, error "
            "FROM qa_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no QA run {run_id!r}")
        done, total, surprises, status, cancel_requested, created_at, finished_at, error = row
        end = parse_utc(finished_at) if finished_at else self._clock()
        elapsed = max((end - parse_utc(created_at)).total_seconds(), 0.0)
        rate = done / elapsed if done and elapsed > 0 else None
        if status != RUNNING:
            return Progress(done, total, surprises, rate, 0.0, status, elapsed, error)
        eta = (total - done) / rate if rate else None
        return Progress(done, total, surprises, rate, eta, CANCELLING if cancel_requested else status, elapsed, error)

    def cases(self, run_id: str, *, only_surprises: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored cases in index order, JSON columns decoded."""
        where = "run_id = ?" + (" AND surprise = 1" if only_surprises else "")
        sql = f"SELECT {', '.join(_CASE_COLUMNS)} FROM qa_cases WHERE {where} ORDER BY idx LIMIT ?"
        return [self._case(row) for row in self._db().conn.execute(sql, (run_id, -1 if limit is None else limit))]

    @staticmethod
    def _case(row: Sequence[Any]) -> dict[str, Any]:
        case = dict(zip(_CASE_COLUMNS, row))
        for name in ("labels", "expected_paths", "paths", "problems"):
            case[name] = json.loads(case[name])
        case["payload"] = jsonutil.loads(case["payload"])
        case["surprise"] = bool(case["surprise"])
        case["expected"] = expected_text(case["expected_paths"])
        return case

    def summary(self, run_id: str) -> dict[str, Any]:
        """Counts by result (every result class present, zeros included) and latency figures."""
        conn = self._db().conn
        counts = dict.fromkeys(RESULTS, 0)
        counts.update(conn.execute("SELECT result, COUNT(*) FROM qa_cases WHERE run_id = ? GROUP BY result", (run_id,)))
        cases, surprises, mean_ms, max_ms = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(surprise), 0), AVG(latency_ms), MAX(latency_ms) FROM qa_cases WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        return {"cases": cases, "surprises": surprises, "counts": counts,
                "mean_latency_ms": mean_ms, "max_latency_ms": max_ms}

    def failure_rates(self, run_id: str, *, min_cases: int = 1) -> list[dict[str, Any]]:
        """For each (dimension path, value label): cases, surprises, rate; worst first, so the value
        behind a pattern of failures heads the list."""
        rows = self._db().conn.execute(
            """SELECT j.key, j.value, COUNT(*) AS n, SUM(c.surprise) AS s
            FROM qa_cases AS c, json_each(c.labels) AS j WHERE c.run_id = ?
            GROUP BY j.key, j.value HAVING n >= ?
            ORDER BY CAST(s AS REAL) / n DESC, s DESC, j.key, j.value""",
            (run_id, min_cases),
        )
        return [{"path": path, "label": label, "cases": n, "surprises": s, "rate": s / n} for path, label, n, s in rows]

    def compare(self, run_a: str, run_b: str) -> list[dict[str, Any]]:
        """Cases whose outcome (result, HTTP status or refused paths) differs between two runs, and
        cases found in one run only, in run A's order. Cases match by their value labels
        (``case_key``), not by index; a key that repeats within a run is paired in index order."""
        numbered = ("SELECT idx, case_key, labels, result, http_status, paths, "
                    "ROW_NUMBER() OVER (PARTITION BY case_key ORDER BY idx) AS n FROM qa_cases WHERE run_id = ?")
        sql = f"""WITH a AS ({numbered}), b AS ({numbered})
            SELECT * FROM (SELECT CASE WHEN b.idx IS NULL THEN 'only_in_a' ELSE 'differs' END AS change, a.labels,
                a.idx AS a_index, a.result, a.http_status, a.paths, b.idx AS b_index, b.result, b.http_status, b.paths
            FROM a LEFT JOIN b USING (case_key, n)
            WHERE b.idx IS NULL OR a.result != b.result OR a.http_status IS NOT b.http_status OR a.paths != b.paths
            UNION ALL
            SELECT 'only_in_b', b.labels, NULL, NULL, NULL, NULL, b.idx, b.result, b.http_status, b.paths
            FROM b LEFT JOIN a USING (case_key, n) WHERE a.idx IS NULL)
            ORDER BY a_index IS NULL, a_index, b_index"""
        sides = ("index", "result", "http_status", "paths")
        return [
            {"change": row[0], "labels": json.loads(row[1]),
             **{f"a_{k}": _paths(k, v) for k, v in zip(sides, row[2:6])},
             **{f"b_{k}": _paths(k, v) for k, v in zip(sides, row[6:10])}}
            for row in self._db().conn.execute(sql, (run_a, run_b))
        ]

    # --- export -------------------------------------------------------------------------------
    def export_json(self, run_id: str, *, mask: bool = False) -> bytes:
        """The run (model included), its summary and every case, as UTF-8 JSON; ``mask`` hides the
        personal fields of what was sent (qa sees customer data masked, exports included)."""
        run = self.get_run(run_id)
        if run is None:
            raise KeyError(f"no QA run {run_id!r}")
        document = {"run": run, "summary": self.summary(run_id), "cases": masked_cases(self.cases(run_id), mask)}
        return jsonutil.dumps(document, pretty=True).encode("utf-8")

    def export_csv(self, run_id: str, *, mask: bool = False) -> bytes:
        """One row per case with a column per dimension; every cell escaped against formulas;
        ``mask`` hides personal values as :meth:`export_json` does."""
        conn = self._db().conn
        dimensions = [key for (key,) in conn.execute(
            "SELECT DISTINCT j.key FROM qa_cases AS c, json_each(c.labels) AS j WHERE c.run_id = ? ORDER BY j.key",
            (run_id,),
        )]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([csv_escape(h) for h in (*_CSV_COLUMNS, *dimensions)])
        for case in masked_cases(self.cases(run_id), mask):
            reasons = "; ".join(p["reason"] for p in case["problems"]) or case["error"] or ""
            cells = (case["idx"], case["result"], "yes" if case["surprise"] else "no", case["expected"], case["http_status"],
                     case["session_id"], ", ".join(case["paths"]), reasons, case["latency_ms"],
                     case["negative_path"], case["attempt_id"], *(case["labels"].get(d) for d in dimensions))
            writer.writerow([csv_escape("" if c is None else str(c)) for c in cells])
        return out.getvalue().encode("utf-8")


def masked_cases(cases: list[dict[str, Any]], mask: bool) -> list[dict[str, Any]]:
    """Cases with the personal fields of their payload and value labels masked (when ``mask``)."""
    if not mask:
        return cases
    return [{**case, "payload": masking.mask_params(case["payload"]),
             "labels": {path: _masked_label(path, label) for path, label in case["labels"].items()}}
            for case in cases]


def _masked_label(path: str, label: str) -> str:
    """A value label with its value masked when the field is personal (markers such as
    ``<not sent>`` say nothing personal and stay)."""
    value = parse_label(label)
    if path not in masking.PERSONAL_PATHS or isinstance(value.value, Marker):
        return label
    return Value(masking.mask_value(path, value.value), value.negative).label


def _paths(column: str, value: Any) -> Any:
    return json.loads(value) if column == "paths" and value is not None else value


def recover_interrupted(db_path: str | Path | None = None) -> list[str]:
    """Start-up hook: mark runs whose worker process is gone as ``interrupted``."""
    return RunStore(db_path).recover_interrupted()
