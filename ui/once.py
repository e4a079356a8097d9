"""Buttons whose action must run once per click: creating a session, sending an update.

Streamlit can report one click twice: measured in a real browser, a page with a fragment that
reruns every second (our countdowns) ran a button's callback 16 times for 15 clicks. A person's
double-click does the same. For a call that moves money or opens a payment link, the second run
would be a second call, so each drawing of such a button carries a number, and its callback runs
only for the number it was drawn with: a click reported again, or made on a button drawn before
the last handled click, does nothing.
"""
from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import streamlit as st


def _counter(key: str) -> str:
    return f"once:{key}"


def run_once(state: MutableMapping[str, Any], key: str, drawn: int, action: Callable[..., Any],
             args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Run ``action`` if this button's drawing ``drawn`` was not acted on yet (``state``: session state)."""
    if state.get(_counter(key), 0) != drawn:
        return
    state[_counter(key)] = drawn + 1
    action(*args, **kwargs)


def once(name: str, action: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``on_click`` and ``args`` for ``st.button(..., **once(name, action, ...))``; ``args`` and
    ``kwargs`` go to ``action`` (a ``key`` among them is the action's, not the button's)."""
    drawn = st.session_state.get(_counter(name), 0)
    return {"on_click": run_once, "args": (st.session_state, name, drawn, action, args, kwargs)}
