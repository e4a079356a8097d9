"""What the session pages show, computed from typed sessions and calls with the clock passed in.

Pages only draw: the Active sessions fragment reruns every second, so the time left, the bar's
fraction and every label are computed here from an explicit ``now`` (tests pass fixed ones; the
fragment never ticks under AppTest). Rows are plain dicts whose keys are the column headers; a
column that links to another page holds the id it links with (a session id, a log entry's seq):
which page and URL that is, only the UI knows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lib.common import timefmt
from lib.fields import money
from lib.fields.schema import AMOUNT, TransactionFacts
from lib.sessions import countdown
from lib.sessions.models import Call, Change, Session, Version, amount_text


# The grid redraws every second: what never changes for a session (its amount) is formatted once
# and remembered, which is most of the cost of a row.
@lru_cache(maxsize=16384)
def _amount_text(amount: Decimal | None, currency: str | None) -> str:
    return amount_text(amount, currency)


def state_label(session: Session) -> str:
    """What a session's flag says: empty when all is well, a warning when an update is in doubt."""
    return "⚠️ uncertain" if session.uncertain else ""


def active_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Active sessions grid's columns, most important first so they fit a 1400 px screen:
    the countdown, what the session is, its links, then who made it (the number of updates is on
    the detail page). The State column is shown only when some row has something to say (it is
    empty for every normal session)."""
    columns = ["Left", "Remaining", "Order id", "Amount", "Session", "Update", "Created by"]
    if any(r.get("State") for r in rows):
        columns.insert(4, "State")  # beside the amount it is about
    return columns


def active_rows(sessions: Iterable[Session], now: datetime) -> list[dict[str, Any]]:
    """One row per active session (the registry's order: soonest expiry first) with its countdown.

    Kept lean because it runs every second for up to ~1,000 sessions inside the fragment.
    """
    return [{
        "Left": countdown.format_mmss(countdown.time_left(s.expires_at, now)),
        "Remaining": countdown.fraction_left(s.created_at, s.expires_at, now),
        "Order id": s.order_id,
        "Amount": _amount_text(s.amount, s.currency),
        "State": state_label(s),
        "Created by": s.created_by,
        "Session": s.session_id,
        "Update": s.session_id,
    } for s in sessions]


def expired_rows(sessions: Iterable[Session], now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """One row per recently expired session (whether it was paid: ``PaymentsService.statuses``)."""
    return [{
        "Session": s.session_id,
        "Order id": s.order_id,
        "Amount": s.amount_text,
        "Created by": s.created_by,
        "Expired": timefmt.local(s.expires_at, tz),
        "Ago": countdown.format_mmss(now - s.expires_at),
    } for s in sessions]


def session_label(session: Session, tz: tzinfo) -> str:
    """``order-1 · 15.02 GBP · expires 12:10:00 UTC`` for pickers.

    Why not the time left: Streamlit 1.67's selectbox sends back the *label* and maps it to the
    option through the labels of the next run; a label that ticks no longer matches, and the
    widget's value becomes the stale label text (seen in the browser). Labels must be stable, so
    the page shows the live countdown beside the picker instead.
    """
    local = session.expires_at.astimezone(tz)
    return f"{session.order_id} · {session.amount_text} · expires {local:%H:%M:%S %Z}"


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


def change_rows(changes: Iterable[Change], currency: str | None = None) -> list[dict[str, str]]:
    """Before → after rows of a version's changes."""
    return [{"Field": c.path, "Before": _cell(c.path, c.before, currency),
             "After": _cell(c.path, c.after, currency)} for c in changes]


def changes_text(changes: Sequence[Change], currency: str | None = None, limit: int = 4) -> str:
    """One line for a version: ``transaction.amount: 15.02 → 20.00; …`` (``created`` for version 1
    is left to the caller, which knows the version number)."""
    parts = [f"{r['Field']}: {r['Before']} → {r['After']}" for r in change_rows(changes[:limit], currency)]
    if len(changes) > limit:
        parts.append(f"… {len(changes) - limit} more")
    return "; ".join(parts)


def version_rows(history: Iterable[Version], tz: tzinfo) -> list[dict[str, Any]]:
    """Every version of a session, newest first: who, when (local), what changed, the log entry."""
    rows = []
    for v in history:
        facts = TransactionFacts.of(v.params)
        rows.append({
            "Version": v.version,
            "When": timefmt.local(v.at, tz),
            "Who": v.operator,
            "Amount": amount_text(facts.amount, facts.currency),
            "Changes": "created" if v.version == 1 else (changes_text(v.changes, facts.currency) or "no change"),
            "Log entry": v.entry_seq,
        })
    return rows[::-1]


def call_rows(calls: Iterable[Call], tz: tzinfo) -> list[dict[str, Any]]:
    """The calls as grid rows, each pointing at its log entry."""
    return [{
        "When": timefmt.local(c.at, tz),
        "Who": c.operator,
        "Call": f"{c.method} {c.path}",
        "Outcome": c.label,
        "HTTP": c.http_status,
        "ms": None if c.duration_ms is None else round(c.duration_ms),
        "Log entry": c.seq,
    } for c in calls]
