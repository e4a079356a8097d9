"""The frame every page draws first: page config, sidebar, LIVE banner, shared resources.

Every page calls :func:`frame` at its top, so a page reached directly by URL on a fresh server
(Streamlit's legacy ``pages/`` mode runs it without ``app.py``) behaves exactly like one reached
through ``st.navigation``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import streamlit as st

from lib import identity, timefmt
from lib.calllog import default_db_path
from lib.config import ConfigError, Environment
from lib.console import Console
from lib.qa.store import recover_interrupted
from lib.sandbox.runtime import ensure_sandbox
from ui.navigation import PAGES
from ui.widgets import page_link

ENV_KEY = "environment"  # the choice itself: plain session state, so it survives page switches
ENV_WIDGET = "environment_picker"  # the widget, refilled from the choice on every run


def _keep_choice() -> None:
    st.session_state[ENV_KEY] = st.session_state[ENV_WIDGET]


@st.cache_resource(show_spinner="Starting the local sandbox…")
def _console(db_path: str) -> Console:
    """One console (and one sandbox) per server process and database, shared by every tab.

    Also the once-per-process moment to mark QA runs whose worker process is gone as interrupted.
    """
    recover_interrupted(db_path)
    return Console(sandbox_base_url=ensure_sandbox().base_url, db_path=Path(db_path))


@dataclass(frozen=True)
class Frame:
    console: Console
    env_name: str
    env: Environment
    operator: str
    tz: tzinfo

    def time(self, moment: datetime | None, *, seconds: bool = True) -> str:
        """A stored UTC time in the viewer's zone, zone named."""
        return timefmt.local(moment, self.tz, seconds=seconds)


def _logged_in_email() -> str | None:
    user = st.user
    return user.get("email") if user.get("is_logged_in") else None


def frame(title: str, *, icon: str | None = None) -> Frame:
    """Draw the shared frame and return what the page needs (the icon is the menu's by default)."""
    icon = icon or next((p.icon for p in PAGES if p.title == title), "💳")
    st.set_page_config(page_title=f"{title} · Payment sessions", page_icon=icon, layout="wide")
    console = _console(str(default_db_path()))
    operator = identity.operator(_logged_in_email())
    environments = console.environments()
    with st.sidebar:
        st.markdown("### 💳 Payment sessions")
        for page in PAGES:
            page_link(page.path, label=page.title, icon=page.icon)
        st.divider()
        # A widget's own state restarts on another page for the first run: the choice is kept apart
        # and written into the widget before it is drawn, so no run ever acts on another environment.
        chosen = st.session_state.get(ENV_KEY)
        st.session_state[ENV_WIDGET] = chosen if chosen in environments else environments[0]
        env_name = st.selectbox("Environment", environments, key=ENV_WIDGET, on_change=_keep_choice,
                                help="Real Acquired environments appear once their credentials are configured.")
        st.text_input("Operator", operator, disabled=True, key="operator_shown",
                      help="Who the log records: the logged-in e-mail, else OPS_OPERATOR, else the OS user.")
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
    return Frame(console, env.name, env, operator, timefmt.zone(st.context.timezone))
