"""New session: every request option, a live preview, per-field errors, then the link to share."""
from __future__ import annotations

import uuid

import streamlit as st

from lib.sessions.service import (
    ORDER_ID,
    ApiError,
    ConfigError,
    InvalidRequest,
    TransactionFacts,
    check_create,
    curl_command,
    form_defaults,
    preview_json,
)
from ui.field_widgets import current_values, session_form, visible_problems, widget_key
from ui.frame import frame
from ui.once import once
from ui.pages import NEW_SESSION
from ui.text import md
from ui.widgets import REFUSALS, created_session, live_confirmation, problems_of, session_links, show_failure

ORDER_KEY = widget_key(ORDER_ID)
CREATED = "new_session_created"
CONFIRM = "new_session_live_confirm"
FAILURE = "new_session_failure"

f = frame(NEW_SESSION)


def new_order_id() -> None:
    st.session_state[ORDER_KEY] = str(uuid.uuid4())


def create() -> None:
    """Button callback: runs before the page is drawn, so the outcome shows at the fields at once."""
    st.session_state.pop(CREATED, None)
    st.session_state.pop(FAILURE, None)
    try:
        st.session_state[CREATED] = f.sessions.create(f.env_name, f.identity, current_values(),
                                                      confirm=st.session_state.get(CONFIRM))
    except (InvalidRequest, ApiError, *REFUSALS) as exc:
        st.session_state[FAILURE] = exc


def create_another() -> None:
    new_order_id()
    st.session_state.pop(CREATED, None)


def order_id_button() -> None:
    st.button("New order id", on_click=new_order_id, icon="🔄", help="A fresh UUID for the order id.")


if ORDER_KEY not in st.session_state:
    new_order_id()
try:
    defaults = form_defaults()
except ConfigError as exc:
    st.warning(md(exc))
    defaults = {}

created = st.session_state.get(CREATED)
if created is not None:
    created_session(f.sessions, created, f.tz, key="created")
    st.button("Create another like it", icon="➕", help="Same parameters, a fresh order id.", on_click=create_another)
    session_links(created.session_id)
    st.divider()

failure = st.session_state.get(FAILURE)
typed = current_values()
shown = visible_problems(check_create(typed)[1], typed, failure, problems_of(failure))

form_col, preview_col = st.columns([3, 2], gap="large")
with form_col:
    values = session_form(problems=shown, defaults=defaults, extra_transaction=order_id_button)
body, _ = check_create(values)

with preview_col:
    st.subheader("Request preview")
    st.code(preview_json(body), language="json", wrap_lines=True)
    with st.expander("As curl"):
        st.code(curl_command("POST", f"{f.env.api_base}/payment-sessions", body), language="bash")
    order_id = str(values.get(ORDER_ID) or "")
    others = f.sessions.other_active_for_order(f.env_name, order_id)
    if others and created is not None and [o.session_id for o in others] == [created.session_id]:
        st.info("This order id is the session just created: creating again would open a second session "
                "for the same order. *Create another like it* starts with a fresh order id.", icon="ℹ️")
    elif others:
        st.warning(f"Order {md(order_id)} already has {len(others)} active session(s) in "
                   f"{f.env_name}. Creating another is allowed.", icon="⚠️")
    facts = TransactionFacts.of(body)
    live_confirmation(f.env, facts.amount, facts.currency, key=CONFIRM)
    st.button("Create session", type="primary", icon="➕", use_container_width=True, **once("create", create))
    if failure:
        show_failure(failure)
