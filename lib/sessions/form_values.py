"""From form values (one per field path) to the exact request body, and back.

The Update form starts from a session: its checkboxes cannot say "not sent", so a field the
session never set would show a value anyway. Shown naively (the schema's default), an untouched
form would send ``transaction.capture: true`` and, worse, ``tds: {is_active: true}`` (turning
3-D Secure on) with a mere amount change. So such a field starts from what the API effectively
has, and a value still equal to that is left out of what is sent.

The New session and Update pages draw one widget per :func:`lib.fields.schema.leaves` path and hand
the values here; what is empty is left out (the API's defaults apply), nested objects are built
from dotted paths, and text that cannot become the field's type is reported with the contract's
reason at that path, so the page shows every problem at its field before anything is sent.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lib import settings
from lib.common import jsonutil
from lib.fields import dotted, money
from lib.fields.schema import AMOUNT, CAPTURE, CURRENCY, Leaf, currency_decimals, leaf, leaves
from lib.fields.validation import Problem, validate_create, validate_update
from lib.settings import limits

# What a form field holds when nothing was entered.
EMPTY: tuple[object, ...] = (None, "", [], ())


def amount_rules(currency: Any) -> str:
    """What the amount field takes in ``currency``: its decimals and the console's ceiling."""
    code = str(currency or leaf(CURRENCY).schema.get("x-form-default", "")).lower()
    places = currency_decimals(code)
    decimals = f"up to {places} decimal places" if places else "no decimals"
    try:
        ceiling = f", at most {money.format_amount(limits.amount_ceiling(code), code)}"
    except settings.ConfigError:
        ceiling = ""  # the frame reports the broken setting on its own
    return f"{code.upper()}: {decimals}{ceiling}"


def _amount(raw: str, currency: Any) -> tuple[Decimal | None, str | None]:
    """(amount, reason): the one parser, then the console's ceiling when the currency is known."""
    try:
        value = money.parse_amount(raw, currency)
    except money.AmountError as exc:
        return None, exc.reason
    code = str(currency or "").lower()
    if code in leaf(CURRENCY).schema["enum"]:
        ceiling = limits.amount_ceiling(code)
        if value > ceiling:
            return None, (f"must be at most {money.format_amount(ceiling, code)} (the console's ceiling for one "
                          f"session; {limits.CEILING_SOURCE})")
    return value, None


def _convert(field: Leaf, raw: Any, currency: Any) -> tuple[Any, str | None]:
    """(value, reason) for one widget value; a reason means it cannot be the field's type.

    Text is kept exactly as typed (a value of only white space counts as empty), so the
    validation sees what the person sees and an over-long value is refused, not cut.
    """
    if field.kind == "number" and isinstance(raw, str):
        return _amount(raw, currency)
    if field.kind == "list" and isinstance(raw, str):  # one item per line (company domains)
        return [line.strip() for line in raw.splitlines() if line.strip()], None
    return raw, None


def is_empty(raw: Any) -> bool:
    """A widget value that sends nothing: none, an empty list, or text of only white space."""
    return raw in EMPTY or (isinstance(raw, str) and not raw.strip())


def build_body(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The body the form describes and the problems of turning text into typed values."""
    body: dict[str, Any] = {}
    problems: list[Problem] = []
    for field in leaves():
        raw = values.get(field.path)
        if is_empty(raw):
            continue
        value, reason = _convert(field, raw, values.get(CURRENCY))
        if reason:
            problems.append(Problem(parameter=field.path, reason=f"{field.path} {reason}"))
        elif value not in EMPTY:
            dotted.put(body, field.path, value)
    return body, problems


def form_rules(body: Mapping[str, Any]) -> list[Problem]:
    """The console's own rules beyond the API's: an amount of 0 only with capture off.

    The API takes 0 with capture on, but such a session can never collect money: the field's
    help says so, and the form refuses it at the amount.
    """
    amount = dotted.lookup(body, AMOUNT)
    if isinstance(amount, (int, Decimal)) and not isinstance(amount, bool) and amount == 0 \
            and dotted.lookup(body, CAPTURE) is not False:
        return [Problem(parameter=AMOUNT, reason=f"{AMOUNT} can be 0 only with capture off (card saving): "
                                                 "untick Capture, or enter the amount to charge")]
    return []


def _merge_problems(*groups: list[Problem]) -> list[Problem]:
    """One problem per path, the earliest group's first (a conversion problem hides the rest)."""
    seen: set[str] = set()
    merged = []
    for group in groups:
        for problem in group:
            if problem["parameter"] not in seen:
                seen.add(problem["parameter"])
                merged.append(problem)
    return merged


def check_create(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The body and every problem the API (or the console's rules) would report, sending nothing."""
    body, problems = build_body(values)
    return body, _merge_problems(problems, validate_create(body), form_rules(body))


def check_update(current: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Problem]]:
    """(patch, merged, problems) for the Update page: only values that differ from now are sent."""
    wanted, problems = build_body(values)
    patch = changed(current, wanted)
    merged, found = validate_update(current, patch)
    return patch, merged, _merge_problems(problems, found, form_rules(merged) if patch else [])


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
    """Widget values (path → value) for a body: prefills a form from an existing session.

    Text widgets get text: an amount with its currency's decimals (``20`` → ``"20.00"``, never
    rounded), any other odd value as its text, so no stored value can crash a widget.
    """
    found: dict[str, Any] = {}
    currency = dotted.lookup(body, CURRENCY)
    for field in leaves():
        node = dotted.lookup(body, field.path)
        if node is dotted.MISSING or node is None:
            continue
        if field.kind == "number" and isinstance(node, (int, Decimal)) and not isinstance(node, bool):
            node = money.plain(node, currency if isinstance(currency, str) else "")
        elif field.kind == "list" and "enum" not in field.schema["items"] and isinstance(node, list):
            node = "\n".join(str(item) for item in node)  # the text area's one item per line
        elif field.kind in ("number", "string") and not isinstance(node, str):
            node = jsonutil.dumps(node)
        found[field.path] = node
    return found


def describe(problem: Problem) -> tuple[str, str]:
    """(the field's label, the reason without its path) for showing a problem at its field.

    The API words a reason after the path (``transaction.amount can not be empty``); a person
    reads the label first (``Amount``: can not be empty), with the path shown small beside it.
    """
    path, reason = problem["parameter"], problem["reason"]
    try:
        label = leaf(path).title
    except KeyError:
        label = {"body": "Request"}.get(path, path)
    return label, reason.removeprefix(f"{path} ").strip() or reason


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


def update_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values an Update form starts from for this session."""
    return {**_implicit(params), **values_of(params)}


def update_values(params: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values with untouched implicit checkboxes left out (for :func:`check_update`)."""
    implicit = _implicit(params)
    return {path: (None if path in implicit and value is implicit[path] else value) for path, value in values.items()}
