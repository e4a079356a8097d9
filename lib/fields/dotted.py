"""Dotted field paths (``customer.billing.email``) read from and written into nested bodies.

The contract names every field by such a path; the form, the update page and the QA model all
move between paths and nested JSON, through these two functions.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING: Any = object()  # what lookup answers for a path the body does not have


def lookup(body: Any, path: str) -> Any:
    """The value at ``path``, or :data:`MISSING` (a None that was sent is a value)."""
    node = body
    for name in path.split("."):
        if not isinstance(node, Mapping) or name not in node:
            return MISSING
        node = node[name]
    return node


def put(body: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``body``, creating the objects on the way."""
    node = body
    *parents, last = path.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value
