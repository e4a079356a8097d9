"""Form widgets generated from the field description: one widget per field path, never listed by hand.

Each widget's key is ``field:<path>`` (``prefix`` keeps two forms apart), its label, limits and
choices come from the schema, and the problem of that path is shown right under it, the field's
label first. Fields are laid out two to a row, one ``st.columns`` per row, so the reading order
and the tab order are the schema's (an address in postal order) on every screen width.
Text widgets have no ``max_chars``: a pasted value that is too long is kept and refused with
its reason, never cut or dropped.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import groupby
from typing import Any

import streamlit as st

from lib.sessions.service import (
    AMOUNT,
    CURRENCY,
    InvalidRequest,
    Leaf,
    Problem,
    amount_rules,
    currency_label,
    describe,
    is_empty,
    leaves,
    title_of,
)
from ui.text import md

NOT_SENT = "— not sent —"
_YES_NO: dict[Any, str] = {None: NOT_SENT, True: "Yes", False: "No"}


def widget_key(path: str, prefix: str = "field") -> str:
    return f"{prefix}:{path}"


def current_values(prefix: str = "field") -> dict[str, Any]:
    """The form's values as the widgets hold them (for button callbacks, which run before the page)."""
    return {leaf.path: st.session_state.get(widget_key(leaf.path, prefix)) for leaf in leaves()}


def _label(leaf: Leaf) -> str:
    return leaf.title + (" *" if leaf.required else "")


def _fill(field: Leaf, prefix: str) -> None:
    """A yes/no field that fills others (``x-fills``: shipping address matches billing) set to Yes:
    the target fields take the source fields' values, which the person can still edit."""
    if st.session_state.get(widget_key(field.path, prefix)) is not True:
        return
    source, target = field.schema["x-fills"]["from"] + ".", field.schema["x-fills"]["to"] + "."
    for leaf in leaves():
        if leaf.path.startswith(source):
            copy = target + leaf.path.removeprefix(source)
            st.session_state[widget_key(copy, prefix)] = st.session_state.get(widget_key(leaf.path, prefix))


def _help(leaf: Leaf, prefix: str) -> str | None:
    text = leaf.schema.get("description") or ""
    if leaf.path == AMOUNT:
        text += f" {amount_rules(st.session_state.get(widget_key(CURRENCY, prefix)))}."
    return text.strip() or None


def _widget(leaf: Leaf, key: str, default: Any, disabled: bool, prefix: str) -> Any:
    """The widget a field's kind calls for; its value is what the form sends (or None)."""
    schema, help_text = leaf.schema, _help(leaf, prefix)
    default = schema.get("x-form-default") if default is None else default
    if key not in st.session_state and default is not None:
        st.session_state[key] = default
    if leaf.path == CURRENCY:
        return st.selectbox(_label(leaf), schema["enum"], key=key, format_func=currency_label, disabled=disabled)
    if leaf.kind == "enum":
        return st.selectbox(_label(leaf), [None, *schema["enum"]], key=key, disabled=disabled, help=help_text,
                            format_func=lambda v: NOT_SENT if v is None else v)
    if leaf.kind == "boolean":
        if "default" in schema:
            if key not in st.session_state:
                st.session_state[key] = schema["default"]
            return st.checkbox(_label(leaf), key=key, disabled=disabled, help=help_text)
        fills = "x-fills" in schema
        return st.selectbox(_label(leaf), list(_YES_NO), key=key, format_func=_YES_NO.__getitem__,
                            disabled=disabled, help=help_text, on_change=_fill if fills else None,
                            args=(leaf, prefix) if fills else ())
    if leaf.kind == "list" and "enum" in schema["items"]:
        return st.multiselect(_label(leaf), schema["items"]["enum"], key=key, disabled=disabled, help=help_text)
    if leaf.kind == "list":
        return st.text_area(_label(leaf), key=key, disabled=disabled, height=80,
                            help=(help_text or "") + " One per line.")
    if leaf.kind == "number":
        return st.text_input(_label(leaf), key=key, disabled=disabled, help=help_text, placeholder="0.00")
    return st.text_input(_label(leaf), key=key, disabled=disabled, help=help_text,
                         placeholder=", ".join(schema.get("examples", [])) or None)


def show_problem(problem: Problem) -> None:
    """One problem as a person reads it: the field's label, the reason, the API's path small beside.

    Reasons may come from the API: they are shown as text, never as Markdown."""
    label, reason = describe(problem)
    st.error(f"**{md(label)}**: {md(reason)} · :small[{md(problem['parameter'])}]", icon="⚠️")


def field(leaf: Leaf, *, problems: Mapping[str, Problem], prefix: str = "field", default: Any = None,
          disabled: bool = False) -> Any:
    """One field's widget with its problem right under it (and, for the amount, what it takes)."""
    value = _widget(leaf, widget_key(leaf.path, prefix), default, disabled, prefix)
    if leaf.path in problems:
        show_problem(problems[leaf.path])
    if leaf.path == AMOUNT:
        st.caption(amount_rules(st.session_state.get(widget_key(CURRENCY, prefix))))
    return value




def visible_problems(live: Iterable[Problem], values: Mapping[str, Any], failure: Exception | None,
                     refused: Iterable[Problem] = ()) -> list[Problem]:
    """The problems to draw at the fields: as the person types, those of fields they filled in;
    after a refused attempt, every one (empty required fields too) and the API's own ``refused``."""
    live = list(live)
    if isinstance(failure, InvalidRequest):
        return live
    shown = list(refused)
    paths = {p["parameter"] for p in shown}
    return shown + [p for p in live if p["parameter"] not in paths and not is_empty(values.get(p["parameter"]))]


def _chunks(group_leaves: list[Leaf]) -> Iterator[tuple[tuple[str, str], list[Leaf]]]:
    """Consecutive leaves by (section, subsection): ``customer.billing.address.city`` is in
    (``customer.billing``, ``customer.billing.address``); a plain ``transaction.amount`` in ("", "")."""
    def where(leaf: Leaf) -> tuple[str, str]:
        parts = leaf.path.split(".")
        return (".".join(parts[:2]) if len(parts) > 2 else "", ".".join(parts[:3]) if len(parts) > 3 else "")
    for key, chunk in groupby(group_leaves, key=where):
        yield key, list(chunk)


def session_form(*, problems: Iterable[Problem] = (), prefix: str = "field",
                 defaults: Mapping[str, Any] | None = None, only: Callable[[Leaf], bool] | None = None,
                 expanded_groups: Iterable[str] = ("Transaction", "3-D Secure", "Options"),
                 extra_transaction: Callable[[], None] | None = None) -> dict[str, Any]:
    """Draw the whole session form grouped as the design says; return {path: value}.

    ``only`` limits the fields (the Update page shows the updatable ones); ``defaults`` prefill.
    """
    by_path = {p["parameter"]: p for p in problems}
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
            section = ""
            for (heading, subheading), chunk in _chunks(group_leaves):
                if heading and heading != section:
                    section = heading
                    st.markdown(f"**{title_of(heading)}**")
                if subheading:
                    st.caption(title_of(subheading))
                for start in range(0, len(chunk), 2):
                    # two columns, the last pair of an odd chunk fills one
                    for column, leaf in zip(st.columns(2), chunk[start:start + 2], strict=False):
                        with column:
                            values[leaf.path] = field(leaf, problems=by_path, prefix=prefix,
                                                      default=defaults.get(leaf.path))
    for path in set(by_path) - set(values):  # problems of fields not on this form (e.g. body)
        show_problem(by_path[path])
    return values
