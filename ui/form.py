"""Form widgets generated from the field description: one widget per field path, never listed by hand.

Each widget's key is ``field:<path>`` (``prefix`` keeps two forms apart), its label, limits and
choices come from the schema, and the problems of that path are shown right under it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import streamlit as st

from lib.fields import Leaf, currency_decimals, currency_label, leaves
from lib.validation import Problem

NOT_SENT = "— not sent —"
_YES_NO: dict[Any, str] = {None: NOT_SENT, True: "Yes", False: "No"}


def widget_key(path: str, prefix: str = "field") -> str:
    return f"{prefix}:{path}"


def current_values(prefix: str = "field") -> dict[str, Any]:
    """The form's values as the widgets hold them (for button callbacks, which run before the page)."""
    return {leaf.path: st.session_state.get(widget_key(leaf.path, prefix)) for leaf in leaves()}


def _label(leaf: Leaf) -> str:
    return leaf.title + (" *" if leaf.required else "")


def _widget(leaf: Leaf, key: str, default: Any, disabled: bool) -> Any:
    """The widget a field's kind calls for; its value is what the form sends (or None)."""
    schema, help_text = leaf.schema, leaf.schema.get("description") or None
    default = schema.get("x-form-default") if default is None else default
    if key not in st.session_state and default is not None:
        st.session_state[key] = default
    if leaf.path == "transaction.currency":
        return st.selectbox(_label(leaf), schema["enum"], key=key, format_func=currency_label, disabled=disabled)
    if leaf.kind == "enum":
        return st.selectbox(_label(leaf), [None, *schema["enum"]], key=key, disabled=disabled, help=help_text,
                            format_func=lambda v: NOT_SENT if v is None else v)
    if leaf.kind == "boolean":
        if "default" in schema:
            if key not in st.session_state:
                st.session_state[key] = schema["default"]
            return st.checkbox(_label(leaf), key=key, disabled=disabled, help=help_text)
        return st.selectbox(_label(leaf), list(_YES_NO), key=key, format_func=_YES_NO.__getitem__,
                            disabled=disabled, help=help_text)
    if leaf.kind == "list" and "enum" in schema["items"]:
        return st.multiselect(_label(leaf), schema["items"]["enum"], key=key, disabled=disabled, help=help_text)
    if leaf.kind == "list":
        return st.text_area(_label(leaf), key=key, disabled=disabled, height=80,
                            help=(help_text or "") + " One per line.")
    if leaf.kind == "number":
        return st.text_input(_label(leaf), key=key, disabled=disabled, help=help_text, placeholder="0.00")
    return st.text_input(_label(leaf), key=key, max_chars=schema.get("maxLength"), disabled=disabled,
                         help=help_text, placeholder=", ".join(schema.get("examples", [])) or None)


def field(leaf: Leaf, *, problems: Mapping[str, str], prefix: str = "field", default: Any = None,
          disabled: bool = False) -> Any:
    """One field's widget with its problem (the contract's reason) right under it."""
    value = _widget(leaf, widget_key(leaf.path, prefix), default, disabled)
    if leaf.path in problems:
        st.error(problems[leaf.path], icon="⚠️")
    return value


def amount_hint(currency: Any) -> str:
    """`2 decimal places` / `no decimals`: what the amount field takes in this currency."""
    places = currency_decimals(str(currency or "gbp"))
    return f"{places} decimal places" if places else "no decimals"


def session_form(*, problems: Iterable[Problem] = (), prefix: str = "field",
                 defaults: Mapping[str, Any] | None = None, only: Callable[[Leaf], bool] | None = None,
                 expanded_groups: Iterable[str] = ("Transaction", "3-D Secure", "Options"),
                 extra_transaction: Callable[[], None] | None = None) -> dict[str, Any]:
    """Draw the whole session form grouped as the design says; return {path: value}.

    ``only`` limits the fields (the Update page shows the updatable ones); ``defaults`` prefill.
    """
    by_path = {p["parameter"]: p["reason"] for p in problems}
    defaults = defaults or {}
    values: dict[str, Any] = {}
    groups: dict[str, list[Leaf]] = {}
    for leaf in leaves():
        if only is None or only(leaf):
            groups.setdefault(leaf.group, []).append(leaf)
    expanded = set(expanded_groups)
    for group, group_leaves in groups.items():
        with st.expander(group, expanded=group in expanded):
            if group == "Transaction" and extra_transaction:
                extra_transaction()
            if group == "Options" and any(leaf.path == "payment_methods" for leaf in group_leaves):
                st.caption("Payment methods apply to the Payment component only, not Form or Fields.")
            section = ""
            columns = st.columns(2)
            for i, leaf in enumerate(group_leaves):
                parts = leaf.path.split(".")
                heading = ".".join(parts[1:-1]) if len(parts) > 2 else ""
                if heading != section:
                    section = heading
                    st.markdown(f"**{heading.replace('.', ' › ').title()}**")
                    columns = st.columns(2)
                with columns[i % 2]:
                    values[leaf.path] = field(leaf, problems=by_path, prefix=prefix, default=defaults.get(leaf.path))
                    if leaf.path == "transaction.amount":
                        st.caption(amount_hint(st.session_state.get(widget_key("transaction.currency", prefix))))
    for path in set(by_path) - set(values):  # problems of fields not on this form (e.g. body)
        st.error(by_path[path], icon="⚠️")
    return values
