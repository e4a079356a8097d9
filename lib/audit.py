"""What the Audit log page shows, computed in SQLite so the log is never loaded into memory.

Every query is one filter (``AuditFilters``) turned into one WHERE clause (``where``), so the grid,
its count, the CSV export and the charts always agree on what "the current view" is. Filters go
into the page URL (``to_query_params`` / ``from_query_params``) so a view can be shared as a link.

Speed comes from the call log's indexes (see ``lib.calllog``): equality filters hit
``(column, ts)`` indexes, id prefixes are index ranges (never LIKE), and the distinct-value helpers
skip through an index. Rows come newest first as ``ORDER BY ts DESC, seq DESC`` rather than by
``seq`` alone: the order is the same (``ts`` is taken under the log's write lock), but every
``(column, ts)`` index then delivers rows already in order, so a page stops after 50 rows and
never walks the whole table looking for a rare match. Finished calls are selected as
``outcome IN (...)`` (only results have an outcome), which the ``(outcome, ts)`` index answers.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from lib.calllog import CallLog
from lib.db import connect, utc_text

OUTCOMES = ("ok", "http_error", "network_error", "unknown_outcome")
IN_FLIGHT = "in_flight"
DEFAULT_WINDOW = timedelta(hours=24)
EXPORT_LIMIT = 100_000
ALL_TIME = "all"  # the URL value of ``since`` for "no lower bound" (an absent ``since`` means the same)

# What a grid row shows; ``detail`` (bodies, headers) is fetched per entry with ``entry``.
ROW_COLUMNS = (
    "seq", "ts", "kind", "operator", "environment", "tags", "attempt_id", "method", "endpoint", "path",
    "session_id", "order_id", "amount", "currency", "http_status", "outcome", "duration_ms",
)
EXPORT_COLUMNS = (*ROW_COLUMNS, "in_flight", "hash")

# A request whose attempt has no result: the call is under way, or its outcome was never recorded.
_IN_FLIGHT_SQL = (
    "(e.kind = 'api_request' AND NOT EXISTS "
    "(SELECT 1 FROM entries AS x WHERE x.attempt_id = e.attempt_id AND x.kind = 'api_result'))"
)
_ROW_SELECT = f"SELECT {', '.join('e.' + c for c in ROW_COLUMNS)}, {_IN_FLIGHT_SQL} AS in_flight FROM entries AS e"
_NEWEST_FIRST = "ORDER BY e.ts DESC, e.seq DESC"
_FINISHED = f"e.outcome IN ({', '.join(repr(o) for o in OUTCOMES)})"
_EQUAL_COLUMNS = ("environment", "operator", "endpoint", "method", "kind")
_ID_COLUMNS = ("session_id", "order_id")
_TEXT_FIELDS = (*_EQUAL_COLUMNS, *_ID_COLUMNS, "outcome")
# Formula-leading characters spreadsheets act on (OWASP "CSV injection").
_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
_SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True)
class AuditFilters:
    """One view of the log. None means "no filter"; empty strings are read as None (what an empty
    text box gives). ``session_id`` / ``order_id`` ending in ``*`` match by prefix."""

    since: datetime | None = None
    until: datetime | None = None  # exclusive
    environment: str | None = None
    operator: str | None = None
    endpoint: str | None = None
    method: str | None = None
    outcome: str | None = None  # one of OUTCOMES, or IN_FLIGHT
    http_status: int | None = None
    session_id: str | None = None
    order_id: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
        if self.outcome is not None and self.outcome not in (*OUTCOMES, IN_FLIGHT):
            raise ValueError(f"outcome must be one of {', '.join((*OUTCOMES, IN_FLIGHT))}, got {self.outcome!r}")
        status = self.http_status
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise ValueError(f"http_status must be an HTTP status code (100-599), got {status!r}")

    @classmethod
    def default(cls, now: datetime) -> AuditFilters:
        """The page's opening view: the last 24 hours, everything in it."""
        return cls(since=now - DEFAULT_WINDOW)


def _prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (None: no upper bound).

    SQLite compares text as UTF-8 bytes, which orders like code points, so bumping the last code
    point (skipping surrogates, which UTF-8 cannot carry) bounds the range.
    """
    while prefix:
        last = ord(prefix[-1]) + 1
        if last in _SURROGATES:
            last = _SURROGATES.stop
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def where(filters: AuditFilters) -> tuple[str, list[Any]]:
    """The WHERE condition (without the keyword) over ``entries AS e``, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.since is not None:
        clauses.append("e.ts >= ?")
        params.append(utc_text(filters.since))
    if filters.until is not None:
        clauses.append("e.ts < ?")
        params.append(utc_text(filters.until))
    for column in _EQUAL_COLUMNS:
        value = getattr(filters, column)
        if value is not None:
            clauses.append(f"e.{column} = ?")
            params.append(value)
    if filters.outcome == IN_FLIGHT:
        clauses.append(_IN_FLIGHT_SQL)
    elif filters.outcome is not None:
        clauses.append("e.outcome = ?")
        params.append(filters.outcome)
    if filters.http_status is not None:
        clauses.append("e.http_status = ?")
        params.append(filters.http_status)
    for column in _ID_COLUMNS:
        value = getattr(filters, column)
        if value is None:
            continue
        if not value.endswith("*"):
            clauses.append(f"e.{column} = ?")
            params.append(value)
            continue
        prefix = value[:-1]
        end = _prefix_end(prefix)
        if prefix:
            clauses.append(f"e.{column} >= ?")
            params.append(prefix)
        if end is not None:
            clauses.append(f"e.{column} < ?")
            params.append(end)
        if not prefix:  # a bare "*": any value, but there must be one
            clauses.append(f"e.{column} IS NOT NULL")
    return " AND ".join(clauses) or "1", params


def to_query_params(filters: AuditFilters) -> dict[str, str]:
    """The filters as URL query parameters. ``since`` is always present (``all`` for no bound), so
    a shared all-time view is never mistaken for an empty URL, which opens the default view."""
    params = {"since": ALL_TIME if filters.since is None else utc_text(filters.since)}
    for field in fields(AuditFilters):
        value = getattr(filters, field.name)
        if field.name == "since" or value is None:
            continue
        params[field.name] = utc_text(value) if isinstance(value, datetime) else str(value)
    return params


def _parse_time(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"query parameter {name}: {text!r} is not an ISO 8601 time such as 2024-05-01T09:30:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"query parameter {name}: {text!r} has no time zone (add Z for UTC)")
    return moment


def from_query_params(mapping: Mapping[str, str]) -> AuditFilters:
    """Filters from URL query parameters (unknown keys are ignored: the URL carries other state)."""
    values: dict[str, Any] = {}
    for field in fields(AuditFilters):
        text = mapping.get(field.name)
        if text is None or text == "" or (field.name == "since" and text == ALL_TIME):
            continue
        if field.name in ("since", "until"):
            values[field.name] = _parse_time(field.name, text)
        elif field.name == "http_status":
            if not text.isascii() or not text.isdigit():
                raise ValueError(f"query parameter http_status: {text!r} is not a number")
            values[field.name] = int(text)
        else:
            values[field.name] = text
    try:
        return AuditFilters(**values)
    except ValueError as exc:
        raise ValueError(f"query parameter {exc}") from None


def _conn(db_path: str | Path) -> sqlite3.Connection:
    """This thread's connection, with the log's schema in place (an empty log reads as empty)."""
    CallLog(db_path)
    return connect(db_path).conn


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip((*ROW_COLUMNS, "in_flight"), values))
    row["tags"] = json.loads(row["tags"])
    row["in_flight"] = bool(row["in_flight"])
    if row["amount"] is not None:
        row["amount"] = Decimal(row["amount"])
    return row


def count(db_path: str | Path, filters: AuditFilters) -> int:
    """How many entries the view holds (for the pager and the export's truncation notice)."""
    sql, params = where(filters)
    return _conn(db_path).execute(f"SELECT COUNT(*) FROM entries AS e WHERE {sql}", params).fetchone()[0]


def page(db_path: str | Path, filters: AuditFilters, page_no: int, size: int = 50) -> list[dict[str, Any]]:
    """Page ``page_no`` (from 1) of the view, newest first, each row flagged ``in_flight``."""
    if page_no < 1 or size < 1:
        raise ValueError(f"page_no and size start at 1, got page_no={page_no}, size={size}")
    sql, params = where(filters)
    rows = _conn(db_path).execute(
        f"{_ROW_SELECT} WHERE {sql} {_NEWEST_FIRST} LIMIT ? OFFSET ?", [*params, size, (page_no - 1) * size]
    )
    return [_row(r) for r in rows]


def entry(db_path: str | Path, seq: int) -> dict[str, Any] | None:
    """One entry in full, ``detail`` decoded (the log's own reader, so both show the same thing)."""
    return CallLog(db_path).entry(seq)


def attempt(db_path: str | Path, attempt_id: str) -> list[dict[str, Any]]:
    """The request of one attempt and its result (one entry while in flight), in full."""
    log = CallLog(db_path)
    seqs = _conn(db_path).execute("SELECT seq FROM entries WHERE attempt_id = ? ORDER BY seq", (attempt_id,))
    return [log.entry(seq) for (seq,) in seqs.fetchall()]


def session_timeline(db_path: str | Path, session_id: str) -> list[dict[str, Any]]:
    """Every entry about one session, oldest first, as grid rows.

    A create's request cannot carry the session id (the answer brings it), so entries sharing an
    attempt with one that names the session are included too.
    """
    sql = (f"{_ROW_SELECT} WHERE e.session_id = ? UNION {_ROW_SELECT} WHERE e.attempt_id IN "
           "(SELECT attempt_id FROM entries WHERE session_id = ? AND attempt_id IS NOT NULL) ORDER BY seq")
    return [_row(r) for r in _conn(db_path).execute(sql, [session_id, session_id])]


def csv_escape(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a formula-leading cell gets a leading ``'``."""
    return "'" + cell if cell.startswith(_FORMULA_LEAD) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_escape(str(value))


def export_rows(db_path: str | Path, filters: AuditFilters, limit: int = EXPORT_LIMIT) -> Iterator[list[str]]:
    """The view as escaped text cells, header first, newest first, at most ``limit`` entries,
    streamed from a cursor. ``detail`` is left out (``entry`` has it); ``hash`` ties each row to
    the chain so an exported row can be checked against the log."""
    sql, params = where(filters)
    cursor = _conn(db_path).execute(
        f"SELECT {', '.join('e.' + c for c in ROW_COLUMNS)}, {_IN_FLIGHT_SQL}, e.hash FROM entries AS e "
        f"WHERE {sql} {_NEWEST_FIRST} LIMIT ?",
        [*params, limit],
    )
    yield [csv_escape(c) for c in EXPORT_COLUMNS]
    for values in cursor:
        yield [_cell(bool(v) if name == "in_flight" else v) for name, v in zip(EXPORT_COLUMNS, values)]


def export_csv(db_path: str | Path, filters: AuditFilters, limit: int = EXPORT_LIMIT) -> bytes:
    """The export as one CSV file (UTF-8 with a BOM, so Excel reads names and symbols right)."""
    out = io.StringIO()
    csv.writer(out).writerows(export_rows(db_path, filters, limit))
    return out.getvalue().encode("utf-8-sig")


def calls_per_hour(db_path: str | Path, filters: AuditFilters) -> pd.DataFrame:
    """Finished calls (api_result entries) per UTC hour and outcome: columns hour, outcome, calls.

    With the time filter alone it is answered from the ``(outcome, ts)`` index without the table.
    """
    sql, params = where(filters)
    rows = _conn(db_path).execute(
        f"SELECT substr(e.ts, 1, 13) AS hour, e.outcome, COUNT(*) FROM entries AS e "
        f"WHERE {sql} AND {_FINISHED} GROUP BY hour, e.outcome ORDER BY hour, e.outcome",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["hour", "outcome", "calls"])
    frame["hour"] = pd.to_datetime(frame["hour"], format="%Y-%m-%dT%H", utc=True)
    return frame.astype({"calls": "int64"})


def latency_by_endpoint(db_path: str | Path, filters: AuditFilters) -> pd.DataFrame:
    """Calls and nearest-rank p50 / p95 latency per endpoint, over finished calls in the view.

    Nearest rank: the p-th percentile is the smallest duration whose rank is at least p·n, so it
    is always a latency that was really measured.
    """
    sql, params = where(filters)
    rows = _conn(db_path).execute(
        f"""WITH r AS (
                SELECT e.endpoint, e.duration_ms,
                       ROW_NUMBER() OVER (PARTITION BY e.endpoint ORDER BY e.duration_ms) AS rank,
                       COUNT(*) OVER (PARTITION BY e.endpoint) AS n
                FROM entries AS e
                WHERE {sql} AND {_FINISHED} AND e.duration_ms IS NOT NULL)
            SELECT endpoint, MAX(n),
                   MIN(CASE WHEN rank >= 0.50 * n THEN duration_ms END),
                   MIN(CASE WHEN rank >= 0.95 * n THEN duration_ms END)
            FROM r GROUP BY endpoint ORDER BY endpoint""",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["endpoint", "calls", "p50_ms", "p95_ms"])
    return frame.astype({"calls": "int64", "p50_ms": "float64", "p95_ms": "float64"})


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
