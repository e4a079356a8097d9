"""Small tables kept beside the call log so the audit page's questions cost the same on 36M entries
as on 36 thousand: their size follows the number of time buckets, not the number of entries.

Why it is built this way:
- ``record`` runs inside ``CallLog.append``'s transaction, right after the insert, so the tables
  and ``entries`` commit together (a killed process leaves neither) and never disagree. Inside a
  group commit (``deferred``: ``lib.calllog.group_commit``) the counts and histograms of the
  batch's entries are added up first and written once per key at the batch's end, still before
  its commit: the entries of one batch mostly share their bucket and key, so a batch of n costs
  about one entry's upserts instead of n.
- ``open_attempts``: one row per ``api_request`` with no ``api_result`` of its attempt yet (the
  raw anti-join's answer, kept current: the result deletes it). A request killed before its result
  stays open for good: that is the truth ("in flight, or its outcome never recorded").
- ``entry_counts``: entries per time bucket and per value of every filter the page has but the
  ids (kind, environment, operator, endpoint, method, outcome, http_status), at three grains: a
  minute, an hour, a day (``start`` and ``grain`` in minutes since 1970-01-01 UTC, so every bucket
  of a coarser grain is whole buckets of the finer ones and midnight UTC is a boundary of all).
  NULL is stored as '' (text) or 0 (status): a key column must be NOT NULL for the upsert to find
  its row, and no filter value is empty or 0.
- ``call_counts``: the same counts keyed by kind, environment and outcome only (a few rows a
  bucket instead of hundreds), for the views that filter by nothing else: the page's default.
- ``latency_histograms``: finished calls (outcome written, duration known) per hour and per day,
  per kind, environment, endpoint, method, outcome and HTTP status, as counts in log-scale duration buckets: bucket k
  holds (γ^(k-1), γ^k] with γ = (1+α)/(1-α), and its representative 2γ^k/(γ+1) is within α
  (``RELATIVE_ACCURACY``, 1 %) of every duration in it. A nearest-rank percentile lands in the
  bucket holding the exact value (the mapping keeps order), so it is within 1 % of the exact one.
  1 % needs ~180 buckets for a realistic spread, so one row holds them all (``counts``: 64-bit
  counts of buckets ``low``, ``low`` + 1, …, trimmed at both ends): a month of a view is
  ~30 × 45 rows to merge, not ~30 × 45 × 180. 0 ms (and a negative duration, which the client
  never measures) is counted in ``zeros`` and shown as 0. ``operator_latency`` is the same with
  the operator in the key, for views of one operator (ten times the rows: too many to merge for
  every view).
- ``rebuild`` recounts every table from ``entries`` (the migration's backfill, ``python -m
  lib.calllog summaries``); ``check`` compares them with a recount, which tests rely on.
- ``forget_before`` is for archiving, which deletes the entries before a midnight UTC: it drops the
  buckets wholly before it and the open requests archived with them, so a recount still agrees.
"""
from __future__ import annotations

import math
import sqlite3
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import groupby, product
from typing import Any

from lib.calllog.outcome import Outcome

MINUTE, HOUR, DAY = 1, 60, 1440
COUNT_GRAINS = (MINUTE, HOUR, DAY)
LATENCY_GRAINS = (HOUR, DAY)
FINISHED = tuple(o.value for o in Outcome.written())
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
ZERO_BUCKET = -(2**31)  # durations <= 0: below every other bucket

# Key columns of entry_counts after (grain, start), with what an absent value is stored as.
COUNT_KEYS = (("kind", ""), ("environment", ""), ("operator", ""), ("endpoint", ""), ("method", ""),
              ("outcome", ""), ("http_status", 0))
NARROW_KEYS = (("kind", ""), ("environment", ""), ("outcome", ""))
# The method follows from the endpoint and the status mostly from the outcome, so keying by them
# adds few rows and lets every filter but the ids and the operator read the narrow table.
LATENCY_KEYS = (("kind", ""), ("environment", ""), ("endpoint", ""), ("method", ""), ("outcome", ""),
                ("http_status", 0))
# Each latency table and its key: the narrow one for most views, one with the operator for views of one.
LATENCY_TABLES = {"latency_histograms": LATENCY_KEYS, "operator_latency": (*LATENCY_KEYS[:2], ("operator", ""),
                                                                           *LATENCY_KEYS[2:])}
_TYPE = {str: "TEXT", int: "INTEGER"}  # a key column's type, by what its absent value is stored as
OPEN_COLUMNS = ("seq", "attempt_id", "ts", "operator", "environment", "method", "endpoint", "outcome",
                "http_status", "duration_ms")

TABLES = {
    "open_attempts": "(seq INTEGER PRIMARY KEY, attempt_id TEXT, ts TEXT NOT NULL, operator TEXT NOT NULL, "
                     "environment TEXT NOT NULL, method TEXT, endpoint TEXT, outcome TEXT, http_status INTEGER, "
                     "duration_ms REAL)",
    "entry_counts": "(grain INTEGER NOT NULL, start INTEGER NOT NULL, kind TEXT NOT NULL, environment TEXT NOT NULL, "
                    "operator TEXT NOT NULL, endpoint TEXT NOT NULL, method TEXT NOT NULL, outcome TEXT NOT NULL, "
                    "http_status INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (grain, start, kind, environment, "
                    "operator, endpoint, method, outcome, http_status)) WITHOUT ROWID",
    "call_counts": "(grain INTEGER NOT NULL, start INTEGER NOT NULL, kind TEXT NOT NULL, environment TEXT NOT NULL, "
                   "outcome TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (grain, start, kind, environment, outcome)) "
                   "WITHOUT ROWID",
    **{table: "(grain INTEGER NOT NULL, start INTEGER NOT NULL, "
              f"{', '.join(f'{c} {_TYPE[type(empty)]} NOT NULL' for c, empty in keys)}, low INTEGER NOT NULL, zeros INTEGER NOT NULL, "
              f"counts BLOB NOT NULL, PRIMARY KEY (grain, start, {', '.join(c for c, _ in keys)})) WITHOUT ROWID"
       for table, keys in LATENCY_TABLES.items()},
}

_COUNT_COLS = ", ".join(c for c, _ in COUNT_KEYS)
_NARROW_COLS = ", ".join(c for c, _ in NARROW_KEYS)
_UPSERT_COUNT = (f"INSERT INTO entry_counts (grain, start, {_COUNT_COLS}, n) VALUES (?, ?, {', '.join('?' * 7)}, ?) "
                 "ON CONFLICT DO UPDATE SET n = n + excluded.n")
_UPSERT_NARROW = (f"INSERT INTO call_counts (grain, start, {_NARROW_COLS}, n) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT DO UPDATE SET n = n + excluded.n")
# Per latency table: reading one row by its key, and writing it back.
_HISTOGRAM_SQL = {
    table: (f"SELECT low, zeros, counts FROM {table} WHERE grain = ? AND start = ? AND "
            f"{' AND '.join(f'{c} = ?' for c, _ in keys)}",
            f"INSERT OR REPLACE INTO {table} VALUES ({', '.join('?' * (len(keys) + 5))})")
    for table, keys in LATENCY_TABLES.items()}
# A request opens its attempt unless a result of it is already there (as the raw anti-join reads it).
_OPEN = (f"INSERT INTO open_attempts ({', '.join(OPEN_COLUMNS)}) "
         f"SELECT {', '.join(f'?{i}' for i in range(1, len(OPEN_COLUMNS) + 1))} "
         "WHERE ?2 IS NULL OR NOT EXISTS (SELECT 1 FROM entries WHERE attempt_id = ?2 AND kind = 'api_result')")
# An entry's minute (since 1970 UTC) from its stored ts text, in SQL.
MINUTE_SQL = "(CAST(strftime('%s', substr({ts}, 1, 16)) AS INTEGER) / 60)"


def create(conn: sqlite3.Connection) -> None:
    """The tables and the indexes their readers need (migration 0004 and ``call_counts``)."""
    for name, columns in TABLES.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {name} {columns}")
    conn.execute("CREATE INDEX IF NOT EXISTS open_attempts_attempt ON open_attempts (attempt_id)")
    conn.execute("CREATE INDEX IF NOT EXISTS open_attempts_ts ON open_attempts (ts)")


def bucket_key(duration_ms: float) -> int:
    """The log-scale bucket of a duration (monotone: a longer duration never gets a smaller key)."""
    if duration_ms <= 0:
        return ZERO_BUCKET
    return math.ceil(math.log(duration_ms) / _LOG_GAMMA)


def bucket_value(key: int) -> float:
    """The duration a bucket stands for: within ``RELATIVE_ACCURACY`` of every duration in it."""
    return 0.0 if key == ZERO_BUCKET else 2 * _GAMMA**key / (_GAMMA + 1)


def pack(buckets: Iterable[tuple[int, int]], into: tuple[int, int, bytes] = (0, 0, b"")) -> tuple[int, int, bytes]:
    """(low, zeros, counts) of a histogram row with ``buckets`` ((key, n) pairs) added to ``into``."""
    low, zeros, blob = into
    counts = array("q")
    counts.frombytes(blob)
    for key, n in buckets:
        if key == ZERO_BUCKET:
            zeros += n
            continue
        if not counts:
            low = key
            counts.append(0)
        elif key < low:
            counts[0:0] = array("q", bytes(8 * (low - key)))
            low = key
        elif key >= low + len(counts):
            counts.extend(array("q", bytes(8 * (key - low - len(counts) + 1))))
        counts[key - low] += n
    return (low if counts else 0), zeros, counts.tobytes()


def minute_of(ts: str) -> int:
    """Minutes since 1970-01-01 UTC of a stored ts text (its first 16 characters)."""
    return int(datetime.fromisoformat(ts[:16]).replace(tzinfo=UTC).timestamp()) // 60


class Tally:
    """Increments not yet written: counts per table row key, histogram buckets per row key."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[Any, ...]] = Counter()
        self.narrow: Counter[tuple[Any, ...]] = Counter()
        self.latency: defaultdict[tuple[str, tuple[Any, ...]], Counter[int]] = defaultdict(Counter)

    def add(self, entry: Mapping[str, Any]) -> None:
        """Count one entry (its row keys at every grain)."""
        minute = minute_of(entry["ts"])
        key = [entry[c] if entry[c] is not None else empty for c, empty in COUNT_KEYS]
        narrow = [entry[c] if entry[c] is not None else empty for c, empty in NARROW_KEYS]
        for g in COUNT_GRAINS:
            self.counts[(g, minute // g * g, *key)] += 1
            self.narrow[(g, minute // g * g, *narrow)] += 1
        if entry["outcome"] in FINISHED and entry["duration_ms"] is not None:
            bucket = bucket_key(entry["duration_ms"])
            for table, keys in LATENCY_TABLES.items():
                values = [entry[c] if entry[c] is not None else empty for c, empty in keys]
                for g in LATENCY_GRAINS:
                    self.latency[(table, (g, minute // g * g, *values))][bucket] += 1

    def write(self, conn: sqlite3.Connection) -> None:
        """Add everything counted to the tables: one upsert (or histogram row) per key."""
        conn.executemany(_UPSERT_COUNT, [(*key, n) for key, n in self.counts.items()])
        conn.executemany(_UPSERT_NARROW, [(*key, n) for key, n in self.narrow.items()])
        for (table, where_key), buckets in self.latency.items():
            get, put = _HISTOGRAM_SQL[table]
            row = conn.execute(get, where_key).fetchone()
            conn.execute(put, (*where_key, *pack(buckets.items(), row or (0, 0, b""))))


# The open batch of each connection inside a group commit (``deferred``); a connection is one thread's.
_batches: dict[sqlite3.Connection, Tally] = {}


@contextmanager
def deferred(conn: sqlite3.Connection) -> Iterator[None]:
    """Inside a write transaction: ``record`` adds up counts and histograms, written once at the end
    (when the block ends without an exception; on one they are dropped with the transaction)."""
    tally = _batches[conn] = Tally()
    try:
        yield
        tally.write(conn)
    finally:
        del _batches[conn]


def record(conn: sqlite3.Connection, entry: Mapping[str, Any]) -> None:
    """Count one just-inserted entry (inside the append's transaction, once nothing else of the
    append can fail: inside ``deferred`` its counts are kept until the batch ends)."""
    kind, attempt_id = entry["kind"], entry["attempt_id"]
    if kind == "api_request":
        conn.execute(_OPEN, [entry[c] for c in OPEN_COLUMNS])
    elif kind == "api_result" and attempt_id is not None:
        conn.execute("DELETE FROM open_attempts WHERE attempt_id = ?", (attempt_id,))
    batch = _batches.get(conn)
    if batch is not None:
        batch.add(entry)
        return
    alone = Tally()
    alone.add(entry)
    alone.write(conn)


def _fill(conn: sqlite3.Connection, suffix: str = "") -> None:
    """Count every entry into the (empty) tables named with ``suffix``: each grain from the next
    finer one, so ``entries`` is read once per table."""
    conn.create_function("latency_bucket", 1, bucket_key, deterministic=True)
    keys = ", ".join(f"COALESCE({c}, {empty!r})" for c, empty in COUNT_KEYS)
    conn.execute(f"INSERT INTO entry_counts{suffix} SELECT 1, {MINUTE_SQL.format(ts='ts')} AS m, {keys}, COUNT(*) "
                 f"FROM entries GROUP BY m, {', '.join(str(i) for i in range(3, 10))}")
    conn.execute(f"INSERT INTO call_counts{suffix} SELECT grain, start, {_NARROW_COLS}, SUM(n) FROM entry_counts{suffix} "
                 f"WHERE grain = 1 GROUP BY start, {_NARROW_COLS}")
    for table, cols in (("entry_counts", _COUNT_COLS), ("call_counts", _NARROW_COLS)):
        for finer, grain in zip(COUNT_GRAINS, COUNT_GRAINS[1:], strict=False):
            conn.execute(f"INSERT INTO {table}{suffix} SELECT {grain}, start / {grain} * {grain} AS s, {cols}, SUM(n) "
                         f"FROM {table}{suffix} WHERE grain = {finer} GROUP BY s, {cols}")
    finished = ", ".join(repr(o) for o in FINISHED)
    for (table, key_columns), grain in product(LATENCY_TABLES.items(), LATENCY_GRAINS):
        values = ", ".join(f"COALESCE({c}, {empty!r})" for c, empty in key_columns)
        order = ", ".join(["m", *(str(i) for i in range(3, 3 + len(key_columns))), "b"])
        rows = conn.execute(f"SELECT {grain}, {MINUTE_SQL.format(ts='ts')} / {grain} * {grain} AS m, {values}, "
                            f"latency_bucket(duration_ms) AS b, COUNT(*) FROM entries WHERE outcome IN ({finished}) "
                            f"AND duration_ms IS NOT NULL GROUP BY {order} ORDER BY {order}").fetchall()
        conn.executemany(f"INSERT INTO {table}{suffix} VALUES ({', '.join('?' * (len(key_columns) + 5))})",
                         [(*key, *pack((b, n) for *_, b, n in group))
                          for key, group in groupby(rows, key=lambda row: tuple(row[:2 + len(key_columns)]))])
    conn.execute(f"INSERT INTO open_attempts{suffix} SELECT {', '.join('r.' + c for c in OPEN_COLUMNS)} "
                 "FROM entries AS r WHERE r.kind = 'api_request' AND (r.attempt_id IS NULL OR NOT EXISTS "
                 "(SELECT 1 FROM entries AS x WHERE x.attempt_id = r.attempt_id AND x.kind = 'api_result'))")


def rebuild(conn: sqlite3.Connection) -> None:
    """Recount the tables from ``entries`` (run it inside a write transaction)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")
    _fill(conn)


def check(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows that differ from a recount, per table (all zero: the tables are right). Read in one
    snapshot; the recount goes to temporary tables, the real ones are not touched."""
    conn.execute("BEGIN")
    try:
        for table, columns in TABLES.items():
            conn.execute(f"DROP TABLE IF EXISTS temp.{table}_recount")
            conn.execute(f"CREATE TEMP TABLE {table}_recount {columns}")
        _fill(conn, "_recount")
        # Rows only in the table plus rows only in the recount (a changed row counts twice).
        return {table: sum(conn.execute(f"SELECT COUNT(*) FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b})").fetchone()[0]
                           for a, b in ((table, f"{table}_recount"), (f"{table}_recount", table)))
                for table in TABLES}
    finally:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS temp.{table}_recount")
        conn.execute("COMMIT")


def forget_before(conn: sqlite3.Connection, ts_text: str) -> None:
    """After archiving the entries before ``ts_text`` (a midnight UTC): drop the buckets wholly
    before it and the open requests that went with them (inside the archive's transaction)."""
    if ts_text[10:] != "T00:00:00.000000Z":
        raise ValueError(f"archiving cuts at a midnight UTC, not at {ts_text!r}")
    cut = minute_of(ts_text)
    for table in (t for t in TABLES if t != "open_attempts"):
        conn.execute(f"DELETE FROM {table} WHERE start + grain <= ?", (cut,))
    conn.execute("DELETE FROM open_attempts WHERE ts < ?", (ts_text,))
