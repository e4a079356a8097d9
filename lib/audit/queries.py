"""What the Audit log page shows, computed in SQLite so the log is never loaded into memory.

Every query is one filter (``AuditFilters``) turned into one WHERE clause (``where``), so the grid,
its count, the CSV export and the charts always agree on what "the current view" is. Filters go
into the page URL (``to_query_params`` / ``from_query_params``) so a view can be shared as a link.

Speed comes from the call log's indexes (see ``lib.calllog.log``): equality filters hit
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
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from lib.common import timefmt
from lib.access.policy import ACCESS_KINDS
from lib.calllog.log import CallLog
from lib.storage.db import connect, utc_text
from lib.sessions.reconcile import RESOLUTION

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
    for (name, *_), longest in zip(CHART_BUCKETS, _BUCKET_SPANS):
        if span <= longest:
            return name
    return CHART_BUCKETS[-1][0]


def calls_over_time(db_path: str | Path, filters: AuditFilters, bucket: str | None = None) -> tuple[pd.DataFrame, str]:
    """Finished calls per time bucket and outcome (columns start, end, outcome, calls; UTC), and
    the bucket's name. Without ``bucket`` it follows the span of the calls in the view
    (``chart_bucket``), so an hour of data is sixty one-minute bars, not one thin hourly bar."""
    sql, params = where(filters)
    conn = _conn(db_path)
    if bucket is None:
        first, last = conn.execute(
            f"SELECT MIN(e.ts), MAX(e.ts) FROM entries AS e WHERE {sql} AND {_FINISHED}", params).fetchone()
        span = timedelta(0) if first is None else datetime.fromisoformat(last) - datetime.fromisoformat(first)
        bucket = chart_bucket(span)
    name, width, key, fmt = next(b for b in CHART_BUCKETS if b[0] == bucket)
    rows = conn.execute(
        f"SELECT {key} AS bucket, e.outcome, COUNT(*) FROM entries AS e "
        f"WHERE {sql} AND {_FINISHED} GROUP BY bucket, e.outcome ORDER BY bucket, e.outcome",
        params,
    ).fetchall()
    frame = pd.DataFrame(rows, columns=["start", "outcome", "calls"])
    frame["start"] = pd.to_datetime(frame["start"], format=fmt, utc=True)
    frame.insert(1, "end", frame["start"] + width)
    return frame.astype({"calls": "int64"}), name


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


# --- The Audit log page's view: filters plus what the URL carries besides them --------------------
# The page keeps its whole state in the URL (a view is shared as a link), as ``to_query_params``
# plus ``range`` (a sliding preset), ``entry`` (the opened entry) and ``page_no`` (of the grid).

CUSTOM = "custom"
DEFAULT_RANGE = "24h"
# URL value → (label, width). A preset slides with the clock; a custom range has fixed bounds.
TIME_RANGES: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    DEFAULT_RANGE: ("Last 24 hours", DEFAULT_WINDOW),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    ALL_TIME: ("All time", None),
    CUSTOM: ("Custom range", None),
}
KINDS = ("api_request", "api_result", RESOLUTION, "export", *ACCESS_KINDS)
METHODS = ("GET", "POST", "PUT", "DELETE")
OUTCOME_LABELS = {"ok": "ok", "http_error": "HTTP error", "network_error": "network error",
                  "unknown_outcome": "outcome unknown", IN_FLIGHT: "in flight"}
GRID_COLUMNS = ("seq", "time", "kind", "operator", "environment", "method", "endpoint", "session id",
                "order id", "amount", "currency", "HTTP status", "outcome", "duration ms")
_FILTER_NAMES = tuple(f.name for f in fields(AuditFilters))


@dataclass(frozen=True)
class AuditView:
    """What the page shows: a filter, how its time range was chosen, the opened entry, the page."""

    filters: AuditFilters
    time_range: str = DEFAULT_RANGE  # a TIME_RANGES key
    entry: int | None = None
    page: int = 1


def minute_of(now: datetime) -> datetime:
    """``now`` down to the minute: a sliding window then stays the same for a minute, so cached
    charts keyed on the filters are reused instead of recomputed on every rerun."""
    return now.replace(second=0, microsecond=0)


def sliding_since(time_range: str, now: datetime) -> datetime | None:
    """The lower bound of a preset range at ``now`` (None for all time and for a custom range)."""
    width = TIME_RANGES[time_range][1]
    return None if width is None else now - width


def _positive_int(name: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"query parameter {name}: {text!r} is not a positive whole number")
    return int(text)


def view_from_query_params(mapping: Mapping[str, str], now: datetime) -> tuple[AuditView, list[str]]:
    """The view a URL asks for, and one message per parameter that had to be ignored.

    Unlike ``from_query_params`` it never raises: each parameter is read on its own, so one bad
    value in a shared link costs that filter only. A URL without a usable filter (or whose
    ``since`` is bad) opens the default last 24 hours rather than the whole log.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for name in _FILTER_NAMES:
        if name not in mapping:
            continue
        try:
            values[name] = getattr(from_query_params({name: mapping[name]}), name)
        except ValueError as exc:
            bad.add(name)
            problems.append(f"Ignored {exc}.")
    time_range = mapping.get("range")
    if time_range is not None and time_range not in TIME_RANGES:
        problems.append(f"Ignored query parameter range: {time_range!r} is not one of {', '.join(TIME_RANGES)}.")
        time_range = None
    if time_range is None or time_range == CUSTOM:
        if "since" in bad or not values:  # nothing usable in the URL: the opening view
            time_range = DEFAULT_RANGE
        elif values.get("since") is None and values.get("until") is None:
            time_range = ALL_TIME
        else:
            time_range = CUSTOM
    if time_range != CUSTOM:
        values["since"], values["until"] = sliding_since(time_range, now), None
    extra: dict[str, int] = {}
    for name in ("entry", "page_no"):
        text = mapping.get(name)
        if text:
            try:
                extra[name] = _positive_int(name, text)
            except ValueError as exc:
                problems.append(f"Ignored {exc}.")
    view = AuditView(AuditFilters(**values), time_range, extra.get("entry"), extra.get("page_no", 1))
    return view, problems


def view_to_query_params(view: AuditView) -> dict[str, str]:
    """The view as URL query parameters (``view_from_query_params`` reads them back)."""
    params = to_query_params(view.filters)
    if view.time_range != CUSTOM:
        params["range"] = view.time_range
    if view.entry is not None:
        params["entry"] = str(view.entry)
    if view.page > 1:
        params["page_no"] = str(view.page)
    return params


def page_count(total: int, size: int = 50) -> int:
    """Pages needed for ``total`` rows (at least one, so an empty view still has a page 1)."""
    return max(1, -(-total // size))


def outcome_label(row: Mapping[str, Any]) -> str:
    """What the grid says about a row's outcome: "in flight" for a request without a result."""
    if row.get("in_flight"):
        return OUTCOME_LABELS[IN_FLIGHT]
    outcome = row.get("outcome")
    return "" if outcome is None else OUTCOME_LABELS.get(outcome, outcome)


def grid_frame(rows: list[dict[str, Any]], tz: tzinfo) -> pd.DataFrame:
    """Grid rows (from ``page`` or ``session_timeline``) as the table people read: local times with
    the zone named, amounts as exact text, outcome words instead of codes."""
    data = [
        (r["seq"], timefmt.local(datetime.fromisoformat(r["ts"]), tz), r["kind"], r["operator"], r["environment"],
         r["method"], r["endpoint"], r["session_id"], r["order_id"],
         None if r["amount"] is None else str(r["amount"]), r["currency"], r["http_status"], outcome_label(r),
         r["duration_ms"])
        for r in rows
    ]
    frame = pd.DataFrame(data, columns=list(GRID_COLUMNS))
    return frame.astype({"seq": "int64", "HTTP status": "Int64", "duration ms": "float64"})


@dataclass(frozen=True)
class EntryView:
    """One opened entry: itself, its attempt's request and result, and its session's timeline."""

    entry: dict[str, Any]
    pair: list[dict[str, Any]]  # request then result (just the entry when it is not part of a call)
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
    return EntryView(found, pair, session_id, timeline)


def export_and_record(
    db_path: str | Path, filters: AuditFilters, *, operator: str, environment: str,
    tags: tuple[str, ...] = (), limit: int = EXPORT_LIMIT,
) -> bytes:
    """The CSV export of the view, recorded in the log as an ``export`` entry (who took what,
    with the filters as URL parameters and the rows actually written). Taking evidence out of the
    log is itself evidence; if recording fails, no file is handed out."""
    out = io.StringIO()
    writer = csv.writer(out)
    written = -1  # the header is not a row
    for written, cells in enumerate(export_rows(db_path, filters, limit)):
        writer.writerow(cells)
    CallLog(db_path).append("export", operator=operator, environment=environment, tags=tags,
                            detail={"filters": to_query_params(filters), "rows": written})
    return out.getvalue().encode("utf-8-sig")


def last_checkpoint(log: CallLog) -> dict[str, Any] | None:
    """The newest well-formed checkpoint of ``log`` (count, head_hash, at), or None."""
    found = [cp for _, cp in log._read_checkpoints() if cp]  # the log's own reader of its file
    return found[-1] if found else None
