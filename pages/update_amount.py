"""Update amount: change a live session's amount (or other updatable fields), seeing before → after."""
from __future__ import annotations

from typing import Any

import streamlit as st

from lib.sessions.service import (
    AMOUNT,
    ApiError,
    InvalidRequest,
    SessionExpired,
    SessionNotFound,
    change_rows,
    leaf,
    preview_json,
    update_defaults,
    version_rows,
)
from ui.field_widgets import current_values, field, session_form, visible_problems
from ui.frame import frame
from ui.once import once
from ui.pages import DETAIL, UPDATE
from ui.session_picker import pick
from ui.text import md
from ui.update_parts import refused, uncertain_banner
from ui.widgets import (
    ENTRY_LINK,
    REFUSALS,
    TO_ENTRY,
    linked,
    live_confirmation,
    live_countdown,
    log_link,
    page_link,
    problems_of,
    show_failure,
)

PICK = "upd_session"
OUTCOME = "upd_outcome"  # (session id, Updated | exception): shown only with that session
TOAST = "upd_toast"
RECREATED = "upd_recreated"
CONFIRM = "upd_live_confirm"  # the typed amount of a live update or recreate
RESEND_CONFIRM = "upd_live_confirm_resend"

f = frame(UPDATE)


def prefix_of(session_id: str) -> str:
    """Widgets are keyed per session, so each starts from that session's own values."""
    return f"upd:{session_id}"


def settle(session_id: str, send: Any, toast: str) -> None:
    """Run one send (a button callback), keep its outcome for the page, and on success say so and
    set the picker again, which sends its label anew: it shows the new amount, not the old one."""
    st.session_state.pop(OUTCOME, None)
    try:
        outcome = send()
    except (InvalidRequest, ApiError, SessionExpired, LookupError, *REFUSALS) as exc:
        st.session_state[OUTCOME] = (session_id, exc)
        return
    st.session_state[OUTCOME] = (session_id, outcome)
    st.session_state[TOAST] = toast.format(version=f.sessions.session(session_id).version)
    st.session_state[PICK] = session_id


def confirm(session_id: str) -> None:
    settle(session_id, lambda: f.sessions.update(f.env_name, f.identity, session_id, current_values(prefix_of(session_id)),
                                                 confirm=st.session_state.get(CONFIRM)),
           "Session updated: version {version} recorded.")


def resend(session_id: str, patch: dict[str, Any]) -> None:
    settle(session_id, lambda: f.sessions.resend_update(f.env_name, f.identity, session_id, patch,
                                                        confirm=st.session_state.get(RESEND_CONFIRM)),
           "Update sent again and confirmed: the amount is certain now.")


session_id = pick(lambda qa: f.sessions.active(f.env_name, include_qa=qa), f.tz, key=PICK, toggle_key="upd_include_qa",
                  label="Session (order id · amount · expiry)", placeholder="Pick an active session…",
                  empty=f"No active sessions in {f.env_name}. Create one on the New session page.")
if not session_id:
    st.stop()
try:
    session = f.sessions.session(session_id)
except SessionNotFound:
    st.error("No session with this id was created through this console (the API cannot look one up):", icon="🔍")
    st.code(session_id, language=None)
    st.stop()
if toast := st.session_state.pop(TOAST, None):
    st.toast(toast, icon="✅")
outcome_for, outcome = st.session_state.get(OUTCOME, (None, None))
outcome = outcome if outcome_for == session_id else None
if refused(f.sessions, f.env, f.identity, session, outcome if isinstance(outcome, SessionExpired) else None,
           recreated_key=RECREATED, confirm_key=CONFIRM, tz=f.tz):
    st.stop()

st.markdown(f"Session {md(session_id)} · order **{md(session.order_id)}** · created by {md(session.created_by)} · "
            f"expires at **{f.time(session.expires_at)}**")
live_countdown(session.created_at, session.expires_at, key="update", clock=f.sessions.clock)
uncertain_banner(f.sessions, f.env, session, mask=f.mask, time=f.time, confirm_key=RESEND_CONFIRM, resend=resend)

prefix = prefix_of(session_id)
defaults = update_defaults(session.params)
typed = current_values(prefix)
preview = f.sessions.preview_update(session, typed)
failure = outcome if isinstance(outcome, Exception) else None
shown = visible_problems(preview.problems, typed, failure, problems_of(failure))

edit_col, now_col = st.columns([3, 2], gap="large")
with edit_col:
    st.subheader("New amount")
    field(leaf(AMOUNT), problems={p["parameter"]: p for p in shown}, prefix=prefix, default=defaults.get(AMOUNT))
    st.markdown("**Other updatable fields**")
    session_form(problems=[p for p in shown if p["parameter"] != AMOUNT], prefix=prefix, defaults=defaults,
                 only=lambda lf: lf.updatable and lf.path != AMOUNT, expanded_groups=())
with now_col:
    st.subheader("Current parameters")
    st.code(preview_json(f.sessions.masked(session.params) if f.mask else session.params), language="json")

st.subheader("Before → after")
if preview.changes:  # a dataframe shows cells as text, never as Markdown
    st.dataframe(change_rows(preview.changes, preview.facts.currency), hide_index=True, width="stretch")
    with st.expander("The request that will be sent"):
        st.code(preview_json(preview.patch), language="json")
    live_confirmation(f.env, preview.facts.amount, preview.facts.currency, key=CONFIRM)
    st.button("Confirm update", type="primary", icon="✅", disabled=bool(preview.problems),
              **once(f"update:{session_id}", confirm, session_id))
else:
    st.caption("Nothing changed yet: edit the amount or another field above.")
if preview.problems and not failure:
    st.caption(f"{len(preview.problems)} problem(s) to fix before sending, shown at their fields.")
if failure:
    show_failure(failure)
elif outcome is not None:
    st.success(f"Updated: the amount is now **{session.amount_text}**, recorded as version {session.version}.", icon="✅")
    log_link(outcome.entry_seq)

st.subheader("History")
history = version_rows(f.sessions.history(session_id, mask=f.mask), f.tz)
st.dataframe(linked(history, TO_ENTRY), hide_index=True, width="stretch", column_config={"Log entry": ENTRY_LINK})
page_link(DETAIL, label="Everything about this session", icon="🔎", query={"session": session_id})
