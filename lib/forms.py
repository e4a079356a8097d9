"""From form values (one per field path) to the exact request body, and back.

The New session and Update pages draw one widget per :func:`lib.fields.leaves` path and hand
the values here; what is empty is left out (the API's defaults apply), nested objects are built
from dotted paths, and text that cannot become the field's type is reported with the contract's
reason at that path, so the page shows every problem at its field before anything is sent.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lib import dotted, jsonutil
from lib.fields import Leaf, leaves
from lib.validation import Problem, validate_create, validate_update

EMPTY = (None, "", [], ())


def _convert(leaf: Leaf, raw: Any) -> tuple[Any, str | None]:
    """(value, reason) for one widget value; a reason means it cannot be the field's type."""
    if leaf.kind == "number" and isinstance(raw, str):
        text = raw.strip().replace(",", "").replace(" ", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None, f"{leaf.path} must be a number"
        return (value, None) if value.is_finite() else (None, f"{leaf.path} must be a number")
    if leaf.kind == "list" and isinstance(raw, str):  # one item per line (company domains)
        return [line.strip() for line in raw.splitlines() if line.strip()], None
    if isinstance(raw, str):
        return raw.strip(), None
    return raw, None


def build_body(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The body the form describes and the problems of turning text into typed values."""
    body: dict[str, Any] = {}
    problems: list[Problem] = []
    for leaf in leaves():
        raw = values.get(leaf.path)
        if raw in EMPTY or (isinstance(raw, str) and not raw.strip()):
            continue
        value, reason = _convert(leaf, raw)
        if reason:
            problems.append(Problem(parameter=leaf.path, reason=reason))
        elif value not in EMPTY:
            dotted.put(body, leaf.path, value)
    return body, problems


def check_create(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The body and every problem the API would report, without sending anything."""
    body, problems = build_body(values)
    converted = {p["parameter"] for p in problems}
    return body, problems + [p for p in validate_create(body) if p["parameter"] not in converted]


def check_update(current: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
    """(patch, merged, problems) for the Update page: only values that differ from now are sent."""
    wanted, problems = build_body(values)
    patch = changed(current, wanted)
    merged, found = validate_update(current, patch)
    converted = {p["parameter"] for p in problems}
    return patch, merged, problems + [p for p in found if p["parameter"] not in converted]


def changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``wanted`` that differs from ``current`` (nested objects compared key by key)."""
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        before = current.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = changed(before, value)
            if inner:
                patch[key] = inner
        elif value != before:
            patch[key] = value
    return patch


def values_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values (path → value) for a body: prefills a form from an existing session."""
    found: dict[str, Any] = {}
    for leaf in leaves():
        node = dotted.lookup(body, leaf.path)
        if node is not dotted.MISSING and node is not None:
            found[leaf.path] = str(node) if isinstance(node, Decimal) else node
    return found


def preview_json(body: Mapping[str, Any]) -> str:
    """The exact JSON that would be sent, indented for reading."""
    return jsonutil.dumps(body, pretty=True)


def curl_command(method: str, url: str, body: Mapping[str, Any]) -> str:
    """The equivalent curl command; the token stays a placeholder, never the real one."""
    return " \\\n  ".join([
        f"curl -X {method} {shlex.quote(url)}",
        '-H "Authorization: Bearer $ACQUIRED_TOKEN"',
        "-H 'Content-Type: application/json'",
        "-H 'Accept: application/json'",
        f"--data {shlex.quote(jsonutil.dumps(body))}",
    ])
