"""The frame every page draws first: who is here, page config, sidebar, LIVE banner, shared resources.

Every page calls :func:`frame` at its top, so a page reached directly by URL on a fresh server
(Streamlit's legacy ``pages/`` mode runs it without ``app.py``) behaves exactly like one reached
through ``st.navigation``: the sign-in, the role check and the refusal all happen here, before
the page draws anything of its own. The rules themselves are :mod:`lib.access.policy`'s.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import streamlit as st

from lib.access import policy as access
from lib.access import operator_name as identity
from lib.common import timefmt
from lib.access.policy import AccessDenied, AccessPolicy, Identity, LoginRequired
from lib.calllog.log import default_db_path
from lib.settings import ConfigError, Environment, check_settings, load_secrets
from lib.sessions.console import Console
from lib.calllog.failures import CallLogUnavailable
from lib.qa.store import recover_interrupted
from lib.sandbox.runtime import ensure_sandbox
from ui.navigation import PAGES, PageInfo
from ui.text import md
from ui.widgets import page_link

ENV_KEY = "environment"  # the choice itself: plain session state, so it survives page switches
ENV_WIDGET = "environment_picker"  # the widget, refilled from the choice on every run
STARTED = "access_session_recorded"  # the operator whose session start is logged (once per session)
NO_ROLE_LOGGED = "access_no_role_recorded"


def _keep_choice() -> None:
    st.session_state[ENV_KEY] = st.session_state[ENV_WIDGET]


@st.cache_resource(show_spinner="Starting the local sandbox…")
def _console(db_path: str) -> Console:
    """One console (and one sandbox) per server process and database, shared by every tab.

    Also the once-per-process moment to mark QA runs whose worker process is gone as interrupted.
    """
    console = Console(sandbox_base_url=ensure_sandbox().base_url, db_path=Path(db_path))  # opens the log first
    with console.log.failures_explained("written"):
        recover_interrupted(db_path)
    return console


@dataclass(frozen=True)
class Frame:
    console: Console
    env_name: str
    env: Environment
    identity: Identity
    tz: tzinfo

    @property
    def operator(self) -> str:
        return self.identity.operator

    @property
    def mask(self) -> bool:
        """Whether customer personal data is masked for this person (``lib.access.masking``'s ``enabled``)."""
        return self.identity.masks_personal_data

    def time(self, moment: datetime | None, *, seconds: bool = True) -> str:
        """A stored UTC time in the viewer's zone, zone named."""
        return timefmt.local(moment, self.tz, seconds=seconds)


def _logged_in_email() -> str | None:
    user = st.user
    return user.get("email") if user.get("is_logged_in") else None


def _stop_with(title: str, message: str, icon: str) -> None:
    """A whole page of one message, then nothing else runs."""
    st.title(f"{icon} {title}")
    st.markdown(message)


def _record_start(console: Console, who: Identity) -> None:
    """Log this browser session's start once: who, and from where as far as Streamlit can tell."""
    if st.session_state.get(STARTED) == who.operator:
        return
    st.session_state[STARTED] = who.operator
    access.record_access(console.log, who, access.SESSION_START, detail={
        "ip_address": _text(st.context.ip_address), "user_agent": _text(st.context.headers.get("User-Agent"))})


def _text(value: object) -> str | None:
    """A request detail as text, or None where Streamlit does not know it (AppTest gives stand-ins)."""
    return value if isinstance(value, str) else None


def call_log_unavailable(exc: CallLogUnavailable) -> None:
    """A whole page saying the call log cannot be used: which file, what happened, what to do.

    Every call, sign-in and export is recorded before it happens, so while the log cannot be
    written the console does nothing at all rather than act unrecorded.
    """
    _stop_with(exc.headline, f"**What happened**: {exc.what}. Every call, sign-in and export is recorded in the "
               "call log before it happens, so this console does nothing until the log can be written again "
               "(nothing is sent to the API meanwhile).", "🛑")
    st.markdown("**File**")
    st.code(str(exc.path), language=None)
    if exc.consequence:
        st.text(exc.consequence)
    st.markdown(f"**What to do**: {exc.todo}")


@contextmanager
def log_guard() -> Iterator[None]:
    """Turn a ``CallLogUnavailable`` into :func:`call_log_unavailable`'s page and stop the script."""
    try:
        yield
    except CallLogUnavailable as exc:
        call_log_unavailable(exc)
        st.stop()


def gate(console: Console) -> Identity:
    """:func:`checked_gate`, with a call log that cannot be written shown as a page of its own."""
    with log_guard():
        return checked_gate(console)


def checked_gate(console: Console) -> Identity:
    """Who is here, or stop the script: misconfiguration, a non-loopback bind in local mode, a
    missing sign-in and a person without a role each get a page of their own and nothing else."""
    secrets = load_secrets()
    try:
        policy = AccessPolicy.from_secrets(secrets)
        access.check_bind_address(st.get_option("server.address"), secrets)
        check_settings(secrets)
    except ConfigError as exc:
        _stop_with("The console cannot start", f"**Configuration problem**: {md(exc)}", "⛔")
        st.stop()
    try:
        who = policy.identity(_logged_in_email(), operator_fallback=identity.operator())
    except LoginRequired:
        _stop_with("Sign in", "This console records who does what: sign in with your company account first.",
                   "🔒")
        st.button("Log in", type="primary", icon="🔑", on_click=st.login, key="access_login")
        st.stop()
    _record_start(console, who)
    if not who.has_role:
        if st.session_state.get(NO_ROLE_LOGGED) != who.operator:
            st.session_state[NO_ROLE_LOGGED] = who.operator
            access.record_denied(console.log, who, AccessDenied(
                who.operator, access.OPEN_PAGE + "console", None, "you hold no role in this console"))
        _stop_with("No access", policy.no_role_message(who), "🚫")
        st.button("Log out", on_click=st.logout, key="access_logout_norole")
        st.stop()
    return who


def shared_console() -> Console:
    """The process-wide console on the configured database, once its call log can be written
    (checked on every run: a few system calls); otherwise a page saying why, and the script stops."""
    with log_guard():
        console = _console(str(default_db_path()))
        console.log.preflight()
    return console


def allowed_pages(who: Identity) -> list[PageInfo]:
    """The menu entries ``who`` may open, in menu order (what app.py registers and the sidebar lists)."""
    return [page for page in PAGES if who.can_open(access.page_key(page.path))]


def _refuse_page(console: Console, who: Identity, title: str) -> None:
    """Stop before the page draws anything when ``who`` may not open it (a URL typed, a stale link)."""
    page = next((p for p in PAGES if p.title == title), None)
    if page is None:  # fail closed: a page the access rules do not know is never drawn
        raise ValueError(f"no page titled {title!r} in ui/navigation.PAGES: add it there and to lib.access.policy")
    try:
        access.require_page(who, access.page_key(page.path))
    except AccessDenied as denied:
        access.record_denied(console.log, who, denied)
        _stop_with("Not allowed", f"{denied}.", "🚫")
        for other in allowed_pages(who):
            page_link(other.path, label=other.title, icon=other.icon)
        st.stop()


def frame(title: str, *, icon: str | None = None) -> Frame:
    """Draw the shared frame and return what the page needs (the icon is the menu's by default).

    Refuses (and logs) a person who may not open this page before anything of the page is drawn.
    """
    icon = icon or next((p.icon for p in PAGES if p.title == title), "💳")
    st.set_page_config(page_title=f"{title} · Payment sessions", page_icon=icon, layout="wide")
    console = shared_console()
    who = gate(console)
    with log_guard():
        _refuse_page(console, who, title)
    environments = who.allowed_environments(console.environments())
    with st.sidebar:
        st.markdown("### 💳 Payment sessions")
        for page in allowed_pages(who):
            page_link(page.path, label=page.title, icon=page.icon)
        st.divider()
        # A widget's own state restarts on another page for the first run: the choice is kept apart
        # and written into the widget before it is drawn, so no run ever acts on another environment.
        chosen = st.session_state.get(ENV_KEY)
        st.session_state[ENV_WIDGET] = chosen if chosen in environments else environments[0]
        env_name = st.selectbox("Environment", environments, key=ENV_WIDGET, on_change=_keep_choice,
                                help="Real Acquired environments appear once their credentials are configured "
                                     "and your role works in them.")
        st.text_input("Operator", who.operator, disabled=True, key="operator_shown",
                      help="Who the log records: the logged-in e-mail, else OPS_OPERATOR, else the OS user.")
        if who.local_mode:
            st.caption("🏠 **local mode**: nobody signs in, this machine only, no acquired-live. "
                       "Configure [auth] in .streamlit/secrets.toml to share the console.")
        else:
            st.caption(f"Roles: {', '.join(sorted(who.roles))}")
            st.button("Log out", on_click=st.logout, icon="🚪", key="access_logout")
        if env_name == "sandbox":
            st.caption(f"Local sandbox at `{console.sandbox_base_url}`")
    try:
        env = console.environment(env_name or "sandbox")
    except ConfigError as exc:
        st.error(f"**{env_name}** is not usable: {exc}")
        st.stop()
    if env.live:
        st.markdown(
            '<div data-testid="live-banner" style="background:#c62828;color:white;padding:0.6rem 1rem;'
            'border-radius:0.4rem;font-weight:700;font-size:1.1rem;margin-bottom:0.8rem">'
            "LIVE — acquired-live moves real money</div>", unsafe_allow_html=True)
    st.title(f"{icon} {title}")
    return Frame(console, env.name, env, who, timefmt.zone(st.context.timezone))
