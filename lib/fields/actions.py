"""The bodies of the money operations on a transaction (docs/contract.md, "Payments"), described
as the session is in :mod:`lib.fields.schema`: the same helpers, the same ``x-`` annotations,
the same reasons. Kept in their own module only because the session's description is already
at the size limit of a module; :func:`lib.fields.validation.validate_action` checks them for the
sandbox and for the client's pre-check alike.

An action's amount follows the session amount's rules (major units, at most the currency's
decimals, below ``AMOUNT_BOUND``) except that it must be more than zero. Its currency is the
transaction's, not the body's: the validator checks a body together with that currency
(``x-decimals-by-currency`` reads ``currency`` beside ``amount``).
"""
from __future__ import annotations

from typing import Any

from lib.fields.schema import AMOUNT_BOUND, CURRENCIES, SESSION_SCHEMA, _string

CAPTURE, VOID, REFUND, REVERSAL = "capture", "void", "refund", "reversal"
AMOUNT, REFERENCE, WEBHOOK_URL = "amount", "reference", "webhook_url"  # the members of the bodies
ACTIONS = (CAPTURE, VOID, REFUND, REVERSAL)
# The statement reference's rule is the session's ``payment.reference`` rule (1-18 characters).
REFERENCE_PATTERN = SESSION_SCHEMA["properties"]["payment"]["properties"]["reference"]["pattern"]


def _amount(description: str) -> dict[str, Any]:
    return {"type": "number", "title": "Amount", "exclusiveMinimum": 0, "exclusiveMaximum": AMOUNT_BOUND,
            "description": description}


def _reference() -> dict[str, Any]:
    return _string("Statement reference", keywords={
        "pattern": REFERENCE_PATTERN, "x-reason": "format is invalid, must be 1-18 letters, digits, spaces, _ or -"})


def _action(title: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "required": required or [],
        "x-decimals-by-currency": {code: decimals for code, (_, decimals) in CURRENCIES.items()},
        "properties": properties,
    }


ACTION_SCHEMAS: dict[str, dict[str, Any]] = {
    CAPTURE: _action("Capture an authorisation (POST /v1/transactions/{id}/capture)", {
        "amount": _amount("Default: all that was authorised. At most what was authorised; captured once."),
    }),
    VOID: _action("Void an authorisation (POST /v1/transactions/{id}/void)", {}),
    REFUND: _action("Refund captured money (POST /v1/transactions/{id}/refund)", {
        "amount": _amount("All refunds together never exceed what was captured."),
        "reference": _reference(),
    }, required=["amount"]),
    REVERSAL: _action("Void or refund, whichever applies (POST /v1/transactions/{id}/reversal)", {
        "amount": _amount("Default: all that can still be reversed."),
        "reference": _reference(),
        "webhook_url": SESSION_SCHEMA["properties"]["webhook_url"],
    }),
}
