"""Validation of payment-session requests, giving the API's error list exactly (docs/contract.md, "Refusals").

One implementation, used by the sandbox (what it answers) and by the client's pre-check (what
the form refuses before sending): ``jsonschema`` checks :data:`lib.fields.schema.SESSION_SCHEMA`, and
this module only turns its errors into the contract's dotted paths and reasons, one per path,
all at once.
"""
from __future__ import annotations

import base64
import ipaddress
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypedDict
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

from lib.fields.actions import ACTION_SCHEMAS
from lib.fields.parts import Part, split
from lib.fields.schema import NOT_UPDATABLE_FIELDS, SESSION_SCHEMA, UPDATABLE_FIELDS, leaves


class Problem(TypedDict):
    """One entry of the API's ``invalid_parameters`` list."""

    parameter: str
    reason: str


BODY_NOT_OBJECT = Problem(parameter="body", reason="body must be a JSON object")

_FORMATS = FormatChecker(formats=())
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@_FORMATS.checks("email")
def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@_FORMATS.checks("uri")
def _is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host and no white space."""
    if not isinstance(value, str):
        return True
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@_FORMATS.checks("uuid-or-empty")
def _is_uuid_or_empty(value: object) -> bool:
    return not isinstance(value, str) or value == "" or bool(_UUID.match(value) and uuid.UUID(value))


@_FORMATS.checks("date")
def _is_date(value: object) -> bool:
    """``YYYY-MM-DD`` naming a real day (whether it may lie in the future is ``x-not-future``'s rule)."""
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@_FORMATS.checks("base64")
def _is_base64(value: object) -> bool:
    """Standard base64 with its padding: what the API decodes (RFC 4648 section 4, no line breaks)."""
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return False
    return True


# The earliest time zone's date: a date that is today anywhere on Earth is not refused as future.
_EARLIEST_ZONE = timezone(timedelta(hours=14))


def latest_today() -> date:
    """Today's date where it is latest (UTC+14). Tests replace this to fix the clock."""
    return datetime.now(_EARLIEST_ZONE).date()


@_FORMATS.checks("ip-address")
def _is_ip(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def decimal_places(number: int | float | Decimal) -> int:
    """Decimal places a number really has (15.10 has 1; a float is read as its shortest repr)."""
    value = number if isinstance(number, Decimal) else Decimal(repr(number))
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _is_number(value: object) -> bool:
    """A JSON number: not a boolean, and never NaN or an infinity (Python callers can pass them)."""
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)



def _decimals_by_currency(validator: Any, table: Mapping[str, int], instance: Any, schema: Any) -> Iterator[ValidationError]:
    """``x-decimals-by-currency``: the amount has at most the currency's decimals (2 if unknown)."""
    if not validator.is_type(instance, "object") or not _is_number(instance.get("amount")):
        return
    places = table.get(str(instance.get("currency", "")).lower(), 2)
    if decimal_places(instance["amount"]) > places:
        yield ValidationError(
            f"must have at most {places} decimal places" if places else "must have no decimal places", validator="x-decimals-by-currency",
            path=["amount"], validator_value=places, instance=instance["amount"], schema={},
        )


def _not_future(validator: Any, enabled: bool, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """``x-not-future``: a well-formed date that lies after today (a badly formed one is ``format``'s)."""
    if not enabled or not isinstance(instance, str) or not _is_date(instance):
        return
    if date.fromisoformat(instance) > latest_today():
        yield ValidationError("must not be in the future")


# types-jsonschema leaves extend() unannotated; what it returns is a validator class.
_Validator: type[Validator] = extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"x-decimals-by-currency": _decimals_by_currency, "x-not-future": _not_future},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", lambda _checker, value: _is_number(value)),
)
_VALIDATOR = _Validator(SESSION_SCHEMA, format_checker=_FORMATS)
_ACTION_VALIDATORS = {kind: _Validator(schema, format_checker=_FORMATS) for kind, schema in ACTION_SCHEMAS.items()}

# An error and the path of the value it was found under (its own path is relative to that value).
_Found = tuple[tuple[str, ...], ValidationError]

_TYPE_WORDS = {"string": "a string", "number": "a number", "boolean": "a boolean", "object": "an object", "array": "a list"}
_ORDER = {path: i for i, path in enumerate(
    [leaf.path for leaf in leaves()]
    + [name for name, sub in SESSION_SCHEMA["properties"].items() if sub.get("type") == "object"]
)}


def _schema_at(path: list[str], root: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None, bool]:
    """Walk the schema ``root`` along ``path``; stop at an array (its items report at the array's path).

    Returns the reporting path, its schema (None under unknown keys) and whether it is required.
    """
    node: dict[str, Any] = root
    required = False
    for depth, name in enumerate(path):
        if node.get("type") == "array":
            return path[:depth], node, required
        required = name in node.get("required", [])
        sub = node.get("properties", {}).get(name)
        if sub is None:
            return path, None, required
        node = sub
    return path, node, required


def _reason(error: ValidationError, field: dict[str, Any] | None, value: Any, required: bool) -> tuple[int, str]:
    """(priority, reason) for one jsonschema error; lower priority wins when a path has several."""
    keyword = error.validator
    # The keyword's value in the schema. The stubs allow Unset (an error made by hand, without
    # one); the errors read here come from iter_errors, which sets it, or from our keywords above.
    wanted: Any = error.validator_value
    if required and (value is None or value == ""):
        return 0, "can not be empty"
    if field is not None and field.get("type") == "array":
        items_enum = field.get("items", {}).get("enum")
        return 1, field.get("x-reason") or (
            f"format is invalid, must be [{','.join(items_enum)}]" if items_enum else "must be a list")
    if keyword == "type":
        return 1, f"must be {_TYPE_WORDS[wanted]}"
    override = error.schema.get("x-reason") if isinstance(error.schema, dict) else None
    if isinstance(override, str):
        return 2, override
    if isinstance(override, dict) and keyword in override:
        return 2, override[keyword]
    if keyword == "enum":
        return 2, f"format is invalid, must be [{','.join(map(str, wanted))}]"
    if keyword == "maxLength":
        return 2, f"must be at most {wanted} characters"
    if keyword == "minLength":
        return 0, "can not be empty"
    if keyword == "minimum":
        return 2, "must be zero or more" if wanted == 0 else f"must be at least {wanted}"
    if keyword == "exclusiveMinimum":
        return 2, "must be more than zero" if wanted == 0 else f"must be more than {wanted}"
    if keyword == "exclusiveMaximum":
        return 2, f"must be less than {wanted}"
    return 2, error.message


def _problems(errors: Iterable[_Found], root: dict[str, Any] = SESSION_SCHEMA) -> list[Problem]:
    best: dict[str, tuple[int, str]] = {}
    for prefix, error in errors:
        base = [*prefix, *(str(p) for p in error.absolute_path)]
        # (path, value there): iter_errors sets the keyword's value and the instance on each error.
        targets: list[tuple[list[str], Any]]
        if error.validator == "required":
            names: Any = error.validator_value
            instance: Any = error.instance
            targets = [(base + [name], None) for name in names if name not in instance]
        else:
            targets = [(base, error.instance)]
        for raw_path, value in targets:
            path, field, required = _schema_at(raw_path, root)
            dotted = ".".join(path)
            found = (0, "can not be empty") if error.validator == "required" else _reason(error, field, value, required)
            if dotted not in best or found[0] < best[dotted][0]:
                best[dotted] = found
    order = _ORDER if root is SESSION_SCHEMA else {name: i for i, name in enumerate(root.get("properties", {}))}
    ordered = sorted(best, key=lambda p: (order.get(p, len(order)), p))
    return [Problem(parameter=p, reason=f"{p} {best[p][1]}") for p in ordered]


def _under(prefix: tuple[str, ...], errors: Iterable[ValidationError]) -> list[_Found]:
    return [(prefix, error) for error in errors]


def validate_create(payload: Any) -> list[Problem]:
    """Every problem of a create body, as the API lists them; ``[]`` when it is valid."""
    if not isinstance(payload, dict):
        return [BODY_NOT_OBJECT]
    return _problems(_under((), _VALIDATOR.iter_errors(payload)))


class CreateValidator:
    """:func:`validate_create`, exactly, remembering the errors of each part of a body it has seen.

    A part is a property's value under an object schema that splits (:mod:`lib.fields.parts`),
    keyed by its place and ``repr``: QA cases share most parts, so a suite checks each distinct part
    once. Keep one for one batch of bodies (one generation), no longer: what it remembers of a date
    was judged against the day it was seen (``x-not-future``). ``hits`` counts the parts answered
    from memory. ``schema``: another to check against (tests use small ones).
    """

    def __init__(self, schema: dict[str, Any] = SESSION_SCHEMA) -> None:
        self._schema = schema
        self._root = _SESSION if schema is SESSION_SCHEMA else split(_Validator(schema, format_checker=_FORMATS))
        self._seen: dict[tuple[Part, str], list[_Found]] = {}
        self.hits = 0

    def __call__(self, payload: Any) -> list[Problem]:
        if not isinstance(payload, dict):
            return [BODY_NOT_OBJECT]
        return _problems(self._errors(self._root, payload), self._schema)

    def _errors(self, part: Part, value: Any) -> list[_Found]:
        if part.properties is None:
            return _under(part.path, part.validator.iter_errors(value))
        found = _under(part.path, part.before.iter_errors(value)) if part.before else []
        if part.validator.is_type(value, "object"):
            for name, sub in part.properties.items():
                if name in value:
                    found += self._remembered(sub, value[name])
        if part.after:
            found += _under(part.path, part.after.iter_errors(value))
        return found

    def _remembered(self, part: Part, value: Any) -> list[_Found]:
        key = (part, repr(value))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = self._errors(part, value)
        else:
            self.hits += 1
        return found


_SESSION = split(_VALIDATOR)


def validate_action(kind: str, payload: Any, currency: str) -> list[Problem]:
    """Every problem of a money operation's body (``lib.fields.actions``: capture, void, refund,
    reversal) on a transaction in ``currency``; ``[]`` when it is valid. The amount is checked
    against the transaction's currency, whatever the body says."""
    if not isinstance(payload, dict):
        return [BODY_NOT_OBJECT]
    instance = {**payload, "currency": currency}
    return _problems(_under((), _ACTION_VALIDATORS[kind].iter_errors(instance)), ACTION_SCHEMAS[kind])


def merge(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Nested objects merge key by key; anything else (lists included) is replaced (docs/contract.md, "Sessions")."""
    merged = dict(current)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate_update(current: Mapping[str, Any], patch: Any) -> tuple[dict[str, Any], list[Problem]]:
    """(merged session, problems) for a PUT: non-updatable fields refused, then the merge validated.

    Unknown top-level keys are ignored, as on create.
    """
    if not isinstance(patch, dict):
        return dict(current), [BODY_NOT_OBJECT]
    refused = [Problem(parameter=k, reason=f"{k} can not be updated") for k in patch if k in NOT_UPDATABLE_FIELDS]
    merged = merge(current, {k: v for k, v in patch.items() if k in UPDATABLE_FIELDS})
    return merged, refused + validate_create(merged)


class InvalidRequest(ValueError):
    """A request our own pre-check refuses; ``problems`` is the list the API would give."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p["reason"] for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class SessionRequest:
    """A create body that passed the pre-check: the typed payload the client and pages pass around."""

    body: dict[str, Any]

    @classmethod
    def parse(cls, body: Any) -> SessionRequest:
        problems = validate_create(body)
        if problems:
            raise InvalidRequest(problems)
        return cls(body)



@dataclass(frozen=True)
class SessionUpdate:
    """An update body whose merge with the current parameters passed the pre-check."""

    patch: dict[str, Any]
    merged: dict[str, Any]

    @classmethod
    def parse(cls, current: Mapping[str, Any], patch: Any) -> SessionUpdate:
        merged, problems = validate_update(current, patch)
        if problems:
            raise InvalidRequest(problems)
        return cls(dict(patch), merged)


@dataclass(frozen=True)
class ActionRequest:
    """A money operation's body (capture, void, refund, reversal) that passed the pre-check."""

    kind: str
    body: dict[str, Any]

    @classmethod
    def parse(cls, kind: str, body: Any, currency: str) -> ActionRequest:
        problems = validate_action(kind, body, currency)
        if problems:
            raise InvalidRequest(problems)
        return cls(kind, dict(body))
