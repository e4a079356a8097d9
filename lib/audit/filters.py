"""One view of the call log as a filter, turned into one SQL condition and into URL parameters.

Every question the audit page asks (the grid, its count, the export, the charts) goes through
the same ``where``, so they always agree on what "the current view" is; the same filter goes
into the page URL so a view can be shared as a link.

Speed comes from the call log's indexes: equality filters hit ``(column, ts)`` indexes, id
prefixes are index ranges (never LIKE). Finished calls are selected as ``outcome IN (...)``
(only results have an outcome), which the ``(outcome, ts)`` index answers.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from lib.calllog.outcome import Outcome
from lib.common.timefmt import utc_text

OUTCOMES = tuple(o.value for o in Outcome.written())
IN_FLIGHT = Outcome.IN_FLIGHT.value
DEFAULT_WINDOW = timedelta(hours=24)
EXPORT_LIMIT = 100_000
ALL_TIME = "all"  # the URL value of ``since`` for "no lower bound" (an absent ``since`` means the same)
# The kind filter's name for a whole call: its request and its result, read as one row.
CALL = "api_call"
CALL_KINDS = ("api_request", "api_result")
ENTRIES = "entries"  # the URL value of ``rows`` for one row per entry (absent: one row per call)

# What a grid row shows; ``detail`` (bodies, headers) is fetched per entry with ``entry``.
ROW_COLUMNS = (
    "seq", "ts", "kind", "operator", "environment", "tags", "attempt_id", "method", "endpoint", "path",
    "session_id", "order_id", "amount", "currency", "http_status", "outcome", "duration_ms",
)

# A request whose attempt has no result: the call is under way, or its outcome was never recorded.
# ``open_attempts`` holds exactly those requests (lib.calllog.summaries), so this is one key lookup.
IN_FLIGHT_SQL = "(e.kind = 'api_request' AND e.seq IN (SELECT seq FROM open_attempts))"
# One row per call: a request is shown by its result, unless it has none (then it is the row).
PER_CALL_SQL = f"(e.kind <> 'api_request' OR {IN_FLIGHT_SQL})"
# A result's own request (same attempt, through index entries_attempt_id): when the call was made.
REQUEST_JOIN = "LEFT JOIN entries AS q ON e.kind = 'api_result' AND q.attempt_id = e.attempt_id AND q.kind = 'api_request'"
ROW_SELECT = (f"SELECT {', '.join('e.' + c for c in ROW_COLUMNS)}, {IN_FLIGHT_SQL} AS in_flight, q.ts AS requested_ts "
              f"FROM entries AS e {REQUEST_JOIN}")
NEWEST_FIRST = "ORDER BY e.ts DESC, e.seq DESC"
FINISHED_SQL = f"e.outcome IN ({', '.join(repr(o) for o in OUTCOMES)})"
_EQUAL_COLUMNS = ("environment", "operator", "endpoint", "method")
_ID_COLUMNS = ("session_id", "order_id")
_TEXT_FIELDS = (*_EQUAL_COLUMNS, *_ID_COLUMNS, "outcome")
# Formula-leading characters spreadsheets act on (OWASP "CSV injection").
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
_SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True)
class AuditFilters:
    """One view of the log. None means "no filter"; empty strings are read as None (what an empty
    text box gives). ``session_id`` / ``order_id`` ending in ``*`` match by prefix. ``kinds``: any
    of these entry kinds (empty: all; ``CALL`` stands for a request and its result). ``per_call``:
    one row per call (a request answered by a result is read through its result), the view
    auditors read; False shows every entry."""

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
    kinds: tuple[str, ...] = ()
    per_call: bool = True

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        if not isinstance(self.kinds, tuple) or not all(isinstance(k, str) and k and "," not in k for k in self.kinds):
            raise ValueError(f"kinds must be a tuple of kind names (no commas), got {self.kinds!r}")
        object.__setattr__(self, "kinds", tuple(sorted(set(self.kinds))))
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
        if self.outcome is not None and self.outcome not in (*OUTCOMES, IN_FLIGHT):
            raise ValueError(f"outcome must be one of {', '.join((*OUTCOMES, IN_FLIGHT))}, got {self.outcome!r}")
        status = self.http_status
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise ValueError(f"http_status must be an HTTP status code (100-599), got {status!r}")


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
    if filters.kinds:
        kinds = sorted({k for kind in filters.kinds for k in (CALL_KINDS if kind == CALL else (kind,))})
        clauses.append(f"e.kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    if filters.per_call:
        clauses.append(PER_CALL_SQL)
    if filters.outcome == IN_FLIGHT:
        clauses.append(IN_FLIGHT_SQL)
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
        if field.name in ("since", "kinds", "per_call") or value is None:
            continue
        params[field.name] = utc_text(value) if isinstance(value, datetime) else str(value)
    if filters.kinds:
        params["kind"] = ",".join(filters.kinds)
    if not filters.per_call:
        params["rows"] = ENTRIES
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
    if mapping.get("kind"):
        values["kinds"] = tuple(mapping["kind"].split(","))
    rows = mapping.get("rows")
    if rows:
        if rows not in (ENTRIES, "calls"):
            raise ValueError(f"query parameter rows: {rows!r} is not calls or {ENTRIES}")
        values["per_call"] = rows != ENTRIES
    for field in fields(AuditFilters):
        text = mapping.get(field.name)
        if field.name in ("kinds", "per_call") or text is None or text == "" or (field.name == "since" and text == ALL_TIME):
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
        raise ValueError(f"query parameter {'kind: ' if 'kinds' in str(exc) else ''}{exc}") from None


