"""Small Streamlit pieces several pages draw the same way."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from lib import countdown
from lib.errors import ApiError, NetworkError, UnknownOutcome, ValidationFailed
from lib.validation import InvalidRequest, Problem

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
