"""Update amount: change a live session's amount (or other updatable fields), seeing before → after."""
from __future__ import annotations

from typing import Any

import streamlit as st

from lib.sessions import form_values as forms
from lib.access import masking
from lib.fields import money
from lib.sessions import rows as session_rows
from lib.sessions import update_values as update_form
from lib.sessions.console import SessionExpired, UnknownSession
from lib.api.errors import ApiError
from lib.fields.schema import AMOUNT, leaf
from lib.sessions.registry import diff_params
from lib.fields.validation import InvalidRequest, merge
from ui.form import current_values, field, session_form, visible_problems
from ui.frame import frame
from ui.text import md
from ui.widgets import (DETAIL_PAGE, REFUSALS, expired_notice, live_confirmation, live_countdown, log_link,
                        page_link, problems_of, recreate_session, show_failure, show_recreated)

PICK = "upd_session"
INCLUDE_QA = "upd_include_qa"
OUTCOME = "upd_outcome"  # (session id, Updated | exception): shown only with that session
TOAST = "upd_toast"
RECREATED = "upd_recreated"
CONFIRM = "upd_live_confirm"  # the typed amount of a live update or recreate
RESEND_CONFIRM = "upd_live_confirm_resend"

f = frame("Update amount", icon="✏️")


def prefix_of(session_id: str) -> str:
    """Widgets are keyed per session, so each starts from that session's own values."""
    return f"upd:{session_id}"


def remember(session_id: str, outcome: Any) -> None:
    st.session_state[OUTCOME] = (session_id, outcome)


def confirm(session_id: str) -> None:
    """Button callback: send only what changed; the page then draws the outcome."""
    st.session_state.pop(OUTCOME, None)
    try:
        params = f.console.session_row(session_id)["params"]
        values = update_form.values_to_send(params, current_values(prefix_of(session_id)))
        updated = f.console.update(f.env_name, f.identity, session_id, values, confirm=st.session_state.get(CONFIRM))
    except (InvalidRequest, ApiError, SessionExpired, LookupError, *REFUSALS) as exc:
        remember(session_id, exc)
        return
    remember(session_id, updated)
    st.session_state[TOAST] = f"Session updated: version {f.console.session_row(session_id)['version']} recorded."
    # Set again from here, the picker's label is sent anew: it shows the new amount, not the old one.
    st.session_state[PICK] = session_id


def resend(session_id: str, patch: dict[str, Any]) -> None:
    """Button callback: send again the update whose outcome was unknown (a person decided to)."""
    st.session_state.pop(OUTCOME, None)
    try:
        updated = f.console.resend_update(f.env_name, f.identity, session_id, patch,
                                          confirm=st.session_state.get(RESEND_CONFIRM))
    except (InvalidRequest, ApiError, SessionExpired, LookupError, *REFUSALS) as exc:
        remember(session_id, exc)
        return
    remember(session_id, updated)
    st.session_state[TOAST] = "Update sent again and confirmed: the amount is certain now."
    st.session_state[PICK] = session_id


def follow_pick() -> None:
    """The URL follows the picker, so the address bar can be shared; a cleared picker clears it."""
    chosen = st.session_state[PICK]
    if chosen is None:
        st.query_params.pop("session", None)
    else:
        st.query_params["session"] = chosen


def pick_session() -> str | None:
    """The session to work on: the picker of active sessions, preselected from ``?session=``."""
    wanted = st.query_params.get("session")
    include_qa = st.toggle("Include QA-run sessions", key=INCLUDE_QA,
                           help="Sessions made by automated QA runs (tagged qa-run:…) are hidden by default.")
    active = {s["session_id"]: s for s in f.console.active_sessions(f.env_name, include_qa=include_qa)}
    if wanted and wanted not in active:
        return wanted  # expired, unknown, a QA run's or elsewhere: the page explains
    if not active:
        st.info(f"No active sessions in **{f.env_name}**. Create one on the New session page.", icon="💤")
        return None
    if wanted and st.session_state.get(PICK) != wanted:
        st.session_state[PICK] = wanted
    elif st.session_state.get(PICK) not in (None, *active):
        st.session_state[PICK] = None  # a session that has just expired
    labels = {sid: session_rows.session_label(s, f.tz) for sid, s in active.items()}
    return st.selectbox("Session (order id · amount · expiry)", list(active), key=PICK, index=None,
                        format_func=labels.__getitem__, on_change=follow_pick,
                        placeholder="Pick an active session…")


def refused(session_id: str, row: dict[str, Any], expired: SessionExpired | None) -> bool:
    """Draw why this session cannot be updated here, if it cannot; True then. ``expired`` is the
    refusal of a confirm that came too late (the page was drawn before the session expired)."""
    if not f.console.belongs_to(row, f.env_name):
        st.warning(f"This session belongs to **{row['environment']}**: switch the environment in the sidebar.")
        return True
    if expired is None and row["expires_at"] > f.console.clock():
        return False
    expired_notice(expired.expired_at if expired else row["expires_at"], f.tz)
    live_confirmation(f.env, row["amount"], row["currency"], key=CONFIRM)
    st.button("Recreate with the same parameters", icon="♻️", on_click=recreate_session,
              args=(f.console, f.env_name, f.identity, session_id), kwargs={"key": RECREATED, "confirm_key": CONFIRM})
    show_recreated(f.console, f.env_name, f.identity, key=RECREATED, tz=f.tz, confirm_key=CONFIRM)
    return True


def uncertain_banner(session_id: str) -> None:
    """An update whose outcome is unknown: say so loudly and offer to send the same one again."""
    pending = f.console.pending_update(session_id)
    if pending is None:
        return
    with st.container(border=True):
        st.error(f"**AMOUNT UNCERTAIN.** An update sent by {md(pending.call.operator)} at {f.time(pending.call.at)} "
                 "got no answer: the API may hold the old parameters or the new ones. Nothing was sent again.", icon="❓")
        st.markdown("The update that was sent:")
        st.code(forms.preview_json(masking.mask_params(pending.patch, enabled=f.mask)), language="json")
        transaction = merge(f.console.session_row(session_id)["params"], pending.patch).get("transaction") or {}
        live_confirmation(f.env, transaction.get("amount"), transaction.get("currency"), key=RESEND_CONFIRM)
        st.button("Send the same update again", type="primary", icon="🔁", on_click=resend,
                  args=(session_id, pending.patch),
                  help="Sets the same values again: harmless if the first one did take effect.")
        log_link(pending.call.seq, "The unanswered call")


def before_after(changes: list[dict[str, Any]], currency: str | None) -> None:
    """The changes as exact text (an ``st.dataframe`` shows cells as text, never as Markdown)."""
    st.dataframe(session_rows.change_rows(changes, currency), hide_index=True, width="stretch")


session_id = pick_session()
if session_id:
    try:
        row = f.console.session_row(session_id)
    except UnknownSession:
        st.error("No session with this id was created through this console (the API cannot look one up):", icon="🔍")
        st.code(session_id, language=None)
        st.stop()
    toast = st.session_state.pop(TOAST, None)
    if toast:
        st.toast(toast, icon="✅")
    outcome_for, outcome = st.session_state.get(OUTCOME, (None, None))
    outcome = outcome if outcome_for == session_id else None
    if refused(session_id, row, outcome if isinstance(outcome, SessionExpired) else None):
        st.stop()

    st.markdown(f"Session {md(session_id)} · order **{md(row['order_id'])}** · created by {md(row['created_by'])} · "
                f"expires at **{f.time(row['expires_at'])}**")
    live_countdown(row["created_at"], row["expires_at"], key="update", clock=f.console.clock)
    uncertain_banner(session_id)

    prefix = prefix_of(session_id)
    params = row["params"]
    defaults = update_form.defaults(params)
    typed = current_values(prefix)
    patch, merged, live_problems = forms.check_update(params, update_form.values_to_send(params, typed))
    failure = outcome if isinstance(outcome, Exception) else None
    shown = visible_problems(live_problems, typed, failure, problems_of(failure) if failure else ())
    by_path = {p["parameter"]: p for p in shown}

    edit_col, now_col = st.columns([3, 2], gap="large")
    with edit_col:
        st.subheader("New amount")
        field(leaf(AMOUNT), problems=by_path, prefix=prefix, default=defaults.get(AMOUNT))
        st.markdown("**Other updatable fields**")
        session_form(problems=[p for p in shown if p["parameter"] != AMOUNT], prefix=prefix, defaults=defaults,
                     only=lambda lf: lf.updatable and lf.path != AMOUNT, expanded_groups=())
    with now_col:
        st.subheader("Current parameters")
        st.code(forms.preview_json(masking.mask_params(params, enabled=f.mask)), language="json")

    st.subheader("Before → after")
    changes = diff_params(params, merged)
    currency = (merged.get("transaction") or {}).get("currency")
    if changes:
        before_after(masking.mask_changes(changes, enabled=f.mask), currency)
        with st.expander("The request that will be sent"):
            st.code(forms.preview_json(patch), language="json")
        live_confirmation(f.env, (merged.get("transaction") or {}).get("amount"), currency, key=CONFIRM)
        st.button("Confirm update", type="primary", icon="✅", on_click=confirm, args=(session_id,),
                  disabled=bool(live_problems))
    else:
        st.caption("Nothing changed yet: edit the amount or another field above.")
    if live_problems and not failure:
        st.caption(f"{len(live_problems)} problem(s) to fix before sending, shown at their fields.")
    if failure:
        show_failure(failure)
    elif outcome is not None:
        st.success(f"Updated: the amount is now **{money.format_amount(row['amount'], row['currency'])}**, recorded "
                   f"as version {row['version']}.", icon="✅")
        log_link(outcome.entry_seq)

    st.subheader("History")
    history = masking.mask_history(f.console.registry.history(session_id), enabled=f.mask)
    st.dataframe(session_rows.version_rows(history, f.tz), hide_index=True,
                 width="stretch",
                 column_config={"Log entry": st.column_config.LinkColumn("Log entry", display_text=r"entry=(\d+)$")})
    page_link(DETAIL_PAGE, label="Everything about this session", icon="🔎", query={"session": session_id})
