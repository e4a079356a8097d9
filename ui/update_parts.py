"""The Update amount page's parts: why a session cannot be updated here, and an update in doubt.

Each part draws one thing and calls the sessions service; the page composes them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from lib.access.service import Identity
from lib.sessions.service import Environment, Session, SessionExpired, SessionsService, preview_json
from ui.once import once
from ui.text import md
from ui.widgets import expired_notice, live_confirmation, log_link, recreate_session, show_recreated


def refused(sessions: SessionsService, env: Environment, who: Identity, session: Session,
            expired: SessionExpired | None, *, recreated_key: str, confirm_key: str, tz: Any) -> bool:
    """Draw why this session cannot be updated here, if it cannot; True then. ``expired`` is the
    refusal of a confirm that came too late (the page was drawn before the session expired)."""
    if not sessions.belongs_to(session, env.name):
        st.warning(f"This session belongs to **{md(session.environment)}**: switch the environment in the sidebar.")
        return True
    if expired is None and not session.expired(sessions.clock()):
        return False
    expired_notice(expired.expired_at if expired else session.expires_at, tz)
    live_confirmation(env, session.amount, session.currency, key=confirm_key)
    st.button("Recreate with the same parameters", icon="♻️",
              **once(recreated_key, recreate_session, sessions, env.name, who, session.session_id,
                     key=recreated_key, confirm_key=confirm_key))
    show_recreated(sessions, env.name, who, key=recreated_key, tz=tz, confirm_key=confirm_key)
    return True


def uncertain_banner(sessions: SessionsService, env: Environment, session: Session, *, mask: bool,
                     time: Callable[[Any], str], confirm_key: str, resend: Callable[[str, dict[str, Any]], None]) -> None:
    """An update whose outcome is unknown: say so loudly and offer to send the same one again."""
    pending = sessions.pending_update(session.session_id)
    if pending is None:
        return
    with st.container(border=True):
        st.error(f"**AMOUNT UNCERTAIN.** An update sent by {md(pending.call.operator)} at {time(pending.call.at)} "
                 "got no answer: the API may hold the old parameters or the new ones. Nothing was sent again.", icon="❓")
        st.markdown("The update that was sent:")
        st.code(preview_json(sessions.masked(pending.patch) if mask else pending.patch), language="json")
        facts = pending.merged_facts(session)
        live_confirmation(env, facts.amount, facts.currency, key=confirm_key)
        st.button("Send the same update again", type="primary", icon="🔁",
                  help="Sets the same values again: harmless if the first one did take effect.",
                  **once(f"resend:{session.session_id}", resend, session.session_id, pending.patch))
        log_link(pending.call.seq, "The unanswered call")
