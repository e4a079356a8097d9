"""Small Streamlit pieces several pages draw the same way."""
from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from lib import countdown, links, live_safety, timefmt
from lib.access import AccessDenied, Identity
from lib.client import Created
from lib.config import ConfigError, Environment
from lib.console import Console
from lib.errors import ApiError, NetworkError, UnknownOutcome, ValidationFailed
from lib.live_safety import LiveSafetyError
from lib.logfailure import CallLogUnavailable
from lib.validation import InvalidRequest, Problem

# What a create/update callback may be refused with before anything is sent (shown, not raised):
# the role or environment (lib.access), the live confirmation or ceiling (lib.live_safety), a bad limit,
# a call log that cannot be written (then the error says whether the call went out).
REFUSALS = (AccessDenied, LiveSafetyError, ConfigError, CallLogUnavailable)
AUDIT_PAGE = "pages/audit_log.py"
DETAIL_PAGE = "pages/session_detail.py"


@st.fragment(run_every=1)
def live_countdown(created_at: datetime, expires_at: datetime, *, key: str) -> None:
    """Time left as mm:ss and a bar; ticks every second without rerunning the page."""
    now = datetime.now(expires_at.tzinfo)
    left = countdown.time_left(expires_at, now)
    if countdown.is_expired(expires_at, now):
        st.markdown(f'<span data-testid="countdown-{key}">expired</span>', unsafe_allow_html=True)
        return
    st.markdown(f'⏱ <b data-testid="countdown-{key}">{countdown.format_mmss(left)}</b> left',
                unsafe_allow_html=True)
    st.progress(countdown.fraction_left(created_at, expires_at, now))


def log_link(seq: int | None, label: str = "Open the log entry") -> None:
    if seq is not None:
        page_link(AUDIT_PAGE, label=f"{label} #{seq}", icon="🧾", query={"entry": str(seq)})


def problems_of(exc: Exception) -> list[Problem]:
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
        st.error(f"The API refused the request: {exc.title} See each field.", icon="🚫")
    elif isinstance(exc, UnknownOutcome):
        st.error("**Outcome unknown.** The request was sent but no answer came back: it may or may not have "
                 "taken effect. It was not sent again.", icon="❓")
    elif isinstance(exc, NetworkError):
        st.error(f"**Could not reach the API**: {exc}", icon="🔌")
    elif isinstance(exc, ApiError):
        st.error(f"**HTTP {exc.status}**: {exc.title}", icon="🚫")
    else:
        st.error(str(exc), icon="🚫")
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


def page_link(page: str, *, label: str, icon: str | None = None, query: dict[str, str] | None = None) -> None:
    """A link to another page of the app; a plain URL link where navigation is not set up.

    A page reached directly on a fresh server (Streamlit's legacy ``pages/`` mode) or run alone
    under AppTest has no ``st.navigation`` registry, where ``st.page_link`` refuses a file path.
    """
    try:
        st.page_link(page, label=label, icon=icon, query_params=query)
    except StreamlitPageNotFoundError:
        url = "/" + page.removeprefix("pages/").removesuffix(".py")
        if query:
            url += "?" + urlencode(query)
        st.markdown(f"{icon or ''} [{label}]({url})")


# --- pieces of the session pages (Active sessions, Update amount, Session detail) -------------------
UPDATE_PAGE = "pages/update_amount.py"


def session_links(session_id: str, *, update: bool = True) -> None:
    """Links to a session's detail (and its Update page) side by side."""
    left, right = st.columns(2)
    with left:
        page_link(DETAIL_PAGE, label="Session detail", icon="🔎", query={"session": session_id})
    if update:
        with right:
            page_link(UPDATE_PAGE, label="Update this session", icon="✏️", query={"session": session_id})


def payment_link_block(link: str | None, link_error: str | None, *, amount: Decimal | None, currency: str | None,
                       expires_at: datetime, tz: tzinfo, order_id: str, expired: bool = False) -> None:
    """The payment link, the message for the customer and the QR code, as finance shares them.

    An expired session's link is still shown (support asks "which link did the customer get?"),
    without the message inviting payment.
    """
    if link is None:
        st.warning(f"No payment link: {link_error}")
        return
    text, qr = st.columns([3, 2], gap="large")
    with text:
        st.markdown(f"**Payment link**: [{link}]({link})")
        if expired:
            st.caption("The session has expired: this link no longer takes a payment.")
        elif amount is not None and currency:
            st.markdown("**Message for the customer**")
            st.code(links.customer_message(link, amount, currency, expires_at, tz), language=None, wrap_lines=True)
    with qr:
        png = links.qr_png(link)
        st.image(png, caption="QR code of the payment link", width=200)
        st.download_button("Download QR (PNG)", png, file_name=f"payment-link-{order_id}.png", mime="image/png",
                           icon="⬇️", key=f"qr-{order_id}-{link}")


def live_confirmation(env: Environment, amount: object, currency: object, *, key: str) -> None:
    """In a live environment, the box where the operator types the amount and currency to confirm
    (``lib.live_safety``); callbacks read it from ``st.session_state[key]``. Nothing elsewhere."""
    if not env.live or amount in (None, "") or not currency:
        return
    try:
        expected = live_safety.confirmation_text(Decimal(str(amount)), str(currency))
    except (ArithmeticError, ValueError):
        return  # not an amount yet: the form shows its problem
    st.text_input(f"Type **{expected}** to confirm: acquired-live moves real money", key=key,
                  placeholder=expected, help="The amount and currency that will really be charged.")


def recreate_session(console: Console, env_name: str, who: Identity, session_id: str, *, key: str,
                     confirm_key: str | None = None) -> None:
    """Button callback: a new session with an expired one's parameters; the outcome (``Created``
    or the exception) goes to ``st.session_state[key]`` for :func:`show_recreated`. In live, the
    typed confirmation is read from ``st.session_state[confirm_key]`` as it is at the click."""
    st.session_state.pop(key, None)
    try:
        st.session_state[key] = console.recreate(env_name, who, session_id,
                                                 confirm=st.session_state.get(confirm_key) if confirm_key else None)
    except (ApiError, InvalidRequest, LookupError, *REFUSALS) as exc:
        st.session_state[key] = exc


def show_recreated(outcome: Created | Exception | None, tz: tzinfo) -> None:
    """The new session's id and links, or why recreating failed."""
    if outcome is None:
        return
    if isinstance(outcome, Exception):
        show_failure(outcome)
        return
    st.success(f"New session created with the same parameters, expiring at "
               f"**{timefmt.local(outcome.expires_at, tz)}**.", icon="♻️")
    st.code(outcome.session_id, language=None)
    session_links(outcome.session_id)


def expired_notice(expires_at: datetime, tz: tzinfo) -> None:
    """Say when a session expired and that whether it was paid is not known here (webhook only)."""
    st.error(f"This session **expired at {timefmt.local(expires_at, tz)}**: it can no longer be updated. "
             "Whether it was paid is not known here (the API reports payments only by webhook).", icon="⌛")
