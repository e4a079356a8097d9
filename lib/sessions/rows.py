"""What the session pages show, computed from registry rows and log entries with the clock passed in.

Pages only draw: the Active sessions fragment reruns every second, so the time left, the bar's
fraction and every label are computed here from an explicit ``now`` (tests pass fixed ones; the
fragment never ticks under AppTest). Rows are plain dicts whose keys are the column headers.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from lib.sessions import countdown
from lib.fields import money
from lib.common import timefmt
from lib.storage.db import parse_utc
from lib.fields.schema import AMOUNT
from lib.sessions.reconcile import RESOLUTION

DETAIL_URL = "/session_detail"
UPDATE_URL = "/update_amount"
AUDIT_URL = "/audit_log"
EXPIRED_NOTE = "expired — payment outcome not known here"
UNCERTAIN = "amount_uncertain"
UPDATE_ENDPOINT = "/v1/payment-sessions/{session_id}"


def url(page: str, **query: str | int) -> str:
    """A relative page URL with its query (ids are quoted, so no id can change the URL's shape)."""
    return f"{page}?{urlencode({k: str(v) for k, v in query.items()})}"


def amount_text(session: Mapping[str, Any]) -> str:
    """``15.02 GBP``; tolerant of a row without amount or with an unknown currency."""
    return _amount_text(session.get("amount"), session.get("currency"))


# The grid redraws every second: what never changes for a session (its amount, its creation time,
# its URLs) is formatted once and remembered, which is most of the cost of a row.
@lru_cache(maxsize=16384)
def _amount_text(amount: Decimal | None, currency: str | None) -> str:
    if amount is None or not currency:
        return "—"
    return money.format_amount(amount, str(currency))


@lru_cache(maxsize=16384)
def _local(moment: datetime, tz: tzinfo) -> str:
    return timefmt.local(moment, tz)


@lru_cache(maxsize=16384)
def _urls(session_id: str) -> tuple[str, str]:
    """(detail URL, update URL) of a session."""
    return url(DETAIL_URL, session=session_id), url(UPDATE_URL, session=session_id)


def state_label(session: Mapping[str, Any]) -> str:
    """What a session's flag says: empty when all is well, a warning when an update is in doubt."""
    return "⚠️ uncertain" if session.get("state") == UNCERTAIN else ""


def active_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Active sessions grid's columns, most important first so they fit a 1400 px screen:
    the countdown, what the session is, its links, then who made it (the number of updates is on
    the detail page). The State column is shown only when some row has something to say (it is
    empty for every normal session)."""
    columns = ["Left", "Remaining", "Order id", "Amount", "Session", "Update", "Created by"]
    if any(r.get("State") for r in rows):
        columns.insert(4, "State")  # beside the amount it is about
    return columns


def active_rows(sessions: Iterable[Mapping[str, Any]], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """One row per active session (the registry's order: soonest expiry first) with its countdown.

    Kept lean because it runs every second for up to ~1,000 sessions inside the fragment.
    """
    rows = []
    for s in sessions:
        detail, update = _urls(s["session_id"])
        created, expires = s["created_at"], s["expires_at"]
        rows.append({
            "Left": countdown.format_mmss(countdown.time_left(expires, now)),
            "Remaining": countdown.fraction_left(created, expires, now),
            "Order id": s["order_id"],
            "Amount": _amount_text(s["amount"], s["currency"]),
            "State": state_label(s),
            "Created by": s["created_by"],
            "Session": detail,
            "Update": update,
        })
    return rows


def expired_rows(sessions: Iterable[Mapping[str, Any]], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """One row per recently expired session, saying plainly that we do not know if it was paid
    (the API reports payment outcomes only by webhook)."""
    return [{
        "Session": url(DETAIL_URL, session=s["session_id"]),
        "Order id": s["order_id"],
        "Amount": amount_text(s),
        "Created by": s["created_by"],
        "Expired": timefmt.local(s["expires_at"], tz),
        "Ago": countdown.format_mmss(now - s["expires_at"]),
        "Status": EXPIRED_NOTE,
    } for s in sessions]


def session_label(session: Mapping[str, Any], tz: tzinfo) -> str:
    """``order-1 · 15.02 GBP · expires 12:10:00 UTC`` for pickers.

    Why not the time left: Streamlit 1.67's selectbox sends back the *label* and maps it to the
    option through the labels of the next run; a label that ticks no longer matches, and the
    widget's value becomes the stale label text (seen in the browser). Labels must be stable, so
    the page shows the live countdown beside the picker instead.
    """
    local = session["expires_at"].astimezone(tz)
    return f"{session['order_id']} · {amount_text(session)} · expires {local:%H:%M:%S %Z}"


def value_text(value: Any) -> str:
    """A parameter value as a cell: ``—`` for absent, JSON for lists and objects, exact decimals."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _cell(path: str, value: Any, currency: str | None) -> str:
    """A changed value as text; amounts with the currency's decimals (stored JSON says 18.0), never
    rounded: ``1.234`` typed is shown as ``1.234``, not as the ``1.23`` that would not be sent."""
    if path == AMOUNT and isinstance(value, (Decimal, int)) and not isinstance(value, bool) and currency:
        return money.plain(value, currency)
    return value_text(value)


def change_rows(changes: Iterable[Mapping[str, Any]], currency: str | None = None) -> list[dict[str, str]]:
    """Before → after rows of ``registry.diff_params`` output."""
    return [{"Field": c["path"], "Before": _cell(c["path"], c["before"], currency),
             "After": _cell(c["path"], c["after"], currency)} for c in changes]


def changes_text(changes: Sequence[Mapping[str, Any]], currency: str | None = None, limit: int = 4) -> str:
    """One line for a version: ``transaction.amount: 15.02 → 20.00; …`` (``created`` for version 1
    is left to the caller, which knows the version number)."""
    parts = [f"{r['Field']}: {r['Before']} → {r['After']}" for r in change_rows(changes[:limit], currency)]
    if len(changes) > limit:
        parts.append(f"… {len(changes) - limit} more")
    return "; ".join(parts)


def version_rows(history: Iterable[Mapping[str, Any]], tz: tzinfo) -> list[dict[str, Any]]:
    """Every version of a session, newest first: who, when (local), what changed, the log entry."""
    rows = []
    for v in history:
        amount = (v["params"].get("transaction") or {}).get("amount")
        currency = (v["params"].get("transaction") or {}).get("currency")
        rows.append({
            "Version": v["version"],
            "When": timefmt.local(v["at"], tz),
            "Who": v["operator"],
            "Amount": amount_text({"amount": amount, "currency": currency}),
            "Changes": "created" if v["version"] == 1 else (changes_text(v["changes"], currency) or "no change"),
            "Log entry": url(AUDIT_URL, entry=v["entry_seq"]),
        })
    return rows[::-1]


@dataclass(frozen=True)
class Call:
    """One API call about a session: its request and (when it finished) its result."""

    seq: int  # the entry to open: the result when there is one, else the request
    at: datetime
    operator: str
    method: str
    path: str
    outcome: str  # ok / http_error / network_error / unknown_outcome / in_flight / resolved
    http_status: int | None
    duration_ms: float | None
    attempt_id: str | None


def calls_of(timeline: Iterable[Mapping[str, Any]]) -> list[Call]:
    """Fold ``audit.session_timeline`` entries (request + result per attempt) into one call each,
    oldest first; a request without a result is still in flight (or its outcome was never written),
    unless a person recorded a resolution for it (``lib.sessions.reconcile``): then it is ``resolved``."""
    calls: dict[str, Call] = {}
    resolved: list[str] = []
    for e in timeline:
        if e["kind"] == RESOLUTION:
            resolved.append(e.get("attempt_id") or "")
            continue
        key = e.get("attempt_id") or f"seq-{e['seq']}"
        if e["kind"] == "api_request":
            calls.setdefault(key, Call(e["seq"], _at(e["ts"]), e["operator"], e.get("method") or "", e.get("path") or "",
                                       "in_flight", None, None, e.get("attempt_id")))
        elif e["kind"] == "api_result":
            first = calls.get(key)
            calls[key] = Call(e["seq"], first.at if first else _at(e["ts"]), e["operator"], e.get("method") or "",
                              e.get("path") or "", e.get("outcome") or "", e.get("http_status"),
                              e.get("duration_ms"), e.get("attempt_id"))
    for key in resolved:
        if key in calls and calls[key].outcome == "in_flight":
            calls[key] = replace(calls[key], outcome="resolved")
    return list(calls.values())


_OUTCOME_LABEL = {"ok": "✅ ok", "http_error": "🚫 refused", "network_error": "🔌 not sent",
                  "unknown_outcome": "❓ outcome unknown", "in_flight": "⏳ in flight",
                  "resolved": "🗒 no answer, resolved"}


def call_rows(calls: Iterable[Call], tz: tzinfo) -> list[dict[str, Any]]:
    """The calls as grid rows, each pointing at its log entry."""
    return [{
        "When": timefmt.local(c.at, tz),
        "Who": c.operator,
        "Call": f"{c.method} {c.path}",
        "Outcome": _OUTCOME_LABEL.get(c.outcome, c.outcome),
        "HTTP": c.http_status,
        "ms": None if c.duration_ms is None else round(c.duration_ms),
        "Log entry": url(AUDIT_URL, entry=c.seq),
    } for c in calls]


def _at(ts: datetime | str) -> datetime:
    """Log rows carry their time as the stored UTC text."""
    return ts if isinstance(ts, datetime) else parse_utc(ts)


def unanswered_update(calls: Sequence[Call], *, stale_before: datetime | None = None) -> Call | None:
    """The last update whose outcome is unknown, unless a later update of this session succeeded.

    Why: the registry marks a session ``amount_uncertain`` but nothing clears the mark, so a
    later successful update (usually the resend) is what settles it. An update with no answer
    recorded at all counts too once it was sent before ``stale_before`` (no answer can come).
    """
    pending: Call | None = None
    for c in calls:
        if c.method != "PUT":
            continue
        if c.outcome == "unknown_outcome" or (
                c.outcome == "in_flight" and stale_before is not None and c.at <= stale_before):
            pending = c
        elif c.outcome == "ok":
            pending = None
    return pending
