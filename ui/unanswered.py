"""Calls with no answer recorded (``lib.sessions.reconcile``), as the Session detail page shows them.

Each attempt says when it was sent and by whom, what having no answer means, what to do, and
offers the ways to settle it; each way appends a resolution entry pointing at the attempt.
Nothing here decides anything: the sessions service does, these only draw and call them.
"""
from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from lib.access.service import AccessService, Identity
from lib.sessions.service import (
    ApiError,
    Created,
    Environment,
    InvalidRequest,
    SessionsService,
    TransactionFacts,
    Unanswered,
    UnknownAttempt,
    amount_text,
    local_time,
)
from ui.once import once
from ui.pages import UPDATE
from ui.text import md
from ui.widgets import REFUSALS, live_confirmation, log_link, page_link, session_links, show_failure

OUTCOME = "unanswered_outcome"  # (attempt id, Created | resolution seq | exception)


def _settle(sessions: SessionsService, who: Identity, attempt_id: str, resolution: str, note_key: str,
            confirm_key: str) -> None:
    """Button callback: record the chosen resolution (or make the new session) for one attempt."""
    st.session_state.pop(OUTCOME, None)
    note = str(st.session_state.get(note_key) or "")
    try:
        if resolution == "recreated":
            outcome: object = sessions.unanswered_calls.new_session(who, attempt_id, note=note,
                                                                  confirm=st.session_state.get(confirm_key))
        else:
            outcome = sessions.unanswered_calls.resolve(who, attempt_id, resolution, note)
    except (ApiError, InvalidRequest, UnknownAttempt, ValueError, *REFUSALS) as exc:
        outcome = exc
    st.session_state[OUTCOME] = (attempt_id, outcome)


def unanswered_notice(sessions: SessionsService, env: Environment, who: Identity, attempt: Unanswered, tz: tzinfo) -> None:
    """One attempt: the facts, what it means, what to do, the ways to settle it and their outcome."""
    request, key = attempt.request, attempt.attempt_id
    with st.container(border=True):
        what = "Create" if attempt.is_create else "Update"
        st.warning(f"**No answer recorded** · {what} sent by {md(request['operator'])} at "
                   f"{local_time(attempt.sent_at, tz)} · {amount_text(request['amount'], request['currency'])}", icon="❔")
        st.caption("Order id")
        st.code(str(request["order_id"] or "—"), language=None)
        st.markdown(f"**What it means**: {attempt.meaning}")
        st.markdown(f"**What to do**: {attempt.todo}")
        log_link(request["seq"], "The unanswered request")
        action = "create" if attempt.is_create else "update"
        refused = AccessService.refusal(who, action, request["environment"])
        if refused is not None:
            st.caption(f"Settling it is for someone who may {action} sessions here: {md(refused)}.")
            return
        note_key, confirm_key = f"unanswered-note-{key}", f"unanswered-confirm-{key}"
        st.text_input("Note for the log (what you checked, whom you asked)", key=note_key)
        if attempt.is_create:
            facts = TransactionFacts.of(attempt.body)
            st.warning("If the first session does exist, **two sessions are live for this order** until it expires, "
                       "and the customer could pay either: share only the new link.", icon="⚠️")
            live_confirmation(env, facts.amount, facts.currency, key=confirm_key)
            st.button("New session for the same order", type="primary", icon="➕", key=f"unanswered-new-{key}",
                      **once(f"unanswered-new-{key}", _settle, sessions, who, key, "recreated", note_key, confirm_key))
            choices = ["left"]
        else:
            page_link(UPDATE, label="Send the same update again on the Update page", icon="🔁",
                      query={"session": str(request["session_id"])})
            choices = ["took_effect", "did_not_take_effect"]
        labels = {"left": "Leave it: no new session", "took_effect": "It took effect (the API holds it)",
                  "did_not_take_effect": "It did not take effect"}
        for column, choice in zip(st.columns(len(choices)), choices, strict=True):
            column.button(labels[choice], key=f"unanswered-{choice}-{key}", help=attempt.choices[choice],
                          **once(f"unanswered-{key}", _settle, sessions, who, key, choice, note_key, confirm_key))


def show_settled(tz: tzinfo) -> None:
    """What the last settling did: the new session, the resolution entry, or why it failed."""
    attempt_id, outcome = st.session_state.get(OUTCOME, (None, None))
    if attempt_id is None:
        return
    if isinstance(outcome, InvalidRequest):
        st.error("Nothing was sent: " + "; ".join(p["reason"] for p in outcome.problems), icon="✋")
    elif isinstance(outcome, Exception):
        show_failure(outcome)
    elif isinstance(outcome, Created):
        st.success(f"New session created for the same order, expiring at {local_time(outcome.expires_at, tz)}; "
                   "the unanswered attempt is recorded as resolved.", icon="✅")
        st.code(outcome.session_id, language=None)
        session_links(outcome.session_id)
    else:
        st.success("Resolution recorded in the log.", icon="🗒")
        log_link(int(outcome), "The resolution")


def unanswered_section(sessions: SessionsService, env: Environment, who: Identity, attempts: list[Unanswered],
                       tz: tzinfo, *, title: str) -> None:
    """A heading and one notice per attempt (nothing at all when there is none)."""
    show_settled(tz)
    if not attempts:
        return
    st.subheader(title)
    for attempt in attempts:
        unanswered_notice(sessions, env, who, attempt, tz)
