"""Update amount: change a live session's amount (or other updatable fields), seeing before → after."""
from __future__ import annotations

from typing import Any

import streamlit as st

from lib import forms, masking, session_rows, update_form
from lib.console import SessionExpired, UnknownSession
from lib.errors import ApiError
from lib.fields import leaf
from lib.registry import diff_params
from lib.validation import InvalidRequest, merge
from ui.form import amount_hint, current_values, field, session_form, widget_key
from ui.frame import frame
from ui.widgets import (DETAIL_PAGE, REFUSALS, expired_notice, live_confirmation, live_countdown, log_link,
                        page_link, problems_of, recreate_session, show_failure, show_recreated)

PICK = "upd_session"
OUTCOME = "upd_outcome"  # (session id, Updated | exception): shown only with that session
TOAST = "upd_toast"
RECREATED = "upd_recreated"
CONFIRM = "upd_live_confirm"  # the typed amount of a live update or recreate
RESEND_CONFIRM = "upd_live_confirm_resend"
AMOUNT = "transaction.amount"

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
    except (InvalidRequest, ApiError, SessionExpired, UnknownSession, *REFUSALS) as exc:
        remember(session_id, exc)
        return
    remember(session_id, updated)
    st.session_state[TOAST] = f"Session updated: version {f.console.session_row(session_id)['version']} recorded."


def resend(session_id: str, patch: dict[str, Any]) -> None:
    """Button callback: send again the update whose outcome was unknown (a person decided to)."""
    st.session_state.pop(OUTCOME, None)
    try:
        updated = f.console.resend_update(f.env_name, f.identity, session_id, patch,
                                          confirm=st.session_state.get(RESEND_CONFIRM))
    except (InvalidRequest, ApiError, SessionExpired, UnknownSession, *REFUSALS) as exc:
        remember(session_id, exc)
        return
    remember(session_id, updated)
    st.session_state[TOAST] = "Update sent again and confirmed: the amount is certain now."


def follow_pick() -> None:
    """The URL follows the picker, so the address bar can be shared."""
    st.query_params["session"] = st.session_state[PICK]


def pick_session() -> str | None:
    """The session to work on: the picker of active sessions, preselected from ``?session=``."""
    wanted = st.query_params.get("session")
    active = {s["session_id"]: s for s in f.console.active_sessions(f.env_name, include_qa=True)}
    if wanted and wanted not in active:
        return wanted  # expired, unknown or elsewhere: the page explains
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
    if row["environment"] != f.env_name:
        st.warning(f"This session belongs to **{row['environment']}**: switch the environment in the sidebar.")
        return True
    if expired is None and row["expires_at"] > f.console.clock():
        return False
    expired_notice(expired.expired_at if expired else row["expires_at"], f.tz)
    live_confirmation(f.env, row["amount"], row["currency"], key=CONFIRM)
    st.button("Recreate with the same parameters", icon="♻️", on_click=recreate_session,
              args=(f.console, f.env_name, f.identity, session_id), kwargs={"key": RECREATED, "confirm_key": CONFIRM})
    show_recreated(st.session_state.get(RECREATED), f.tz)
    return True


def uncertain_banner(session_id: str) -> None:
    """An update whose outcome is unknown: say so loudly and offer to send the same one again."""
    pending = f.console.pending_update(session_id)
    if pending is None:
        return
    with st.container(border=True):
        st.error(f"**AMOUNT UNCERTAIN.** An update sent by {pending.call.operator} at {f.time(pending.call.at)} got "
                 "no answer: the API may hold the old parameters or the new ones. Nothing was sent again.", icon="❓")
        st.markdown("The update that was sent:")
        st.code(forms.preview_json(masking.mask_params(pending.patch, enabled=f.mask)), language="json")
        transaction = merge(f.console.session_row(session_id)["params"], pending.patch).get("transaction") or {}
        live_confirmation(f.env, transaction.get("amount"), transaction.get("currency"), key=RESEND_CONFIRM)
        st.button("Send the same update again", type="primary", icon="🔁", on_click=resend,
                  args=(session_id, pending.patch),
                  help="Sets the same values again: harmless if the first one did take effect.")
        log_link(pending.call.seq, "The unanswered call")


def amount_field(prefix: str, problems: dict[str, str], defaults: dict[str, Any]) -> None:
    field(leaf(AMOUNT), problems=problems, prefix=prefix, default=defaults.get(AMOUNT))
    currency = st.session_state.get(widget_key("transaction.currency", prefix)) or defaults.get("transaction.currency")
    st.caption(f"In {str(currency).upper()}, {amount_hint(currency)}")


session_id = pick_session()
if session_id:
    try:
        row = f.console.session_row(session_id)
    except UnknownSession:
        st.error(f"No session `{session_id}` was created through this console (the API cannot look one up).",
                 icon="🔍")
        st.stop()
    toast = st.session_state.pop(TOAST, None)
    if toast:
        st.toast(toast, icon="✅")
    outcome_for, outcome = st.session_state.get(OUTCOME, (None, None))
    outcome = outcome if outcome_for == session_id else None
    if refused(session_id, row, outcome if isinstance(outcome, SessionExpired) else None):
        st.stop()

    st.markdown(f"Session `{session_id}` · order **{row['order_id']}** · created by {row['created_by']} · expires at "
                f"**{f.time(row['expires_at'])}**")
    live_countdown(row["created_at"], row["expires_at"], key="update")
    uncertain_banner(session_id)

    prefix = prefix_of(session_id)
    params = row["params"]
    defaults = update_form.defaults(params)
    patch, merged, live_problems = forms.check_update(params, update_form.values_to_send(params, current_values(prefix)))
    failure = outcome if isinstance(outcome, Exception) else None
    shown = live_problems if isinstance(failure, InvalidRequest) else problems_of(failure) if failure else []
    by_path = {p["parameter"]: p["reason"] for p in shown}

    edit_col, now_col = st.columns([3, 2], gap="large")
    with edit_col:
        st.subheader("New amount")
        amount_field(prefix, by_path, defaults)
        st.markdown("**Other updatable fields**")
        session_form(problems=[p for p in shown if p["parameter"] != AMOUNT], prefix=prefix, defaults=defaults,
                     only=lambda lf: lf.updatable and lf.path != AMOUNT, expanded_groups=())
    with now_col:
        st.subheader("Current parameters")
        st.code(forms.preview_json(masking.mask_params(params, enabled=f.mask)), language="json")

    st.subheader("Before → after")
    changes = diff_params(params, merged)
    if changes:
        st.table(session_rows.change_rows(changes, merged.get("transaction", {}).get("currency")))
        with st.expander("The request that will be sent"):
            st.code(forms.preview_json(patch), language="json")
        live_confirmation(f.env, (merged.get("transaction") or {}).get("amount"),
                          (merged.get("transaction") or {}).get("currency"), key=CONFIRM)
        st.button("Confirm update", type="primary", icon="✅", on_click=confirm, args=(session_id,),
                  disabled=bool(live_problems))
    else:
        st.caption("Nothing changed yet: edit the amount or another field above.")
    if live_problems and not failure:
        st.caption(f"{len(live_problems)} problem(s) to fix before sending: " +
                   "; ".join(p["reason"] for p in live_problems))
    if failure:
        show_failure(failure)
    elif outcome is not None:
        st.success(f"Updated: the amount is now **{session_rows.amount_text(row)}**, recorded as version "
                   f"{row['version']}.", icon="✅")
        log_link(outcome.entry_seq)

    st.subheader("History")
    history = masking.mask_history(f.console.registry.history(session_id), enabled=f.mask)
    st.dataframe(session_rows.version_rows(history, f.tz), hide_index=True,
                 width="stretch",
                 column_config={"Log entry": st.column_config.LinkColumn("Log entry", display_text=r"entry=(\d+)$")})
    page_link(DETAIL_PAGE, label="Everything about this session", icon="🔎", query={"session": session_id})
