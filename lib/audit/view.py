"""The Audit log page's view: the filters plus what the URL carries besides them, and the grid.

The page keeps its whole state in the URL (a view is shared as a link), as the filters' own
parameters plus ``range`` (a sliding preset), ``entry`` (the opened entry) and ``page_no``.
Reading a URL never raises: each parameter is read on its own, so one bad value in a shared
link costs that filter only, and the page names it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pandas as pd

from lib.access.events import (
    ACCESS_DENIED,
    AUDIT_VIEW,
    SESSION_START,
    SIGN_IN,
    SIGN_IN_REFUSED,
    SIGN_OUT,
    TAB_START,
)
from lib.audit.filters import (
    ALL_TIME,
    CALL,
    CALL_KINDS,
    DEFAULT_WINDOW,
    AuditFilters,
    from_query_params,
    to_query_params,
)
from lib.calllog.kinds import ARCHIVE, CHECKPOINT, EXPORT, PAYMENT_RESOLUTION, WEBHOOK
from lib.calllog.outcome import Outcome
from lib.common import timefmt
from lib.sessions.reconcile import RESOLUTION

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
# The kind filter's choices, as people read them (a kind the log holds that is not here shows as it is).
KIND_LABELS = {
    CALL: "API call", "api_request": "API request (half of a call)", "api_result": "API result (half of a call)",
    WEBHOOK: "Webhook", PAYMENT_RESOLUTION: "Money operation settled by a person",
    RESOLUTION: "Unanswered call settled by a person", EXPORT: "Export", CHECKPOINT: "Checkpoint", ARCHIVE: "Archive",
    SIGN_IN: "Sign-in", SIGN_OUT: "Sign-out", SIGN_IN_REFUSED: "Sign-in refused", ACCESS_DENIED: "Access denied",
    TAB_START: "Console tab opened", AUDIT_VIEW: "Audit log viewed",
    SESSION_START: "Console visit (older entries)",
}
KINDS = tuple(KIND_LABELS)
# Every console visit and every view of this page is logged: they would fill the first page, so
# the opening view leaves them out (and says so); the halves of a call are covered by CALL.
NOISE = (TAB_START, AUDIT_VIEW, SESSION_START)
DEFAULT_KINDS = tuple(k for k in KINDS if k not in (*NOISE, *CALL_KINDS))
ALL_KINDS = "all"  # the URL value of ``kind`` for every kind (an absent ``kind`` means DEFAULT_KINDS)
METHODS = ("GET", "POST", "PUT", "DELETE")
CALL_KIND = "call"  # what the grid's kind column says of a call read as one row
# Left to right by what an auditor reads first: when, what, where, with what result, for which order;
# at 1280 px they all fit (the Audit log page opens with its menu folded).
GRID_COLUMNS = ("time", "kind", "environment", "method", "endpoint", "HTTP status", "outcome", "order id", "amount",
                "operator", "duration ms")
# URL parameter → the filter field it sets (the kinds travel as ``kind``, the row mode as ``rows``).
_FILTER_PARAMS = {"kind": "kinds", "rows": "per_call",
                  **{f.name: f.name for f in fields(AuditFilters) if f.name not in ("kinds", "per_call")}}


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
    for param, name in _FILTER_PARAMS.items():
        if param not in mapping or (param == "kind" and mapping[param] == ALL_KINDS):
            continue
        try:
            values[name] = getattr(from_query_params({param: mapping[param]}), name)
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
    if "kind" not in mapping:
        values["kinds"] = DEFAULT_KINDS
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
    if not view.filters.kinds:
        params["kind"] = ALL_KINDS
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
        return Outcome.IN_FLIGHT.label
    outcome = row.get("outcome")
    return "" if outcome is None else Outcome.label_of(outcome)


def kind_label(kind: str) -> str:
    """How the kind filter names ``kind``."""
    return KIND_LABELS.get(kind, kind)


def hidden_kinds(kinds: tuple[str, ...]) -> list[str]:
    """The kinds of ``KINDS`` a kind filter leaves out (none when it is empty: every kind shows)."""
    shown = {k for kind in kinds for k in (CALL_KINDS if kind == CALL else (kind,))}
    return [k for k in KINDS if kinds and not set(CALL_KINDS if k == CALL else (k,)) <= shown]


def default_view(now: datetime) -> AuditView:
    """The page's opening view (and what "Reset filters" goes back to)."""
    return view_from_query_params({}, now)[0]


def _amount(row: Mapping[str, Any]) -> str | None:
    if row["amount"] is None:
        return None
    return f"{row['amount']} {(row['currency'] or '').upper()}".rstrip()


def grid_frame(rows: list[dict[str, Any]], tz: tzinfo, *, per_call: bool) -> pd.DataFrame:
    """Grid rows (from ``page`` or ``session_timeline``) as the table people read: local times (the
    column's heading names the zone, which would cost every row width), the amount as exact text with its currency, outcome words instead of codes.
    ``per_call``: a call is one row, kind "call", timed by its request (when it was made)."""
    def when(r: Mapping[str, Any]) -> str:
        ts: str = (per_call and r.get("requested_ts")) or r["ts"]
        return timefmt.local(datetime.fromisoformat(ts), tz, zone=False)

    data = [
        (when(r), CALL_KIND if per_call and r["kind"] in CALL_KINDS else r["kind"], r["environment"], r["method"],
         r["endpoint"], r["http_status"], outcome_label(r), r["order_id"], _amount(r), r["operator"], r["duration_ms"])
        for r in rows
    ]
    frame = pd.DataFrame(data, columns=list(GRID_COLUMNS))
    return frame.astype({"HTTP status": "Int64", "duration ms": "float64"})
