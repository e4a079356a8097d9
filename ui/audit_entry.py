"""The Audit log page's opened entry: its call's request and result in full, the chain's hashes,
and the timeline of the session it is about."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import streamlit as st

from lib.audit.service import AuditService, LogEntry, outcome_label, pretty_json
from ui.audit_tools import archived_entry
from ui.pages import DETAIL
from ui.text import md
from ui.widgets import page_link

ENTRY = "audit_entry"
# The log grids' columns fit 1280 px (the Audit log opens with the menu folded; tests/test_browser.py
# measures it): pixel widths sized to the usual values, the zone named once in the time heading,
# longer values cut short (the opened entry shows them whole). Missing values (a request has no
# HTTP status or duration yet) are blank cells, not the text "None".
GRID_WIDTHS = {"time": 128, "kind": 72, "environment": 96, "method": 58, "endpoint": 134, "HTTP status": 46,
               "outcome": 120, "order id": 128, "amount": 100, "operator": 140, "duration ms": 60}


def grid_config(time: Callable[[datetime | None], str]) -> dict[str, Any]:
    """Column settings of a log grid whose times ``time`` shows (its zone named in the heading)."""
    zone = time(datetime.now(UTC)).rsplit(" ", 1)[-1]
    text = {name: st.column_config.TextColumn(name, width=width) for name, width in GRID_WIDTHS.items()}
    return {**text, "time": st.column_config.TextColumn(
                f"time ({zone})", width=GRID_WIDTHS["time"],
                help="When it was logged; for a call, when it was made (its request). Newest first, a call by "
                     "when it was answered."),
            "HTTP status": st.column_config.NumberColumn("HTTP", format="%d", width=GRID_WIDTHS["HTTP status"],
                                                         help="HTTP status"),
            "duration ms": st.column_config.NumberColumn("ms", format="%.1f", width=GRID_WIDTHS["duration ms"],
                                                         help="Duration in milliseconds")}


MISSING = ""  # what an empty cell shows (st.dataframe's placeholder)


def _close() -> None:
    st.session_state[ENTRY] = None


def _title(e: LogEntry) -> str:
    label = {"api_request": "Request", "api_result": "Result"}.get(e.kind, e.kind)
    return f"{label} #{e.seq}"


def _half(e: LogEntry, seq: int, alone: bool, time: Callable[[datetime | None], str]) -> None:
    st.markdown(f"**{md(_title(e))}**{' ← opened' if e.seq == seq else ''}")
    st.markdown(f"{time(datetime.fromisoformat(e.ts))} · {md(e.kind)} · **{md(e.operator)}** · "
                f"{md(e.environment)}" + (f" · tags {md(', '.join(e.tags))}" if e.tags else ""))
    if e.method:
        outcome = outcome_label({"outcome": e.outcome}) if e.kind != "api_request" else ""
        status = f" → HTTP {e.http_status}" if e.http_status else ""
        took = f" in {e.duration_ms:.0f} ms" if e.duration_ms is not None else ""
        st.markdown(f"{md(e.method)} {md(e.path)}{status} {outcome}{took}")
    if alone and e.kind == "api_request":
        st.info("No result recorded: the call is in flight, or its outcome was never recorded.", icon="⏳")
    st.code(pretty_json(e.detail), language="json")
    st.code(f"hash      {e.hash}\nprev_hash {e.prev_hash}", language=None, wrap_lines=True)


def show_entry(audit: AuditService, seq: int, *, mask: bool, tz: tzinfo, time: Callable[[datetime | None], str]) -> None:
    head, close = st.columns([5, 1])
    head.subheader(f"Entry #{seq}")
    close.button("Close", icon="✖️", on_click=_close, key="audit_close_entry")
    view = audit.entry_view(seq, mask=mask)
    if view is None:
        st.warning(archived_entry(audit, seq) or f"There is no log entry #{seq}.")
        return
    for column, e in zip(st.columns(len(view.pair)), view.pair, strict=True):
        with column:
            _half(e, seq, len(view.pair) == 1, time)
    if view.session_id:
        st.markdown(f"**Timeline of session** {md(view.session_id)}")
        st.dataframe(audit.timeline_grid(view.session_id, tz), hide_index=True, key="audit_timeline",
                     column_config=grid_config(time), placeholder=MISSING)
        page_link(DETAIL, label="Session detail", icon="🔎", query={"session": view.session_id})
