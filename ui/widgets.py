"""Small Streamlit pieces several pages draw the same way.

Every text that comes from outside (the API, a URL, a customer, another person's e-mail) goes
through :func:`ui.text.md` before it reaches Markdown.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from lib.access.service import AccessDenied, Identity
from lib.audit.service import CallLogUnavailable
from lib.sessions.service import (
    ApiError,
    ConfigError,
    Created,
    Environment,
    InvalidRequest,
    LiveSafetyError,
    NetworkError,
    OrderHasLiveSession,
    Problem,
    SessionsService,
    Share,
    UnknownOutcome,
    ValidationFailed,
    countdown_at,
    live_confirmation_text,
    local_time,
)
from ui.once import once
from ui.pages import AUDIT, DETAIL, UPDATE, PageInfo
from ui.text import md

# What a create/update callback may be refused with before anything is sent (shown, not raised):
# the role or environment, the live confirmation or ceiling, a bad limit, a call log that cannot
# be written (then the error says whether the call went out).
REFUSALS = (AccessDenied, LiveSafetyError, ConfigError, CallLogUnavailable)

# The grid columns of the session pages that link elsewhere (they hold a session id or a log
# entry's seq), and the URL each becomes.
TO_DETAIL: dict[str, Callable[[Any], str]] = {"Session": lambda session_id: DETAIL.url(session=session_id)}
TO_UPDATE: dict[str, Callable[[Any], str]] = {"Update": lambda session_id: UPDATE.url(session=session_id)}
TO_ENTRY: dict[str, Callable[[Any], str]] = {"Log entry": lambda seq: AUDIT.url(entry=seq)}
ENTRY_LINK = st.column_config.LinkColumn("Log entry", display_text=r"entry=(\d+)$", help="Opens the audit log entry")


def linked(rows: list[dict[str, Any]], *links: Mapping[str, Callable[[Any], str]]) -> list[dict[str, Any]]:
    """Grid rows whose link columns become URLs of the pages they point to."""
    to_url = {column: url for mapping in links for column, url in mapping.items()}
    return [{**row, **{column: url(row[column]) for column, url in to_url.items() if column in row}} for row in rows]


@st.fragment(run_every=1)
def live_countdown(created_at: datetime, expires_at: datetime, *, key: str,
                   clock: Callable[[], datetime]) -> None:
    """Time left as mm:ss and a bar; ticks every second without rerunning the page.

    Pages draw it only while the session is live; the tick that finds it expired reruns the
    whole page, so the page withdraws what only a live session may show (the message inviting
    payment, the QR code) at that moment, not at the next click."""
    left = countdown_at(created_at, expires_at, clock())
    if left.expired:
        st.markdown(f'<span data-testid="countdown-{key}">expired</span>', unsafe_allow_html=True)
        st.rerun()
    st.markdown(f'⏱ <b data-testid="countdown-{key}">{left.text}</b> left', unsafe_allow_html=True)
    st.progress(left.fraction)


def log_link(seq: int | None, label: str = "Open the log entry") -> None:
    if seq is not None:
        page_link(AUDIT, label=f"{label} #{seq}", icon="🧾", query={"entry": str(seq)})


def problems_of(exc: Exception | None) -> list[Problem]:
    """The per-field problems a failed call carries (our pre-check's or the API's 400)."""
    if isinstance(exc, InvalidRequest):
        return exc.problems
    if isinstance(exc, ValidationFailed):
        return exc.invalid_parameters
    return []


def show_failure(exc: Exception) -> None:
    """Say what happened to a call that failed, and link to its log entry."""
    if isinstance(exc, InvalidRequest):
        st.error(f"Nothing was sent: {len(exc.problems)} problem(s) to fix, shown at each field.", icon="✋")
        return
    if isinstance(exc, CallLogUnavailable):
        log_unavailable_notice(exc)
        return
    if isinstance(exc, ValidationFailed):
        st.error(f"The API refused the request: {md(exc.title)} See each field.", icon="🚫")
    elif isinstance(exc, UnknownOutcome):
        st.error("**Outcome unknown.** The request was sent but no answer came back: it may or may not have "
                 "taken effect. It was not sent again.", icon="❓")
    elif isinstance(exc, NetworkError):
        st.error(f"**Could not reach the API**: {md(exc)}", icon="🔌")
    elif isinstance(exc, ApiError):
        st.error(f"**HTTP {exc.status}**: {md(exc.title)}", icon="🚫")
    else:
        st.error(md(exc), icon="🚫")
    if isinstance(exc, ApiError):
        log_link(exc.entry_seq)


def log_unavailable_notice(exc: CallLogUnavailable) -> None:
    """A call stopped because the call log cannot be written: what happened to the call, which
    file, what to do (the consequence may quote the API's answer, so it is shown as plain text)."""
    st.error(f"**{exc.headline}**: {exc.what}.", icon="🛑")
    if exc.consequence:
        st.text(exc.consequence)
    st.code(str(exc.path), language=None)
    st.markdown(f"**What to do**: {exc.todo}")


def page_link(page: PageInfo, *, label: str, icon: str | None = None, query: Mapping[str, str] | None = None) -> None:
    """A link to another page of the app; a plain URL link where navigation is not set up.

    A page reached directly on a fresh server (Streamlit's legacy ``pages/`` mode) or run alone
    under AppTest has no ``st.navigation`` registry, where ``st.page_link`` refuses a file path.
    """
    try:
        st.page_link(page.path, label=md(label), icon=icon, query_params=dict(query or {}))
    except StreamlitPageNotFoundError:
        st.markdown(f"{icon or ''} [{md(label)}]({page.url(**(query or {}))})")


# --- pieces of the session pages (Active sessions, Update amount, Session detail) -------------------
def session_links(session_id: str, *, update: bool = True) -> None:
    """Links to a session's detail (and its Update page) side by side."""
    left, right = st.columns(2)
    with left:
        page_link(DETAIL, label="Session detail", icon="🔎", query={"session": session_id})
    if update:
        with right:
            page_link(UPDATE, label="Update this session", icon="✏️", query={"session": session_id})


def payment_link_block(shared: Share, *, order_id: str) -> None:
    """The payment link, the message for the customer and the QR code, as finance shares them.

    An expired session's link is still shown as text (support asks "which link did the customer
    get?"), marked expired: the message inviting payment and the QR code are withdrawn.
    """
    if shared.link is None:
        st.warning(f"No payment link: {md(shared.problem)}")
        return
    if shared.expired:
        st.markdown("**Payment link** (expired: it no longer takes a payment)")
        st.code(shared.link, language=None)
        return
    text, qr = st.columns([3, 2], gap="large")
    with text:
        st.markdown(f"**Payment link**: [{md(shared.link)}]({shared.link})")
        if shared.message:
            st.markdown("**Message for the customer**")
            st.code(shared.message, language=None, wrap_lines=True)
    if shared.qr_png:
        with qr:
            st.image(shared.qr_png, caption="QR code of the payment link", width=200)
            st.download_button("Download QR (PNG)", shared.qr_png, file_name=f"payment-link-{order_id}.png",
                               mime="image/png", icon="⬇️", key=f"qr-{order_id}-{shared.link}")


def created_session(sessions: SessionsService, created: Created, tz: tzinfo, *, key: str) -> None:
    """A session just created (or recreated) as finance shares it: id, countdown, link, QR code and
    the message for the customer; once it expires, shown as expired with the invitation withdrawn."""
    session = sessions.session(created.session_id)
    shared = sessions.share(session, tz)
    what = f"for order **{md(session.order_id)}**: {session.amount_text}"
    if shared.expired:
        st.warning(f"The session {what} **expired at {local_time(created.expires_at, tz)}**: its link no "
                   "longer takes a payment.", icon="⌛")
    else:
        st.success(f"Session created in **{session.environment}** {what}", icon="✅")
    st.markdown("**Session id** (copy button on the right of the box)")
    st.code(created.session_id, language=None)
    if not shared.expired:
        st.markdown(f"Expires at **{local_time(created.expires_at, tz)}**")
        live_countdown(created.sent_at, created.expires_at, key=key, clock=sessions.clock)
    payment_link_block(shared, order_id=session.order_id)


def live_confirmation(env: Environment, amount: Any, currency: str | None, *, key: str) -> None:
    """In a live environment, the box where the operator types the amount and currency to confirm;
    callbacks read it from ``st.session_state[key]``. Nothing elsewhere."""
    expected = live_confirmation_text(env, amount, currency)
    if expected:
        st.text_input(f"Type **{expected}** to confirm: acquired-live moves real money", key=key,
                      placeholder=expected, help="The amount and currency that will really be charged.")


def recreate_session(sessions: SessionsService, env_name: str, who: Identity, session_id: str, *, key: str,
                     confirm_key: str | None = None, second_live: bool = False) -> None:
    """Button callback: a new session with an expired one's parameters; the outcome (``Created``
    or the exception) goes to ``st.session_state[key]`` for :func:`show_recreated`. In live, the
    typed confirmation is read from ``st.session_state[confirm_key]`` as it is at the click."""
    st.session_state.pop(key, None)
    try:
        st.session_state[key] = sessions.recreate(env_name, who, session_id, second_live=second_live,
                                                  confirm=st.session_state.get(confirm_key) if confirm_key else None)
    except (ApiError, InvalidRequest, LookupError, OrderHasLiveSession, *REFUSALS) as exc:
        st.session_state[key] = (session_id, exc) if isinstance(exc, OrderHasLiveSession) else exc


def show_recreated(sessions: SessionsService, env_name: str, who: Identity, *, key: str, tz: tzinfo,
                   confirm_key: str | None = None) -> None:
    """What the last recreate of this page gave: the new session as New session shows it, a
    warning naming the live session the order already has (with "recreate anyway"), or why it failed."""
    outcome = st.session_state.get(key)
    if outcome is None:
        return
    if isinstance(outcome, tuple):
        old_id, refused = outcome
        with st.container(border=True):
            st.warning(f"**Order {md(refused.order_id)} already has a live session.** Recreating would give the "
                       "customer a second live link for the same order.", icon="⚠️")
            for live in refused.live:
                st.markdown(f"Live: {md(live.session_id)} · {live.amount_text} · created by {md(live.created_by)}"
                            f" · expires {local_time(live.expires_at, tz)}")
                session_links(live.session_id)
            st.button("Recreate anyway (two live links)", icon="♻️",
                      **once(f"{key}:anyway", recreate_session, sessions, env_name, who, old_id, key=key,
                             confirm_key=confirm_key, second_live=True))
        return
    if isinstance(outcome, Exception):
        show_failure(outcome)
        return
    st.success("New session created with the same parameters.", icon="♻️")
    created_session(sessions, outcome, tz, key=f"{key}-countdown")
    session_links(outcome.session_id)


def expired_notice(expires_at: datetime, tz: tzinfo) -> None:
    """Say when a session expired (whether it was paid is the payment status's to say)."""
    st.error(f"This session **expired at {local_time(expires_at, tz)}**: its link takes no payment and it can "
             "no longer be updated.", icon="⌛")
