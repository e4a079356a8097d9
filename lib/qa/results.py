"""Saved QA runs read back as typed values: what the page shows and the exports write.

The read side of :mod:`lib.qa.store` (which the runner writes), kept apart so each stays small.
Summaries, failure rates and comparisons are SQL over the stored cases (``json_each`` over the
value labels), so a big run is never loaded into memory to be summarised. Every query answers
frozen dataclasses, never rows: a column renamed in the database breaks here, in one place.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lib.access import masking
from lib.common import jsonutil
from lib.common.timefmt import parse_utc
from lib.qa.store import CANCELLING, CASE_COLUMNS, FINAL_STATUSES, RESULTS, RUNNING, CaseResult, RunStore
from lib.qa.suite import Case, expected_text
from lib.qa.values import Marker, Value, parse_label
from lib.storage.db import connect

SURPRISE = "⚠ surprise"


@dataclass(frozen=True)
class RunInfo:
    """One saved run as the lists and the run's heading show it (its model texts: :meth:`RunReader.model_json`)."""

    run_id: str
    created_at: datetime
    operator: str
    environment: str
    seed: int | None
    strength: str | None
    concurrency: int
    total: int
    done: int
    surprises: int
    status: str
    finished_at: datetime | None
    origin_run: str | None = None  # the saved run this one reran
    origin_scope: str | None = None  # which of its cases: all, or surprises

    @property
    def label(self) -> str:
        """How a saved run reads in a picker: ``id · environment · strength · seed · who``."""
        return f"{self.run_id} · {self.environment} · strength {self.strength} · seed {self.seed} · {self.operator}"

    @property
    def origin_text(self) -> str:
        """``rerun of <run> (surprises)``, or nothing for a run of a new suite."""
        return f"rerun of {self.origin_run} ({self.origin_scope})" if self.origin_run else ""


_RUN_COLUMNS = tuple(f.name for f in dataclasses.fields(RunInfo))


@dataclass(frozen=True)
class RunProgress:
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

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 1.0

    @property
    def text(self) -> str:
        """``42 / 90 cases · 3 surprise(s) · 12 s left · running``."""
        left = "" if self.finished or self.eta_s is None else f" · {self.eta_s:,.0f} s left"
        return f"{self.done:,} / {self.total:,} cases · {self.surprises:,} surprise(s){left} · {self.status}"


@dataclass(frozen=True)
class CaseRow(CaseResult):
    """A recorded case read back: what the runner recorded, its key across runs, and when it finished."""

    case_key: str = ""  # as stored: of the labels as sent, also when the labels are masked
    finished_at: str = ""

    @property
    def expected(self) -> str:
        return expected_text(self.expected_paths)

    @property
    def answer(self) -> str:
        """The session id, else each refused path with its reason, else the error."""
        if self.session_id:
            return self.session_id
        problems = "; ".join(f"{p.get('parameter')}: {p.get('reason')}" for p in self.problems)
        return problems or str(self.error or "")

    @property
    def reasons(self) -> str:
        """The refusal's reasons, else the error (the CSV's ``reasons`` column)."""
        return "; ".join(p["reason"] for p in self.problems) or self.error or ""

    def masked(self, mask: bool) -> CaseRow:
        """The case with the personal fields of its payload and value labels masked (when ``mask``)."""
        if not mask:
            return self
        return dataclasses.replace(self, payload=masking.mask_params(self.payload),
                                   labels={path: _masked_label(path, label) for path, label in self.labels.items()})

    def as_case(self) -> Case:
        """The case to send again (a rerun): its values, payload and expected paths as stored (never a masked row)."""
        return Case(index=self.index, values={path: parse_label(label) for path, label in self.labels.items()},
                    negative_path=self.negative_path, payload=self.payload, expected_paths=self.expected_paths)

    def document(self) -> dict[str, Any]:
        """The case as the JSON export writes it: every stored column, then the expected outcome."""
        return {**self.columns(self.finished_at), "case_key": self.case_key, "expected": self.expected}


def _masked_label(path: str, label: str) -> str:
    """A value label with its value masked when the field is personal (markers such as
    ``<not sent>`` say nothing personal and stay)."""
    value = parse_label(label)
    if path not in masking.PERSONAL_PATHS or isinstance(value.value, Marker):
        return label
    return Value(masking.mask_value(path, value.value), value.negative).label


@dataclass(frozen=True)
class RunSummary:
    """Counts by result (every result class, zeros included) and latency figures."""

    cases: int
    surprises: int
    counts: dict[str, int]
    mean_latency_ms: float | None
    max_latency_ms: float | None

    @property
    def seen(self) -> dict[str, int]:
        """The counts that are not zero (every class when nothing ran yet is noise)."""
        return {result: n for result, n in self.counts.items() if n}


@dataclass(frozen=True)
class ValueRate:
    """How often cases with one value of one field met a surprise."""

    path: str
    label: str
    cases: int
    surprises: int
    rate: float


@dataclass(frozen=True)
class Outcome:
    """One side of a comparison: the case's index in its run and what came back."""

    index: int
    result: str
    http_status: int | None
    paths: tuple[str, ...]

    @property
    def text(self) -> str:
        """``as_expected · HTTP 400 · transaction.amount``."""
        paths = ", ".join(self.paths)
        return f"{self.result} · HTTP {self.http_status}" + (f" · {paths}" if paths else "")


@dataclass(frozen=True)
class CaseDifference:
    """A case of a comparison: its values and its outcome in run A and in run B (None: not in that run)."""

    labels: dict[str, str]
    a: Outcome | None
    b: Outcome | None

    @property
    def a_text(self) -> str:
        return self.a.text if self.a else "—"

    @property
    def b_text(self) -> str:
        return self.b.text if self.b else "—"


@dataclass(frozen=True)
class Comparison:
    """Two runs' cases matched by their values, in three groups apart (each in run A's order, then
    B's): only in A, only in B, in both with a different outcome; and how many are in both alike."""

    only_in_a: list[CaseDifference]
    only_in_b: list[CaseDifference]
    differs: list[CaseDifference]
    same: int


def _outcome(values: Sequence[Any]) -> Outcome | None:
    index, result, http_status, paths = values
    return None if index is None else Outcome(index, result, http_status, tuple(json.loads(paths)))


# Cases pair by (case_key, n): the n-th case of a key in A with the n-th of that key in B, so a key
# that repeats within a run still pairs one to one. A pair is "same" when its result, HTTP status
# and refused paths all agree.
_PAIRS_SQL = """WITH a AS ({numbered}), b AS ({numbered}), pairs AS (
    SELECT CASE WHEN b.idx IS NULL THEN 'only_in_a'
            WHEN a.result = b.result AND a.http_status IS b.http_status AND a.paths = b.paths THEN 'same'
            ELSE 'differs' END AS change, a.labels,
        a.idx AS a_index, a.result, a.http_status, a.paths, b.idx AS b_index, b.result, b.http_status, b.paths
    FROM a LEFT JOIN b USING (case_key, n)
    UNION ALL
    SELECT 'only_in_b', b.labels, NULL, NULL, NULL, NULL, b.idx, b.result, b.http_status, b.paths
    FROM b LEFT JOIN a USING (case_key, n) WHERE a.idx IS NULL)""".format(
    numbered="SELECT idx, case_key, labels, result, http_status, paths, "
             "ROW_NUMBER() OVER (PARTITION BY case_key ORDER BY idx) AS n FROM qa_cases WHERE run_id = ?")
_DIFFERENCES_SQL = f"{_PAIRS_SQL} SELECT * FROM pairs WHERE change != 'same' ORDER BY a_index IS NULL, a_index, b_index"
_SAME_SQL = f"{_PAIRS_SQL} SELECT COUNT(*) FROM pairs WHERE change = 'same'"


class RunReader:
    """Queries over the runs a :class:`RunStore` holds (its database and clock)."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    def _query(self, sql: str, *params: Any) -> Any:
        return connect(self._store.db_path).conn.execute(sql, params)

    def run(self, run_id: str) -> RunInfo | None:
        row = self._query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM qa_runs WHERE run_id = ?", run_id).fetchone()
        return None if row is None else _run_info(row)

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """Newest first."""
        rows = self._query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM qa_runs ORDER BY created_at DESC, run_id LIMIT ?",
                           limit)
        return [_run_info(row) for row in rows]

    def model_json(self, run_id: str) -> str | None:
        """The model a run was generated from, as :meth:`lib.qa.model.Model.to_json` wrote it."""
        row = self._query("SELECT model_json FROM qa_runs WHERE run_id = ?", run_id).fetchone()
        return row[0] if row else None

    def record(self, run_id: str) -> dict[str, Any] | None:
        """Every column of a run (model texts, owner, redacted headers decoded): the JSON export's ``run``."""
        cur = self._query("SELECT * FROM qa_runs WHERE run_id = ?", run_id)
        row = cur.fetchone()
        if row is None:
            return None
        run = dict(zip((d[0] for d in cur.description), row, strict=True))
        run["headers"] = json.loads(run["headers"])
        return run

    def progress(self, run_id: str) -> RunProgress:
        """done/total, surprises, the rate so far and the time left at that rate."""
        row = self._query(
            "SELECT done, total, surprises, status, cancel_requested, created_at, finished_at, error "
            "FROM qa_runs WHERE run_id = ?", run_id).fetchone()
        if row is None:
            raise KeyError(f"no QA run {run_id!r}")
        done, total, surprises, status, cancel_requested, created_at, finished_at, error = row
        end = parse_utc(finished_at) if finished_at else self._store.now()
        elapsed = max((end - parse_utc(created_at)).total_seconds(), 0.0)
        rate = done / elapsed if done and elapsed > 0 else None
        if status != RUNNING:
            return RunProgress(done, total, surprises, rate, 0.0, status, elapsed, error)
        eta = (total - done) / rate if rate else None
        return RunProgress(done, total, surprises, rate, eta, CANCELLING if cancel_requested else status, elapsed, error)

    def cases(self, run_id: str, *, only_surprises: bool = False, limit: int | None = None) -> list[CaseRow]:
        """Stored cases in index order."""
        where = "run_id = ?" + (" AND surprise = 1" if only_surprises else "")
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM qa_cases WHERE {where} ORDER BY idx LIMIT ?"
        return [_case(row) for row in self._query(sql, run_id, -1 if limit is None else limit)]

    def dimensions(self, run_id: str) -> list[str]:
        """The fields the run's cases set, sorted."""
        return [key for (key,) in self._query(
            "SELECT DISTINCT j.key FROM qa_cases AS c, json_each(c.labels) AS j WHERE c.run_id = ? ORDER BY j.key",
            run_id)]

    def summary(self, run_id: str) -> RunSummary:
        counts = dict.fromkeys(RESULTS, 0)
        counts.update(self._query("SELECT result, COUNT(*) FROM qa_cases WHERE run_id = ? GROUP BY result", run_id))
        cases, surprises, mean_ms, max_ms = self._query(
            "SELECT COUNT(*), COALESCE(SUM(surprise), 0), AVG(latency_ms), MAX(latency_ms) FROM qa_cases WHERE run_id = ?",
            run_id).fetchone()
        return RunSummary(cases, surprises, counts, mean_ms, max_ms)

    def failure_rates(self, run_id: str) -> list[ValueRate]:
        """For each (dimension path, value label): cases, surprises, rate; worst first, so the value
        behind a pattern of failures heads the list."""
        rows = self._query(
            """SELECT j.key, j.value, COUNT(*) AS n, SUM(c.surprise) AS s
            FROM qa_cases AS c, json_each(c.labels) AS j WHERE c.run_id = ?
            GROUP BY j.key, j.value
            ORDER BY CAST(s AS REAL) / n DESC, s DESC, j.key, j.value""", run_id)
        return [ValueRate(path, label, n, s, s / n) for path, label, n, s in rows]

    def compare(self, run_a: str, run_b: str) -> Comparison:
        """Two runs' cases matched by their value labels (``case_key``), not by index; a key that
        repeats within a run is paired in index order. A case in one run only is never counted
        as differing: the outcome (result, HTTP status, refused paths) is compared only within a pair."""
        groups: dict[str, list[CaseDifference]] = {"only_in_a": [], "only_in_b": [], "differs": []}
        for change, labels, *sides in self._query(_DIFFERENCES_SQL, run_a, run_b):
            groups[change].append(CaseDifference(json.loads(labels), _outcome(sides[:4]), _outcome(sides[4:])))
        (same,) = self._query(_SAME_SQL, run_a, run_b).fetchone()
        return Comparison(**groups, same=same)

    def case(self, run_id: str, index: int) -> CaseRow | None:
        """One stored case (None when the run has no case ``index``)."""
        row = self._query(f"SELECT {', '.join(CASE_COLUMNS)} FROM qa_cases WHERE run_id = ? AND idx = ?",
                          run_id, index).fetchone()
        return None if row is None else _case(row)


def _run_info(row: Sequence[Any]) -> RunInfo:
    run = dict(zip(_RUN_COLUMNS, row, strict=True))
    run["created_at"] = parse_utc(run["created_at"])
    run["finished_at"] = run["finished_at"] and parse_utc(run["finished_at"])
    return RunInfo(**run)


_DERIVED = ("surprise", "paths")  # stored for SQL, recomputed from the problems and the result when read
_FROM_TEXT: dict[str, Callable[[Any], Any]] = {
    "labels": json.loads, "expected_paths": lambda text: tuple(json.loads(text)),
    "problems": lambda text: tuple(json.loads(text)), "payload": jsonutil.loads,
}


def _case(row: Sequence[Any]) -> CaseRow:
    stored = zip(CASE_COLUMNS, row, strict=True)
    return CaseRow(**{"index" if name == "idx" else name: _FROM_TEXT.get(name, lambda value: value)(value)
                      for name, value in stored if name not in _DERIVED})
