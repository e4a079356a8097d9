"""Session detail (read-only, deep-linkable ``?session=<id>``): parameters, versions, calls, link."""
from __future__ import annotations

import streamlit as st

from lib.sessions import countdown
from lib.sessions import form_values as forms
from lib.access import masking
from lib.sessions import rows as session_rows
from lib.sessions.console import UnknownSession
from ui.frame import frame
from ui.text import md
from ui.unanswered import unanswered_section
from ui.widgets import (UPDATE_PAGE, expired_notice, live_countdown, log_link, page_link, payment_link_block)

PICK = "detail_pick"
INCLUDE_QA = "detail_include_qa"
LOG_LINK = st.column_config.LinkColumn("Log entry", display_text=r"entry=(\d+)$", help="Opens the audit log entry")

f = frame("Session detail", icon="🔎")


def follow_pick() -> None:
    """The URL carries the session, so the page can be shared as a link."""
    if st.session_state[PICK] is not None:
        st.query_params["session"] = st.session_state[PICK]


def picker() -> None:
    """Without ``?session=``: the environment's sessions of the last day, newest first."""
    include_qa = st.toggle("Include QA-run sessions", key=INCLUDE_QA,
                           help="Sessions made by automated QA runs (tagged qa-run:…) are hidden by default.")
    recent = f.console.recent_sessions(f.env_name, include_qa=include_qa)
    if not recent:
        st.info(f"No sessions in **{f.env_name}** in the last day. Open a session from Active sessions, or add "
                "`?session=<id>` to the address.", icon="💤")
        return
    labels = {s["session_id"]: f"{session_rows.session_label(s, f.tz)} · {s['created_by']}" for s in recent}
    if st.session_state.get(PICK) not in (None, *labels):
        st.session_state[PICK] = None  # a session gone from the list
    st.selectbox("Session (order id · amount · expiry · creator)", list(labels), index=None, key=PICK,
                 format_func=labels.__getitem__, on_change=follow_pick, placeholder="Pick a recent session…")


session_id = (st.query_params.get("session") or "").strip()
if not session_id:
    picker()
    unanswered_section(f.console, f.env, f.identity, f.console.unanswered(f.env_name), f.tz,
                       title="Calls with no answer recorded")
    st.stop()
try:
    view = f.console.session_view(session_id)
except UnknownSession:
    st.error("No session with this id was created through this console. The API cannot look sessions up, so "
             "only sessions made here can be shown.", icon="🔍")
    st.code(session_id, language=None)
    st.stop()

s = masking.mask_session(view.session, enabled=f.mask)
history = masking.mask_history(view.history, enabled=f.mask)
now = f.console.clock()
expired = countdown.is_expired(s["expires_at"], now)
st.markdown(f"**{md(s['order_id'])}** · {session_rows.amount_text(s)} · environment **{s['environment']}** · "
            f"created by {md(s['created_by'])} at {f.time(s['created_at'])}")
st.code(s["session_id"], language=None)
if s.get("tags"):
    st.caption("Tags: " + md(", ".join(s["tags"])))
if s["state"] == session_rows.UNCERTAIN:
    st.error("**Amount uncertain**: an update got no answer. Resolve it on the Update page.", icon="❓")
    page_link(UPDATE_PAGE, label="Resolve on the Update page", icon="✏️", query={"session": s["session_id"]})
unanswered_section(f.console, f.env, f.identity, view.unanswered, f.tz, title="Updates with no answer recorded")
if expired:
    expired_notice(s["expires_at"], f.tz)
else:
    st.markdown(f"Expires at **{f.time(s['expires_at'])}**")
    live_countdown(s["created_at"], s["expires_at"], key="detail", clock=f.console.clock)
    page_link(UPDATE_PAGE, label="Update this session", icon="✏️", query={"session": s["session_id"]})

params_tab, versions_tab, calls_tab, link_tab = st.tabs(
    ["Parameters now", f"Versions ({len(history)})", "Calls", "Payment link"])
with params_tab:
    st.code(forms.preview_json(s["params"]), language="json")
with versions_tab:
    st.dataframe(session_rows.version_rows(history, f.tz), hide_index=True, width="stretch",
                 column_config={"Log entry": LOG_LINK})
    for version in reversed(history):
        if version["version"] > 1 and version["changes"]:
            with st.expander(f"Version {version['version']}: {version['operator']} at {f.time(version['at'])}"):
                st.dataframe(session_rows.change_rows(version["changes"], s["currency"]), hide_index=True,
                             width="stretch")
                log_link(version["entry_seq"], "The update's log entry")
with calls_tab:
    calls = session_rows.calls_of(view.calls)
    st.caption("Every API call about this session, oldest first (the create call included).")
    st.dataframe(session_rows.call_rows(calls, f.tz), hide_index=True, width="stretch",
                 column_config={"Log entry": LOG_LINK})
    with st.expander("Open a call's log entry", expanded=len(calls) <= 4):
        for call in calls:
            log_link(call.seq, f"{f.time(call.at)} · {call.method} {call.path} · {call.outcome}")
with link_tab:
    payment_link_block(view.link, view.link_error, amount=s["amount"], currency=s["currency"],
                       expires_at=s["expires_at"], tz=f.tz, order_id=s["order_id"], expired=expired)
