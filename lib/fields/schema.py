"""The one description of every payment-session request field (docs/contract.md, "Sessions" / "Refusals").

Our choice is **JSON Schema (draft 2020-12)**, written as Python data: it is declarative, checked
by the maintained ``jsonschema`` package, and easy to walk, so the same document drives the
sandbox's validation, the client's pre-check, the form widgets and the QA explorer's dimensions.
Nothing about a field is written anywhere else.

Standard keywords carry the rules. A few annotations (``x-…``, ignored by other JSON Schema
tools) carry what the standard has no word for:

- ``x-reason``: the contract's reason for a broken rule (a string for every rule of the field but
  its type, or a mapping keyword → reason);
- ``x-decimals-by-currency`` (on ``transaction``): the amount's decimal places per currency;
- ``x-updatable: false``: a top-level field a PUT may not change;
- ``x-group`` / ``title`` / ``description``: how the form groups and labels the field;
- ``x-personal``: customer personal data (masked for some roles);
- ``x-form-default``: what a new form starts with where the API itself has no default;
- ``x-not-future`` (on a date): the date may not lie after today;
- ``x-qa-default`` (on a field or an object): the fields a usual session sets, which the QA
  explorer's default model varies (the rest start switched off, so the default suite stays small);
- ``x-fills`` (on a yes/no field): when set to yes, the form copies the object at ``from`` into
  the one at ``to`` (the shipping address matching billing).
- ``examples`` (standard) and ``x-invalid-examples``: values the field takes and values it refuses,
  for rules that give no shape to derive them from (a ``format``): the QA explorer's values, and
  the form's placeholder (``examples``);
- ``x-only-if: true``: the field means something only while its object's ``if`` holds (3-D
  Secure's challenge fields, while it is active): the QA explorer's default model sends it only then.

Objects list their properties in the order a person reads them (an address in postal order),
because that order is the form's order and its tab order.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict

from lib.fields import dotted

# ISO 4217 code → (name, minor-unit decimals). The 14 codes the API takes (docs/contract.md, "Sessions"), sent lowercase.
CURRENCIES: dict[str, tuple[str, int]] = {
    "aed": ("UAE dirham", 2),
    "aud": ("Australian dollar", 2),
    "cad": ("Canadian dollar", 2),
    "chf": ("Swiss franc", 2),
    "cny": ("Chinese yuan renminbi", 2),
    "dkk": ("Danish krone", 2),
    "eur": ("Euro", 2),
    "gbp": ("Pound sterling", 2),
    "hkd": ("Hong Kong dollar", 2),
    "jpy": ("Japanese yen", 0),
    "mxn": ("Mexican peso", 2),
    "sek": ("Swedish krona", 2),
    "usd": ("US dollar", 2),
    "zar": ("South African rand", 2),
}

PAYMENT_METHODS = ["card", "apple_pay", "google_pay"]
CHALLENGE_PREFERENCES = ["challenge_mandated", "challenge_preferred", "no_challenge_requested", "no_preference"]
CHALLENGE_WINDOW_SIZES = ["full_screen", "windowed_250x400", "windowed_390x400", "windowed_500x600", "windowed_600x400"]

URL_MAX = 256
# The three fields every session is known by (the registry, the log and the pages read them).
ORDER_ID, AMOUNT, CURRENCY = "transaction.order_id", "transaction.amount", "transaction.currency"
CAPTURE = "transaction.capture"
AMOUNT_BOUND = 10**12  # amounts are below this (exclusive), see ``transaction.amount``
HTTPS_URL_REASON = "must be a valid https URL"


# The keywords and annotations (see above) that the helpers below add to a node, with their JSON types.
Keywords = TypedDict("Keywords", {
    "description": str, "default": bool, "format": str, "minLength": int, "pattern": str, "examples": list[str],
    "x-invalid-examples": list[str], "x-reason": "str | dict[str, str]", "x-personal": bool, "x-not-future": bool,
    "x-group": str, "x-updatable": bool, "x-qa-default": bool, "x-fills": dict[str, str]}, total=False)


def _string(title: str, max_length: int | None = None, keywords: Keywords | None = None) -> dict[str, Any]:
    length = {} if max_length is None else {"maxLength": max_length}
    return {"type": "string", "title": title, **length, **(keywords or {})}


def _boolean(title: str, description: str = "", keywords: Keywords | None = None) -> dict[str, Any]:
    return {"type": "boolean", "title": title, "description": description, **(keywords or {})}


def _address() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Address",
        "properties": {
            "line_1": _string("Address line 1", 50, {"x-personal": True}),
            "line_2": _string("Address line 2", 50, {"x-personal": True}),
            "city": _string("City", 40, {"x-personal": True}),
            "state": _string("State (US, ≤ 3)", 3, {"x-personal": True}),
            "postcode": _string("Postcode", 40, {"minLength": 1, "x-personal": True}),
            "country_code": _string("Country (ISO 3166 alpha-2)", keywords={
                "pattern": "^[A-Za-z]{2}$", "x-reason": "format is invalid, must be a 2-letter country code",
                "examples": ["GB"]}),
        },
    }


def _contact(title: str, *, shipping: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if shipping:  # first: ticking it fills the shipping address below from billing
        properties["address_match"] = _boolean(
            "Shipping address matches billing",
            keywords={"x-fills": {"from": "customer.billing.address", "to": "customer.shipping.address"}})
    properties |= {
        "address": _address(),
        "email": _string("Email", 254, {
            "format": "email", "x-reason": "format is invalid, must be an email address", "x-personal": True,
            "examples": ["qa@example.com"], "x-invalid-examples": ["not an email"]}),
        "phone": {
            "type": "object",
            "title": "Phone",
            "properties": {
                "country_code": _string("Phone country code", keywords={
                    "pattern": r"^[0-9]{1,3}$", "x-reason": "format is invalid, must be 1-3 digits",
                    "examples": ["44"]}),
                "number": _string("Phone number", keywords={
                    "pattern": r"^[0-9]{0,15}$", "x-reason": "format is invalid, must be up to 15 digits",
                    "x-personal": True}),
            },
        },
    }
    return {"type": "object", "title": title, "properties": properties}


# Any absolute http(s) URL is a valid "uri"; the long one breaks ``URL_MAX``.
_URL_EXAMPLES: Keywords = {"examples": ["https://example.com/qa", "http://example.com/qa"],
                           "x-invalid-examples": ["not a url", "https://example.com/" + "x" * 280]}


def _tds_url(title: str) -> dict[str, Any]:
    # Any absolute http(s) URL while 3-D Secure is off; https only when it is on (the if/then below).
    return _string(title, URL_MAX, {
        "format": "uri", "x-reason": {"format": HTTPS_URL_REASON, "pattern": HTTPS_URL_REASON}, **_URL_EXAMPLES})


TDS_URL_FIELDS = ["contact_url", "redirect_url", "webhook_url"]

SESSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Create a payment session (POST /v1/payment-sessions)",
    "type": "object",
    "required": ["transaction"],
    "properties": {
        "transaction": {
            "type": "object",
            "title": "Transaction",
            "x-group": "Transaction",
            "x-qa-default": True,
            "required": ["order_id", "amount", "currency"],
            "x-decimals-by-currency": {code: decimals for code, (_, decimals) in CURRENCIES.items()},
            "properties": {
                "order_id": _string("Order id", keywords={
                    "pattern": "^[A-Za-z0-9_-]{2,50}$",
                    "x-reason": "format is invalid, must be 2-50 letters, digits, _ or -"}),
                "amount": {
                    # The upper bound is the sandbox's own (ours): 12 whole digits and the decimals
                    # stay exact through a float on the wire and on its checkout page.
                    "type": "number", "title": "Amount", "minimum": 0, "exclusiveMaximum": AMOUNT_BOUND,
                    "description": "Major units (15.02, not 1502). 0 only makes sense with capture off (card saving).",
                },
                "currency": {"type": "string", "title": "Currency", "enum": list(CURRENCIES), "x-form-default": "gbp"},
                "capture": _boolean("Capture", "Off = authorise only.", {"default": True}),
                "moto": _boolean("MOTO", "Mail or telephone order.", {"default": False}),
                "custom_data": _string("Custom data (base64)", keywords={
                    "format": "base64", "x-reason": "format is invalid, must be base64",
                    "examples": ["eyJyZWYiOiAxfQ=="], "x-invalid-examples": ["not base64!"]}),
                "custom1": _string("Custom field 1", 50),
                "custom2": _string("Custom field 2", 50),
            },
        },
        "tds": {
            "type": "object",
            "title": "3-D Secure",
            "x-group": "3-D Secure",
            "required": ["is_active"],
            "properties": {
                "is_active": _boolean("3-D Secure active", keywords={"default": True, "x-qa-default": True}),
                "challenge_preference": {
                    "type": "string", "title": "Challenge preference", "enum": CHALLENGE_PREFERENCES,
                    "x-only-if": True, "x-qa-default": True,
                },
                "challenge_window_size": {
                    "type": "string", "title": "Challenge window size", "enum": CHALLENGE_WINDOW_SIZES,
                    "x-only-if": True, "x-qa-default": True,
                },
                "contact_url": _tds_url("Contact URL"),
                "redirect_url": {**_tds_url("Redirect URL"), "x-qa-default": True},
                "webhook_url": _tds_url("3-D Secure webhook URL"),
            },
            "if": {"properties": {"is_active": {"const": True}}, "required": ["is_active"]},
            "then": {
                "properties": {
                    name: {"pattern": "^https://", "x-reason": HTTPS_URL_REASON} for name in TDS_URL_FIELDS
                },
            },
        },
        "customer": {
            "type": "object",
            "title": "Customer",
            "x-group": "Customer",
            "properties": {
                "customer_id": _string("Customer id (UUID)", keywords={
                    "format": "uuid-or-empty", "x-reason": "format is invalid, must be a UUID",
                    "examples": ["3f2c8a4e-9b1d-4c7e-8a55-0d6b2e9f1a37"], "x-invalid-examples": ["not-a-uuid"]}),
                "reference": _string("Customer reference"),
                "first_name": _string("First name", 22, {"x-personal": True}),
                "last_name": _string("Last name", 22, {"x-personal": True}),
                "dob": _string("Date of birth", keywords={
                    "format": "date", "x-not-future": True, "x-personal": True, "examples": ["1990-01-31"],
                    "x-invalid-examples": ["31/01/1990", "2999-01-01"],
                    "x-reason": {"format": "format is invalid, must be YYYY-MM-DD",
                                 "x-not-future": "must not be in the future"}}),
                "ip": _string("IP address", keywords={
                    "format": "ip-address", "x-reason": "format is invalid, must be an IP address", "x-personal": True,
                    "examples": ["192.0.2.1"], "x-invalid-examples": ["999.0.2.1"]}),
                "custom_data": _string("Customer custom data"),
                "billing": _contact("Billing", shipping=False),
                "shipping": _contact("Shipping", shipping=True),
            },
        },
        "webhook_url": _string("Webhook URL", URL_MAX, {
            "format": "uri", "description": "Authorisation notifications.", "x-group": "Options",
            "x-reason": {"format": "must be a valid URL"}, **_URL_EXAMPLES}),
        "save_card": _boolean("Save card", "Show the save-card checkbox (Payment and Form components).",
                              {"x-group": "Options", "x-updatable": False, "x-qa-default": True}),
        "is_recurring": _boolean("Recurring", "Save the card for later use (Apple Pay / Google Pay).",
                                 {"x-group": "Options", "x-updatable": False}),
        "payment_methods": {
            "type": "array",
            "title": "Payment methods",
            "description": "Applies to the Payment component only, not Form or Fields.",
            "x-group": "Options",
            "x-qa-default": True,
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "enum": PAYMENT_METHODS},
        },
        "company_domains": {
            "type": "array",
            "title": "Company domains",
            "description": "Restrict the session to some registered domains.",
            "x-group": "Options",
            "x-updatable": False,
            "x-reason": "must be a list of valid https URLs",
            "items": {"type": "string", "format": "uri", "pattern": "^https://",
                      "examples": ["https://example.com/qa"], "x-invalid-examples": ["http://example.com/qa"]},
        },
        "subscription_id": _string("Subscription id", keywords={"x-group": "Options", "x-updatable": False}),
        "payment": {
            "type": "object",
            "title": "Payment",
            "x-group": "Options",
            "x-updatable": False,
            "properties": {
                "reference": _string("Statement reference", keywords={
                    "pattern": "^[A-Za-z0-9 _-]{1,18}$",
                    "x-reason": "format is invalid, must be 1-18 letters, digits, spaces, _ or -"}),
            },
        },
    },
}

UPDATABLE_FIELDS: tuple[str, ...] = tuple(
    name for name, schema in SESSION_SCHEMA["properties"].items() if schema.get("x-updatable", True)
)
NOT_UPDATABLE_FIELDS: tuple[str, ...] = tuple(
    name for name in SESSION_SCHEMA["properties"] if name not in UPDATABLE_FIELDS
)


@dataclass(frozen=True)
class Leaf:
    """One field a person or a QA model sets: its dotted path and schema.

    Two meanings of "required", both read in the one walk of :func:`leaves`: ``required`` is
    "every valid payload has it" (required here and every object above it is required too);
    ``required_in_object`` is "its object lists it": once the object is sent, leaving the field
    out is refused (``tds.is_active``), which is what a QA model's ``<not sent>`` tests.
    """

    path: str
    schema: dict[str, Any]
    required: bool
    group: str
    required_in_object: bool = False
    # The object's ``if`` as (path of the field it tests, the value it wants), when it is one ``const``.
    condition: tuple[str, Any] | None = None
    # What the object's ``then`` adds to this field while ``condition`` holds (https only under 3-D Secure).
    then: dict[str, Any] = field(default_factory=dict)
    qa_default: bool = False  # ``x-qa-default`` on the field or an object above it

    @property
    def title(self) -> str:
        return str(self.schema.get("title", self.path.rsplit(".", 1)[-1]))

    @property
    def kind(self) -> str:
        """`enum`, `boolean`, `number`, `string` or `list` — what widget or value set it needs."""
        if "enum" in self.schema:
            return "enum"
        json_type = str(self.schema["type"])
        return {"array": "list"}.get(json_type, json_type)

    @property
    def personal(self) -> bool:
        return bool(self.schema.get("x-personal"))

    @property
    def updatable(self) -> bool:
        return self.path.split(".", 1)[0] in UPDATABLE_FIELDS


def leaves(schema: dict[str, Any] = SESSION_SCHEMA) -> Iterator[Leaf]:
    """Every settable field, depth first in schema order (objects are walked, arrays are leaves)."""

    def walk(node: dict[str, Any], prefix: str, group: str, required_here: bool, qa: bool) -> Iterator[Leaf]:
        tested = node.get("if", {}).get("properties", {})
        consts = [(f"{prefix}{name}", sub["const"]) for name, sub in tested.items() if "const" in sub]
        condition = consts[0] if len(consts) == 1 else None
        then = node.get("then", {}).get("properties", {})
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            sub_group = sub.get("x-group", group)
            in_object = name in node.get("required", [])
            sub_qa = qa or bool(sub.get("x-qa-default"))
            if sub.get("type") == "object":
                yield from walk(sub, f"{path}.", sub_group, required_here and in_object, sub_qa)
            else:
                yield Leaf(path, sub, required_here and in_object, sub_group, in_object, condition, then.get(name, {}),
                           sub_qa)

    yield from walk(schema, "", "Options", True, False)


def leaf(path: str) -> Leaf:
    """The leaf at a dotted path (KeyError when there is none)."""
    for candidate in leaves():
        if candidate.path == path:
            return candidate
    raise KeyError(path)


def currency_label(code: str) -> str:
    """`GBP — Pound sterling`, as the form shows a currency."""
    return f"{code.upper()} — {CURRENCIES[code.lower()][0]}"


def currency_decimals(code: str) -> int:
    """Minor-unit decimals of a currency (2 when the code is unknown, as the validator assumes)."""
    return CURRENCIES.get(str(code).lower(), ("", 2))[1]


def title_of(path: str) -> str:
    """The title of any node (a leaf or an object such as ``customer.billing``), else its last name."""
    node: dict[str, Any] = SESSION_SCHEMA
    for name in path.split("."):
        node = node.get("properties", {}).get(name, {})
    return str(node.get("title", path.rsplit(".", 1)[-1]))


@dataclass(frozen=True)
class TransactionFacts:
    """The order id, amount and currency a body carries: the one place that knows where they live.

    Read tolerantly, because bodies come from anywhere (a refused request, an odd API answer, a
    logged entry): a field that is absent or not of its type is None, never an exception.
    """

    order_id: str | None
    amount: Decimal | None
    currency: str | None

    @classmethod
    def of(cls, body: Any) -> TransactionFacts:
        order_id, amount, currency = (dotted.lookup(body, path) for path in (ORDER_ID, AMOUNT, CURRENCY))
        if isinstance(amount, (int, float)) and not isinstance(amount, bool):
            amount = Decimal(repr(amount))
        return cls(order_id if isinstance(order_id, str) else None,
                   amount if isinstance(amount, Decimal) and amount.is_finite() else None,
                   currency if isinstance(currency, str) else None)
