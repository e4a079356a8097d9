"""Calls with no answer recorded (``lib.sessions.reconcile``), as the Session detail page shows them.

Each attempt says when it was sent and by whom, what having no answer means, what to do, and
offers the ways to settle it; each way appends a resolution entry pointing at the attempt.
Nothing here decides anything: the console's methods do, these only draw and call them.
"""
from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from lib.access import policy as access
from lib.fields import money
from lib.common import timefmt
from lib.access.policy import Identity
from lib.api.client import Created
from lib.settings import Environment
from lib.sessions.console import Console, UnknownAttempt
from lib.api.errors import ApiError
from lib.sessions.reconcile import CHOICES, CREATE, Unanswered
from lib.fields.validation import InvalidRequest
from ui.widgets import REFUSALS, UPDATE_PAGE, live_confirmation, log_link, page_link, session_links, show_failure

OUTCOME = "unanswered_outcome"  # (attempt id, Created | resolution seq | exception)


def _settle(console: Console, who: Identity, attempt_id: str, resolution: str, note_key: str,
            confirm_key: str) -> None:
    """Button callback: record the chosen resolution (or make the new session) for one attempt."""
    st.session_state.pop(OUTCOME, None)
    note = str(st.session_state.get(note_key) or "")
    try:
        if resolution == "recreated":
            outcome: object = console.new_session_for_unanswered(who, attempt_id, note=note,
                                                                  confirm=st.session_state.get(confirm_key))
        else:
            outcome = console.resolve_unanswered(who, attempt_id, resolution, note)
    except (ApiError, InvalidRequest, UnknownAttempt, ValueError, *REFUSALS) as exc:
        outcome = exc
    st.session_state[OUTCOME] = (attempt_id, outcome)


def _amount(attempt: Unanswered) -> str:
    request = attempt.request
    if request["amount"] is None or not request["currency"]:
        return "—"
    try:
        return money.format_amount(request["amount"], request["currency"])
    except (ValueError, ArithmeticError):
        return f"{request['amount']} {str(request['currency']).upper()}"


def unanswered_notice(console: Console, env: Environment, who: Identity, attempt: Unanswered, tz: tzinfo) -> None:
    """One attempt: the facts, what it means, what to do, the ways to settle it and their outcome."""
    request, key = attempt.request, attempt.attempt_id
    with st.container(border=True):
        what = "Create" if attempt.call == CREATE else "Update"
        st.warning(f"**No answer recorded** · {what} sent by {request['operator']} at "
                   f"{timefmt.local(attempt.sent_at, tz)} · {_amount(attempt)}", icon="❔")
        st.caption("Order id")
        st.code(str(request["order_id"] or "—"), language=None)
        st.markdown(f"**What it means**: {attempt.meaning}")
        st.markdown(f"**What to do**: {attempt.todo}")
        log_link(request["seq"], "The unanswered request")
        refused = access.denial(who, "create" if attempt.call == CREATE else "update", request["environment"])
        if refused is not None:
            st.caption(f"Settling it is for someone who may {'create' if attempt.call == CREATE else 'update'} "
                       f"sessions here: {refused}.")
            return
        note_key, confirm_key = f"unanswered-note-{key}", f"unanswered-confirm-{key}"
        st.text_input("Note for the log (what you checked, whom you asked)", key=note_key)
        if attempt.call == CREATE:
            transaction = attempt.body.get("transaction") or {}
            st.warning("If the first session does exist, **two sessions are live for this order** until it expires, "
                       "and the customer could pay either: share only the new link.", icon="⚠️")
            live_confirmation(env, transaction.get("amount"), transaction.get("currency"), key=confirm_key)
            st.button("New session for the same order", type="primary", icon="➕", key=f"unanswered-new-{key}",
                      on_click=_settle, args=(console, who, key, "recreated", note_key, confirm_key))
            choices = ["left"]
        else:
            page_link(UPDATE_PAGE, label="Send the same update again on the Update page", icon="🔁",
                      query={"session": str(request["session_id"])})
            choices = ["took_effect", "did_not_take_effect"]
        labels = {"left": "Leave it: no new session", "took_effect": "It took effect (the API holds it)",
                  "did_not_take_effect": "It did not take effect"}
        for column, choice in zip(st.columns(len(choices)), choices):
            column.button(labels[choice], key=f"unanswered-{choice}-{key}", help=CHOICES[attempt.call][choice],
                          on_click=_settle, args=(console, who, key, choice, note_key, confirm_key))


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
        st.success(f"New session created for the same order, expiring at {timefmt.local(outcome.expires_at, tz)}; "
                   "the unanswered attempt is recorded as resolved.", icon="✅")
        st.code(outcome.session_id, language=None)
        session_links(outcome.session_id)
    else:
        st.success("Resolution recorded in the log.", icon="🗒")
        log_link(int(outcome), "The resolution")  # type: ignore[call-overload]


def unanswered_section(console: Console, env: Environment, who: Identity, attempts: list[Unanswered],
                       tz: tzinfo, *, title: str) -> None:
    """A heading and one notice per attempt (nothing at all when there is none)."""
    show_settled(tz)
    if not attempts:
        return
    st.subheader(title)
    for attempt in attempts:
        unanswered_notice(console, env, who, attempt, tz)
