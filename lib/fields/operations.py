"""The bodies of the money operations on a transaction (docs/contract.md, "Payments"), described
and checked like the session fields: a JSON Schema per operation, the same validator class, the
contract's reason wording, every problem at once.

Kept beside ``schema.py`` rather than inside it only because that module is at its size limit;
the rules are the description's own: ``amount`` a JSON number above zero with at most the
transaction's currency decimals (none for JPY), below the sandbox's bound; ``reference`` the
statement reference's 1–18 letters, digits, spaces, ``_`` or ``-``; ``webhook_url`` an absolute
http(s) URL of at most 256 characters. The currency is not part of a body (the transaction has
one): it is passed in, so the decimals rule can be applied before anything is sent.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from jsonschema import ValidationError

from lib.fields import money
from lib.fields.schema import AMOUNT_BOUND, CURRENCIES, URL_MAX
from lib.fields.validation import _FORMATS, _Validator, InvalidRequest, Problem

Operation = Literal["capture", "void", "refund", "reversal"]
OPERATIONS: tuple[Operation, ...] = ("capture", "void", "refund", "reversal")
AMOUNT_FIELD, REFERENCE_FIELD, WEBHOOK_URL_FIELD = "amount", "reference", "webhook_url"
REFERENCE_REASON = "format is invalid, must be 1-18 letters, digits, spaces, _ or -"

_AMOUNT: dict[str, Any] = {"type": "number", "title": "Amount", "exclusiveMinimum": 0,
                           "exclusiveMaximum": AMOUNT_BOUND, "x-reason": {"exclusiveMinimum": "must be more than 0"},
                           "description": "Major units of the transaction's currency."}
_REFERENCE: dict[str, Any] = {"type": "string", "title": "Statement reference", "pattern": "^[A-Za-z0-9 _-]{1,18}$",
                              "x-reason": REFERENCE_REASON}
_WEBHOOK_URL: dict[str, Any] = {"type": "string", "title": "Webhook URL", "format": "uri", "maxLength": URL_MAX,
                                "x-reason": {"format": "must be a valid URL"}}


def _body(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "x-decimals-by-currency": {code: decimals for code, (_, decimals) in CURRENCIES.items()}}


# Operation → the schema of its body (unknown keys are ignored, as everywhere in the contract).
OPERATION_SCHEMAS: dict[str, dict[str, Any]] = {
    "capture": _body([], amount=_AMOUNT),  # no amount: everything authorised
    "void": _body([]),
    "refund": _body([AMOUNT_FIELD, REFERENCE_FIELD], amount=_AMOUNT, reference=_REFERENCE),
    "reversal": _body([], amount=_AMOUNT, reference=_REFERENCE, webhook_url=_WEBHOOK_URL),
}
_VALIDATORS = {name: _Validator(schema, format_checker=_FORMATS) for name, schema in OPERATION_SCHEMAS.items()}
_TYPE_WORDS = {"number": "a number", "string": "a string", "object": "an object"}


def _reason(error: ValidationError) -> str:
    keyword = error.validator
    override = error.schema.get("x-reason") if isinstance(error.schema, dict) else None
    if isinstance(override, str) and keyword != "type":
        return override
    if isinstance(override, dict) and keyword in override:
        return str(override[keyword])
    if keyword == "type":
        return f"must be {_TYPE_WORDS.get(str(error.validator_value), error.validator_value)}"
    if keyword == "maxLength":
        return f"must be at most {error.validator_value} characters"
    if keyword == "exclusiveMaximum":
        return f"must be less than {error.validator_value}"
    return error.message


def validate_operation(operation: str, body: Any, currency: str) -> list[Problem]:
    """Every problem of an operation's body, as the API lists them (``[]`` when it may be sent)."""
    if not isinstance(body, Mapping):
        return [Problem(parameter="body", reason="body must be a JSON object")]
    found: dict[str, str] = {}
    for error in _VALIDATORS[operation].iter_errors({**body, "currency": currency}):
        if error.validator == "required":
            for name in error.validator_value:
                if name not in error.instance:
                    found[name] = "can not be empty"
            continue
        path = ".".join(str(p) for p in error.absolute_path) or "body"
        found.setdefault(path, _reason(error))
    return [Problem(parameter=path, reason=f"{path} {reason}") for path, reason in sorted(found.items())]


def parse_amount(text: str, currency: str) -> Decimal:
    """What a person typed as an operation's amount, by the one amount parser (``12,50`` is refused
    with its hint, never read as 1250); :class:`InvalidRequest` at ``amount`` otherwise."""
    try:
        return money.parse_amount(text, currency)
    except money.AmountError as exc:
        raise InvalidRequest([Problem(parameter=AMOUNT_FIELD, reason=f"{AMOUNT_FIELD} {exc.reason}")]) from None


@dataclass(frozen=True)
class OperationRequest:
    """An operation's body that passed the pre-check (the currency is the transaction's)."""

    operation: str
    body: dict[str, Any]

    @classmethod
    def parse(cls, operation: str, body: Mapping[str, Any], currency: str) -> OperationRequest:
        problems = validate_operation(operation, body, currency)
        if problems:
            raise InvalidRequest(problems)
        return cls(operation, dict(body))
