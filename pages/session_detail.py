"""Session detail (read-only, deep-linkable ``?session=<id>``): parameters, versions, calls, link."""
from __future__ import annotations

import streamlit as st

from lib.sessions.service import SessionNotFound, call_rows, change_rows, preview_json, version_rows
from ui.frame import frame
from ui.pages import DETAIL, UPDATE
from ui.payment_status import payment_section
from ui.session_picker import pick
from ui.text import md
from ui.unanswered import unanswered_section
from ui.widgets import (
    ENTRY_LINK,
    TO_ENTRY,
    expired_notice,
    linked,
    live_countdown,
    log_link,
    page_link,
    payment_link_block,
)

f = frame(DETAIL)

session_id = (st.query_params.get("session") or "").strip() or pick(
    lambda qa: f.sessions.recent(f.env_name, include_qa=qa), f.tz, key="detail_pick", toggle_key="detail_include_qa",
    label="Session (order id · amount · expiry · creator)", placeholder="Pick a recent session…", with_creator=True,
    empty=f"No sessions in {f.env_name} in the last day. Open a session from Active sessions, or add "
          "?session=<id> to the address.")
if not session_id:
    unanswered_section(f.sessions, f.env, f.identity, f.sessions.unanswered_calls.all(f.env_name), f.tz,
                       title="Calls with no answer recorded")
    st.stop()
try:
    view = f.sessions.view(session_id, mask=f.mask)
except SessionNotFound:
    st.error("No session with this id was created through this console. The API cannot look sessions up, so "
             "only sessions made here can be shown.", icon="🔍")
    st.code(session_id, language=None)
    st.stop()

s = view.session
shared = f.sessions.share(s, f.tz)
st.markdown(f"**{md(s.order_id)}** · {s.amount_text} · environment **{md(s.environment)}** · "
            f"created by {md(s.created_by)} at {f.time(s.created_at)}")
st.code(s.session_id, language=None)
if s.tags:
    st.caption("Tags: " + md(", ".join(s.tags)))
if s.uncertain:
    st.error("**Amount uncertain**: an update got no answer. Resolve it on the Update page.", icon="❓")
    page_link(UPDATE, label="Resolve on the Update page", icon="✏️", query={"session": s.session_id})
unanswered_section(f.sessions, f.env, f.identity, list(view.unanswered), f.tz, title="Updates with no answer recorded")
if shared.expired:
    expired_notice(s.expires_at, f.tz)
else:
    st.markdown(f"Expires at **{f.time(s.expires_at)}**")
    live_countdown(s.created_at, s.expires_at, key="detail", clock=f.sessions.clock)
    page_link(UPDATE, label="Update this session", icon="✏️", query={"session": s.session_id})

st.subheader("Payment")
payment_section(f.payments, s.environment, f.identity, s.session_id, f.tz, key="detail")

params_tab, versions_tab, calls_tab, link_tab = st.tabs(
    ["Parameters now", f"Versions ({len(view.history)})", "Calls", "Payment link"])
with params_tab:
    st.code(preview_json(s.params), language="json")
with versions_tab:
    st.dataframe(linked(version_rows(view.history, f.tz), TO_ENTRY), hide_index=True, width="stretch",
                 column_config={"Log entry": ENTRY_LINK})
    for version in reversed(view.history):
        if version.version > 1 and version.changes:
            with st.expander(f"Version {version.version}: {md(version.operator)} at {f.time(version.at)}"):
                st.dataframe(change_rows(version.changes, s.currency), hide_index=True, width="stretch")
                log_link(version.entry_seq, "The update's log entry")
with calls_tab:
    st.caption("Every API call about this session, oldest first (the create call included).")
    st.dataframe(linked(call_rows(view.calls, f.tz), TO_ENTRY), hide_index=True, width="stretch",
                 column_config={"Log entry": ENTRY_LINK})
    with st.expander("Open a call's log entry", expanded=len(view.calls) <= 4):
        for call in view.calls:
            log_link(call.seq, f"{f.time(call.at)} · {call.method} {call.path} · {call.label}")
with link_tab:
    payment_link_block(shared, order_id=s.order_id)
