"""Prefilling the Update form from a session so that an untouched form sends nothing.

The form's checkboxes cannot say "not sent": a field the session never set shows a value anyway.
Shown naively (the schema's default), an untouched form would send ``transaction.capture: true``
and, worse, ``tds: {is_active: true}`` (turning 3-D Secure on) with a mere amount change. So a
field the session lacks starts from what the API effectively has, and a value still equal to that
is left out of what is sent.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lib.fields import dotted
from lib.sessions import form_values as forms
from lib.fields.schema import Leaf, leaves


def _present(params: Mapping[str, Any], path: str) -> bool:
    return dotted.lookup(params, path) is not dotted.MISSING


def _effective(params: Mapping[str, Any], leaf: Leaf) -> Any:
    """What the API has for a checkbox field the session never set: the schema's default when its
    object was sent (``transaction.capture`` → true), off when the whole object was not (no ``tds``
    → 3-D Secure is not active)."""
    parent = leaf.path.rsplit(".", 1)[0] if "." in leaf.path else ""
    return leaf.schema["default"] if not parent or _present(params, parent) else False


def _implicit(params: Mapping[str, Any]) -> dict[str, Any]:
    """Checkbox fields (those with a schema default) absent from ``params``, with their effective value."""
    return {leaf.path: _effective(params, leaf) for leaf in leaves()
            if leaf.kind == "boolean" and "default" in leaf.schema and not _present(params, leaf.path)}


def defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values an Update form starts from for this session."""
    return {**_implicit(params), **forms.values_of(params)}


def values_to_send(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values with untouched implicit checkboxes left out (for ``forms.check_update``)."""
    implicit = _implicit(params)
    return {path: (None if path in implicit and value is implicit[path] else value) for path, value in values.items()}
