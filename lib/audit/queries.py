"""What the Audit log page reads, computed in SQLite so the log is never loaded into memory.

Rows come newest first as ``ORDER BY ts DESC, seq DESC`` rather than by ``seq`` alone: the
order is the same (``ts`` is taken under the log's write lock), but every ``(column, ts)`` index
then delivers rows already in order, so a page stops after 50 rows and never walks the whole
table looking for a rare match. The distinct-value helpers skip through an index.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from lib.audit import summary_queries
from lib.audit.filters import FINISHED_SQL, NEWEST_FIRST, ROW_COLUMNS, ROW_SELECT, AuditFilters, where
from lib.calllog.log import CallLog
from lib.storage.db import connect


def _conn(db_path: str | Path) -> sqlite3.Connection:
    """This thread's connection, with the log's schema in place (an empty log reads as empty)."""
    CallLog(db_path)
    return connect(db_path).conn


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip((*ROW_COLUMNS, "in_flight", "requested_ts"), values, strict=True))
    row["tags"] = json.loads(row["tags"])
    row["in_flight"] = bool(row["in_flight"])
    if row["amount"] is not None:
        row["amount"] = Decimal(row["amount"])
    return row


def count(db_path: str | Path, filters: AuditFilters) -> int:
    """How many rows the view holds (for the pager and the export's truncation notice): from the
    summaries (``lib.audit.summary_queries``) unless it filters by an id."""
    conn = _conn(db_path)
    if summary_queries.answerable(filters):
        return summary_queries.count(conn, filters)
    sql, params = where(filters)
    return int(conn.execute(f"SELECT COUNT(*) FROM entries AS e WHERE {sql}", params).fetchone()[0])


def page(db_path: str | Path, filters: AuditFilters, page_no: int, size: int = 50) -> list[dict[str, Any]]:
    """Page ``page_no`` (from 1) of the view, newest first, each row flagged ``in_flight``; a result
    also carries its request's time as ``requested_ts`` (None for any other entry)."""
    if page_no < 1 or size < 1:
        raise ValueError(f"page_no and size start at 1, got page_no={page_no}, size={size}")
    sql, params = where(filters)
    # The page's seqs first, then the join for those rows only: joined before the OFFSET, every
    # skipped row would cost its request's lookup (page 100 of a day at 5M entries: 30 → 8 ms).
    rows = _conn(db_path).execute(
        f"{ROW_SELECT} WHERE e.seq IN (SELECT e.seq FROM entries AS e WHERE {sql} {NEWEST_FIRST} LIMIT ? OFFSET ?) "
        f"{NEWEST_FIRST}", [*params, size, (page_no - 1) * size]
    )
    return [_row(r) for r in rows]


def entry(db_path: str | Path, seq: int) -> dict[str, Any] | None:
    """One entry in full, ``detail`` decoded (the log's own reader, so both show the same thing)."""
    return CallLog(db_path).entry(seq)


def attempt(db_path: str | Path, attempt_id: str) -> list[dict[str, Any]]:
    """The request of one attempt and its result (one entry while in flight), in full."""
    log = CallLog(db_path)
    seqs = _conn(db_path).execute("SELECT seq FROM entries WHERE attempt_id = ? ORDER BY seq", (attempt_id,))
    return [entry for (seq,) in seqs.fetchall() if (entry := log.entry(seq)) is not None]


def session_timeline(db_path: str | Path, session_id: str) -> list[dict[str, Any]]:
    """Every entry about one session, oldest first, as grid rows.

    A create's request cannot carry the session id (the answer brings it), so entries sharing an
    attempt with one that names the session are included too.
    """
    sql = (f"{ROW_SELECT} WHERE e.session_id = ? UNION {ROW_SELECT} WHERE e.attempt_id IN "
           "(SELECT attempt_id FROM entries WHERE session_id = ? AND attempt_id IS NOT NULL) ORDER BY 1")
    return [_row(r) for r in _conn(db_path).execute(sql, [session_id, session_id])]


def calls_per_hour(db_path: str | Path, filters: AuditFilters) -> pd.DataFrame:
    """Finished calls (api_result entries) per UTC hour and outcome: columns hour, outcome, calls.
    From the summaries unless the view filters by an id (then the entries, through their indexes)."""
    conn = _conn(db_path)
    if summary_queries.answerable(filters):
        rows = summary_queries.finished_counts(conn, filters, timedelta(hours=1), "%Y-%m-%dT%H")
    else:
        sql, params = where(filters)
        rows = conn.execute(
            f"SELECT substr(e.ts, 1, 13) AS hour, e.outcome, COUNT(*) FROM entries AS e "
            f"WHERE {sql} AND {FINISHED_SQL} GROUP BY hour, e.outcome ORDER BY hour, e.outcome",
            params,
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["hour", "outcome", "calls"])
    frame["hour"] = pd.to_datetime(frame["hour"], format="%Y-%m-%dT%H", utc=True)
    return frame.astype({"calls": "int64"})


# Chart buckets: (name, width, SQL key of an entry's bucket over the stored UTC text, its format).
# Text keys keep the grouping cheap (no date parsing per row); the 5-minute key floors the minutes.
CHART_BUCKETS: tuple[tuple[str, timedelta, str, str], ...] = (
    ("minute", timedelta(minutes=1), "substr(e.ts, 1, 16)", "%Y-%m-%dT%H:%M"),
    ("5 minutes", timedelta(minutes=5),
     "substr(e.ts, 1, 14) || printf('%02d', CAST(substr(e.ts, 15, 2) AS INTEGER) / 5 * 5)", "%Y-%m-%dT%H:%M"),
    ("hour", timedelta(hours=1), "substr(e.ts, 1, 13)", "%Y-%m-%dT%H"),
    ("day", timedelta(days=1), "substr(e.ts, 1, 10)", "%Y-%m-%d"),
)
# The longest span of data each bucket is used for (the last one takes everything longer): at
# most ~150-170 bars, and never one thin bar for a short burst of calls.
_BUCKET_SPANS = (timedelta(hours=2), timedelta(hours=12), timedelta(days=7))


def chart_bucket(span: timedelta) -> str:
    """The bucket width for a chart whose calls span ``span`` (first to last): ``minute`` up to 2 h,
    ``5 minutes`` up to 12 h, ``hour`` up to 7 days, ``day`` beyond."""
    for (name, *_), longest in zip(CHART_BUCKETS, _BUCKET_SPANS, strict=False):  # the last bucket has no limit
        if span <= longest:
            return name
    return CHART_BUCKETS[-1][0]


def calls_over_time(db_path: str | Path, filters: AuditFilters, bucket: str | None = None) -> tuple[pd.DataFrame, str]:
    """Finished calls per time bucket and outcome (columns start, end, outcome, calls; UTC), and
    the bucket's name. Without ``bucket`` it follows the span of the calls in the view
    (``chart_bucket``), so an hour of data is sixty one-minute bars, not one thin hourly bar.
    Span and bars come from the summaries unless the view filters by an id."""
    sql, params = where(filters)
    conn = _conn(db_path)
    fast = summary_queries.answerable(filters)
    if bucket is None:
        first, last = summary_queries.first_last(conn, filters) if fast else conn.execute(
            f"SELECT MIN(e.ts), MAX(e.ts) FROM entries AS e WHERE {sql} AND {FINISHED_SQL}", params).fetchone()
        span = timedelta(0) if first is None or last is None else datetime.fromisoformat(last) - datetime.fromisoformat(first)
        bucket = chart_bucket(span)
    name, width, key, fmt = next(b for b in CHART_BUCKETS if b[0] == bucket)
    rows = summary_queries.finished_counts(conn, filters, width, fmt) if fast else conn.execute(
        f"SELECT {key} AS bucket, e.outcome, COUNT(*) FROM entries AS e "
        f"WHERE {sql} AND {FINISHED_SQL} GROUP BY bucket, e.outcome ORDER BY bucket, e.outcome",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["start", "outcome", "calls"])
    frame["start"] = pd.to_datetime(frame["start"], format=fmt, utc=True)
    frame.insert(1, "end", frame["start"] + width)
    return frame.astype({"calls": "int64"}), name


def latency_by_endpoint(db_path: str | Path, filters: AuditFilters) -> pd.DataFrame:
    """Calls and nearest-rank p50 / p95 latency per endpoint, over finished calls in the view.

    Nearest rank: the p-th percentile is the smallest duration whose rank is at least p·n. From the
    latency histogram when it holds the view (each percentile within 1 % of that duration),
    otherwise exact from the entries: ``frame.attrs["percentiles"]`` says which, for the page.
    """
    conn = _conn(db_path)
    if summary_queries.answerable(filters, latency=True):
        rows = summary_queries.latency(conn, filters)
        precision = summary_queries.HISTOGRAM
    else:
        rows = _exact_latency(conn, filters)
        precision = summary_queries.EXACT
    frame = pd.DataFrame(rows, columns=["endpoint", "calls", "p50_ms", "p95_ms"])
    frame = frame.astype({"calls": "int64", "p50_ms": "float64", "p95_ms": "float64"})
    frame.attrs["percentiles"] = precision
    return frame


def _exact_latency(conn: sqlite3.Connection, filters: AuditFilters) -> list[tuple[Any, ...]]:
    sql, params = where(filters)
    return conn.execute(
        f"""WITH r AS (
                SELECT e.endpoint, e.duration_ms,
                       ROW_NUMBER() OVER (PARTITION BY e.endpoint ORDER BY e.duration_ms) AS rank,
                       COUNT(*) OVER (PARTITION BY e.endpoint) AS n
                FROM entries AS e
                WHERE {sql} AND {FINISHED_SQL} AND e.duration_ms IS NOT NULL)
            SELECT endpoint, MAX(n),
                   MIN(CASE WHEN rank >= 0.50 * n THEN duration_ms END),
                   MIN(CASE WHEN rank >= 0.95 * n THEN duration_ms END)
            FROM r GROUP BY endpoint ORDER BY endpoint""",
        params,
    ).fetchall()


def _distinct(db_path: str | Path, column: str) -> list[str]:
    """Distinct values of an indexed column by skipping through its index: one O(log n) probe per
    value instead of reading every entry (a plain DISTINCT scans the whole index)."""
    rows = _conn(db_path).execute(
        f"""WITH RECURSIVE d(v) AS (
                SELECT MIN({column}) FROM entries
                UNION ALL
                SELECT (SELECT MIN({column}) FROM entries WHERE {column} > d.v) FROM d WHERE d.v IS NOT NULL)
            SELECT v FROM d WHERE v IS NOT NULL"""
    )
    return [v for (v,) in rows]


def endpoints(db_path: str | Path) -> list[str]:
    """Endpoint templates present in the log, sorted (skips through the ``(endpoint, ts)`` index)."""
    return _distinct(db_path, "endpoint")


def operators(db_path: str | Path) -> list[str]:
    """Operators present in the log, sorted (skips through the ``(operator, ts)`` index)."""
    return _distinct(db_path, "operator")


def environments(db_path: str | Path) -> list[str]:
    """Environments present in the log, sorted (skips through the ``(environment, ts)`` index)."""
    return _distinct(db_path, "environment")


@dataclass(frozen=True)
class LogEntry:
    """One call-log entry as the page shows it: its columns, ``detail`` decoded, its chain hashes."""

    seq: int
    ts: str
    kind: str
    operator: str
    environment: str
    tags: tuple[str, ...]
    attempt_id: str | None
    method: str | None
    endpoint: str | None
    path: str | None
    session_id: str | None
    order_id: str | None
    amount: Decimal | None
    currency: str | None
    http_status: int | None
    outcome: str | None
    duration_ms: float | None
    detail: Any
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: dict[str, Any]) -> LogEntry:
        """From the log's reader (columns the page does not show, newer ones included, are left out)."""
        e = entry.get
        return cls(seq=entry["seq"], ts=entry["ts"], kind=entry["kind"], operator=entry["operator"],
                   environment=entry["environment"],
                   tags=tuple(e("tags") or ()), attempt_id=e("attempt_id"), method=e("method"), endpoint=e("endpoint"),
                   path=e("path"), session_id=e("session_id"), order_id=e("order_id"), amount=e("amount"),
                   currency=e("currency"), http_status=e("http_status"), outcome=e("outcome"),
                   duration_ms=e("duration_ms"), detail=e("detail"), prev_hash=entry["prev_hash"], hash=entry["hash"])


@dataclass(frozen=True)
class EntryView:
    """One opened entry: itself, its attempt's request and result, and its session's timeline."""

    entry: LogEntry
    pair: list[LogEntry]  # request then result (just the entry when it is not part of a call)
    session_id: str | None
    timeline: list[dict[str, Any]]


def entry_view(db_path: str | Path, seq: int) -> EntryView | None:
    """Everything the page shows about entry ``seq`` (None if there is none). The session comes
    from either half of the call: a create's request cannot name it, its result does."""
    found = entry(db_path, seq)
    if found is None:
        return None
    pair = attempt(db_path, found["attempt_id"]) if found["attempt_id"] else [found]
    session_id = next((e["session_id"] for e in pair if e["session_id"]), None)
    timeline = session_timeline(db_path, session_id) if session_id else []
    return EntryView(LogEntry.of(found), [LogEntry.of(e) for e in pair], session_id, timeline)


