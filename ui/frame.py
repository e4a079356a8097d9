"""The frame every page draws first: who is here, page config, sidebar, LIVE banner, shared resources.

Every page calls :func:`frame` at its top, so a page reached directly by URL on a fresh server
(Streamlit's legacy ``pages/`` mode runs it without ``app.py``) behaves exactly like one reached
through ``st.navigation``: the sign-in, the role check and the refusal all happen here, before
the page draws anything of its own. The rules themselves are lib.access's, reached through its service.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import streamlit as st

from lib.access.service import (
    FAILED_PARAM,
    AccessDenied,
    AccessService,
    ConfigError,
    Identity,
    LoginRequired,
    SignInRefused,
)
from lib.audit.service import AuditService, CallLogUnavailable, ops_db_path
from lib.payments.service import PaymentsService
from lib.qa.service import QAService
from lib.sessions.service import Environment, SessionsService, local_time, zone
from ui.pages import PAGES, PageInfo
from ui.text import md
from ui.widgets import page_link

ENV_KEY = "environment"  # the choice itself: plain session state, so it survives page switches
ENV_WIDGET = "environment_picker"  # the widget, refilled from the choice on every run
STARTED = "access_session_recorded"  # the operator whose tab start is logged (once per browser tab)
NO_ROLE_LOGGED = "access_no_role_recorded"
REFUSED_LOGGED = "access_signin_refused_recorded"  # the refused sign-in already logged in this tab
ENDED_LOGGED = "access_ended_signin_recorded"  # the ended sign-in whose refused request is logged
PAID_MARKER = "payments_paid_marker"  # the last payment this browser session was told of (kept across pages)


def _keep_choice() -> None:
    st.session_state[ENV_KEY] = st.session_state[ENV_WIDGET]


@st.cache_resource(show_spinner="Starting the local sandbox…")
def _sessions(db_path: str) -> SessionsService:
    """One sessions service (and one sandbox) per server process and database, shared by every tab.

    Also the once-per-process moment to mark QA runs whose worker process is gone as interrupted.
    """
    sessions = SessionsService.with_local_sandbox(Path(db_path))  # opens the log
    with sessions.log.failures_explained("written"):
        QAService.for_console(sessions).recover_interrupted()
    return sessions


@st.cache_resource(show_spinner=False)
def _payments(db_path: str) -> PaymentsService:
    """One payments service per server process and database, on the shared sessions service."""
    return PaymentsService.for_console(_sessions(db_path))


@st.fragment(run_every=3)
def paid_toasts(payments: PaymentsService, access: AccessService, who: Identity) -> None:
    """Tell the creator of a session when it is paid, on whatever page they are: a toast, once per
    payment (the marker in session state moves past each one told). A new browser session starts
    from now: payments known before it are not news. A sign-in ended meanwhile (an admin signed the
    person out everywhere) reruns the whole page, whose frame then asks to sign in again."""
    if access.signin_ended(who):
        st.rerun(scope="app")
    creator = who.operator
    if PAID_MARKER not in st.session_state:
        st.session_state[PAID_MARKER] = payments.paid_marker()
        return
    notices, st.session_state[PAID_MARKER] = payments.newly_paid(creator, st.session_state[PAID_MARKER])
    for notice in notices:
        # Ten seconds rather than four: news that money arrived, to be read whatever the person was doing.
        st.toast(f"**Paid**: order {md(notice.order_id)} · {md(notice.text)}", icon="💷", duration="long")


@dataclass(frozen=True)
class Frame:
    sessions: SessionsService
    env_name: str
    env: Environment
    identity: Identity
    tz: tzinfo

    @property
    def access(self) -> AccessService:
        return AccessService(self.sessions.log)

    @property
    def audit(self) -> AuditService:
        return AuditService(self.sessions.log)

    @property
    def payments(self) -> PaymentsService:
        return _payments(str(self.sessions.db_path))

    @property
    def operator(self) -> str:
        return self.identity.operator

    @property
    def mask(self) -> bool:
        """Whether customer personal data is masked for this person (qa sees the shape, not the person)."""
        return self.identity.masks_personal_data

    def time(self, moment: datetime | None, *, seconds: bool = True) -> str:
        """A stored UTC time in the viewer's zone, zone named."""
        return local_time(moment, self.tz, seconds=seconds)


def _claims() -> dict[str, object] | None:
    """The ID token's claims Streamlit keeps for this browser (``st.user``), or None when signed out."""
    user = st.user
    if not user.get("is_logged_in"):
        return None
    return {key: value for key, value in user.items() if isinstance(value, str | int | float | bool)}


def _stop_with(title: str, message: str, icon: str) -> None:
    """A whole page of one message, then nothing else runs."""
    st.title(f"{icon} {title}")
    st.markdown(message)


def _record_tab_start(access: AccessService, who: Identity) -> None:
    """Log this browser tab's start once: who, and from where as far as Streamlit can tell."""
    if st.session_state.get(STARTED) == who.operator:
        return
    st.session_state[STARTED] = who.operator
    access.record_tab_start(who, ip_address=_text(st.context.ip_address),
                            user_agent=_text(st.context.headers.get("User-Agent")))


def _once_per_tab(key: str, value: str) -> bool:
    """True the first time ``value`` is seen under ``key`` in this tab (log a refusal once, not per rerun)."""
    if st.session_state.get(key) == value:
        return False
    st.session_state[key] = value
    return True


def _log_out(access: AccessService, who: Identity) -> None:
    """End the sign-in on the server first (a copied cookie stops working), then Streamlit's cookie."""
    access.sign_out(who)
    st.logout()


def _sign_in_page() -> None:
    """The Sign in prompt, saying so when the provider refused the last attempt (the callback's
    middleware recorded it and sent the person here with the provider's error code)."""
    _stop_with("Sign in", "This console records who does what: sign in with your company account first.", "🔒")
    failed = st.query_params.get(FAILED_PARAM)
    if failed:
        st.error(f"**Sign-in failed**: the identity provider refused it (error {md(failed)}). If it refuses "
                 "Streamlit's default prompt=select_account, an administrator sets client_kwargs with another "
                 "prompt under [auth] in .streamlit/secrets.toml (see its example file).", icon="⚠️")
    st.button("Log in", type="primary", icon="🔑", on_click=st.login, key="access_login")


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


def gate(sessions: SessionsService) -> Identity:
    """:func:`checked_gate`, with a call log that cannot be written shown as a page of its own."""
    with log_guard():
        return checked_gate(AccessService(sessions.log))


def checked_gate(access: AccessService) -> Identity:
    """Who is here, or stop the script: misconfiguration, a non-loopback bind in local mode, a
    missing sign-in and a person without a role each get a page of their own and nothing else."""
    try:
        policy = access.starting_policy(st.get_option("server.address"))
    except ConfigError as exc:
        _stop_with("The console cannot start", f"**Configuration problem**: {md(exc)}", "⛔")
        st.stop()
    try:
        who = access.identify(policy, _claims())
    except LoginRequired:
        _sign_in_page()
        st.stop()
    except SignInRefused as refused:
        if _once_per_tab(REFUSED_LOGGED, refused.signin.signin_id):
            access.record_refused(refused)
        _stop_with("Sign-in refused", md(refused.reason), "🚫")
        st.button("Log out", on_click=st.logout, key="access_logout_refused")
        st.stop()
    ended = access.check_signin(who)
    if ended:
        if who.signin and _once_per_tab(ENDED_LOGGED, who.signin.signin_id):
            access.record_ended(who, ended)
        _stop_with("Sign in again", f"Your sign-in has ended: {md(ended)}. Sign in again to go on.", "🔒")
        st.button("Log in", type="primary", icon="🔑", on_click=st.login, key="access_login")
        st.stop()
    _record_tab_start(access, who)
    if not who.has_role:
        if st.session_state.get(NO_ROLE_LOGGED) != who.operator:
            st.session_state[NO_ROLE_LOGGED] = who.operator
            access.record_no_role(who)
        _stop_with("No access", md(policy.no_role_message(who)), "🚫")
        st.button("Log out", on_click=_log_out, args=(access, who), key="access_logout_norole")
        st.stop()
    return who


def shared_sessions() -> SessionsService:
    """The process-wide sessions service on the configured database, once its call log can be
    written (checked on every run: a few system calls); otherwise a page saying why, and the script stops."""
    with log_guard():
        sessions = _sessions(str(ops_db_path()))
        sessions.log.preflight()
    return sessions


def allowed_pages(who: Identity) -> list[PageInfo]:
    """The menu entries ``who`` may open, in menu order (what app.py registers and the sidebar lists)."""
    return [page for page in PAGES if who.may(page.action)]


def _refuse_page(access: AccessService, who: Identity, page: PageInfo) -> None:
    """Stop before the page draws anything when ``who`` may not open it (a URL typed, a stale link)."""
    try:
        access.open_page(who, page.key, page.action)
    except AccessDenied as denied:
        _stop_with("Not allowed", f"{md(denied)}.", "🚫")
        for other in allowed_pages(who):
            page_link(other, label=other.title, icon=other.icon)
        st.stop()


def frame(page: PageInfo) -> Frame:
    """Draw the shared frame for ``page`` and return what the page needs.

    Refuses (and logs) a person who may not open this page before anything of the page is drawn.
    """
    st.set_page_config(page_title=f"{page.title} · Payment sessions", page_icon=page.icon, layout="wide")
    sessions = shared_sessions()
    who = gate(sessions)
    with log_guard():
        _refuse_page(AccessService(sessions.log), who, page)
    environments = who.allowed_environments(sessions.environments())
    with st.sidebar:
        st.markdown("### 💳 Payment sessions")
        for other in allowed_pages(who):
            page_link(other, label=other.title, icon=other.icon)
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
            st.button("Log out", on_click=_log_out, args=(AccessService(sessions.log), who), icon="🚪",
                      key="access_logout")
        if env_name == "sandbox":
            st.caption(f"Local sandbox at `{sessions.sandbox_base_url}`")
        with log_guard():
            paid_toasts(_payments(str(ops_db_path())), AccessService(sessions.log), who)
    try:
        env = sessions.environment(env_name or "sandbox")
    except ConfigError as exc:
        st.error(f"**{env_name}** is not usable: {md(exc)}")
        st.stop()
    if env.live:
        st.markdown(
            '<div data-testid="live-banner" style="background:#c62828;color:white;padding:0.6rem 1rem;'
            'border-radius:0.4rem;font-weight:700;font-size:1.1rem;margin-bottom:0.8rem">'
            "LIVE — acquired-live moves real money</div>", unsafe_allow_html=True)
    st.title(f"{page.icon} {page.title}")
    return Frame(sessions, env.name, env, who, zone(st.context.timezone))
