"""The session pickers of the Update amount and Session detail pages, kept in step with ``?session=``.

The URL follows the picker, so the address bar can be shared; a cleared picker clears it (never
``?session=None``). QA runs' sessions stay out of the list until asked for, as on Active sessions.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

import streamlit as st

from lib.sessions.service import Session, session_label
from ui.text import md

QA_HELP = "Sessions made by automated QA runs (tagged qa-run:…) are hidden by default."


def _follow(key: str) -> None:
    chosen = st.session_state[key]
    if chosen is None:
        st.query_params.pop("session", None)
    else:
        st.query_params["session"] = chosen


def pick(sessions_of: Callable[[bool], list[Session]], tz: tzinfo, *, key: str, toggle_key: str, label: str,
         placeholder: str, empty: str, with_creator: bool = False) -> str | None:
    """The session to work on: ``?session=`` when it names one outside the list (the page explains
    what it is), else the picker's choice among ``sessions_of(include_qa)``."""
    wanted = st.query_params.get("session")
    include_qa = st.toggle("Include QA-run sessions", key=toggle_key, help=QA_HELP)
    offered = {s.session_id: s for s in sessions_of(include_qa)}
    if wanted and wanted not in offered:
        return wanted  # expired, unknown, a QA run's or elsewhere: the page explains
    if not offered:
        st.info(md(empty), icon="💤")
        return None
    if wanted and st.session_state.get(key) != wanted:
        st.session_state[key] = wanted
    elif st.session_state.get(key) not in (None, *offered):
        st.session_state[key] = None  # a session gone from the list
    labels = {sid: session_label(s, tz) + (f" · {s.created_by}" if with_creator else "") for sid, s in offered.items()}
    return st.selectbox(label, list(offered), key=key, index=None, format_func=labels.__getitem__, on_change=_follow,
                        args=(key,), placeholder=placeholder)
