"""Every rule of contract §3b, and properties over payloads generated from the field description."""
from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.fields.schema import CURRENCIES, SESSION_SCHEMA, Leaf, TransactionFacts, currency_label, leaves
from lib.fields.validation import (
    InvalidRequest,
    SessionRequest,
    SessionUpdate,
    decimal_places,
    merge,
    validate_create,
    validate_update,
)

VALID = {"transaction": {"order_id": "ord-1", "amount": Decimal("15.02"), "currency": "gbp"}}
UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def with_(path: str, value: Any, base: dict | None = None) -> dict:
    """A copy of ``base`` (the minimal valid body) with ``value`` set at a dotted path."""
    body = merge(base or VALID, {})
    node = body
    *parents, last = path.split(".")
    for name in parents:
        node[name] = dict(node.get(name, {}))
        node = node[name]
    node[last] = value
    return body


def reasons(body: Any) -> dict[str, str]:
    return {p["parameter"]: p["reason"] for p in validate_create(body)}


# ---- one test per rule --------------------------------------------------------------------

RULES = [
    # (path, bad value, reason suffix)
    ("transaction.order_id", "", "can not be empty"),
    ("transaction.order_id", None, "can not be empty"),
    ("transaction.order_id", "a", "format is invalid, must be 2-50 letters, digits, _ or -"),
    ("transaction.order_id", "a" * 51, "format is invalid, must be 2-50 letters, digits, _ or -"),
    ("transaction.order_id", "has space", "format is invalid, must be 2-50 letters, digits, _ or -"),
    ("transaction.order_id", 12, "must be a string"),
    ("transaction.amount", "15.02", "must be a number"),
    ("transaction.amount", True, "must be a number"),
    ("transaction.amount", None, "can not be empty"),
    ("transaction.amount", Decimal("-1"), "must be zero or more"),
    ("transaction.amount", Decimal("1.234"), "must have at most 2 decimal places"),
    ("transaction.currency", "GBP", "format is invalid, must be [" + ",".join(CURRENCIES) + "]"),
    ("transaction.currency", "xxx", "format is invalid, must be [" + ",".join(CURRENCIES) + "]"),
    ("transaction.currency", "", "can not be empty"),
    ("transaction.moto", "yes", "must be a boolean"),
    ("transaction.capture", 1, "must be a boolean"),
    ("transaction.custom_data", 5, "must be a string"),
    ("transaction.custom1", "x" * 51, "must be at most 50 characters"),
    ("transaction.custom2", "x" * 51, "must be at most 50 characters"),
    ("customer.customer_id", "not-a-uuid", "format is invalid, must be a UUID"),
    ("customer.first_name", "x" * 23, "must be at most 22 characters"),
    ("customer.last_name", "x" * 23, "must be at most 22 characters"),
    ("customer.dob", "1990-02-30", "format is invalid, must be YYYY-MM-DD"),
    ("customer.dob", "01/02/1990", "format is invalid, must be YYYY-MM-DD"),
    ("customer.dob", "2999-01-01", "must not be in the future"),
    ("customer.ip", "300.1.1.1", "format is invalid, must be an IP address"),
    ("customer.billing.email", "no-at-sign", "format is invalid, must be an email address"),
    ("customer.shipping.email", "a@" + "b" * 250 + ".com", "format is invalid, must be an email address"),
    ("customer.billing.address.line_1", "x" * 51, "must be at most 50 characters"),
    ("customer.shipping.address.line_2", "x" * 51, "must be at most 50 characters"),
    ("customer.billing.address.city", "x" * 41, "must be at most 40 characters"),
    ("customer.billing.address.postcode", "x" * 41, "must be at most 40 characters"),
    ("customer.billing.address.postcode", "", "can not be empty"),
    ("customer.billing.address.state", "ABCD", "must be at most 3 characters"),
    ("customer.shipping.address.country_code", "GBR", "format is invalid, must be a 2-letter country code"),
    ("customer.billing.phone.country_code", "4444", "format is invalid, must be 1-3 digits"),
    ("customer.billing.phone.country_code", "+4", "format is invalid, must be 1-3 digits"),
    ("customer.billing.phone.number", "1" * 16, "format is invalid, must be up to 15 digits"),
    ("customer.shipping.address_match", "yes", "must be a boolean"),
    ("tds.challenge_preference", "always", "format is invalid, must be [challenge_mandated,challenge_preferred,no_challenge_requested,no_preference]"),
    ("tds.challenge_window_size", "huge", "format is invalid, must be [full_screen,windowed_250x400,windowed_390x400,windowed_500x600,windowed_600x400]"),
    ("tds.contact_url", "not a url", "must be a valid https URL"),
    ("tds.redirect_url", "http://shop.example.com/back", "must be a valid https URL"),
    ("tds.webhook_url", "https://example.com/" + "x" * 250, "must be at most 256 characters"),
    ("webhook_url", "ftp://example.com", "must be a valid URL"),
    ("webhook_url", "example.com/hook", "must be a valid URL"),
    ("save_card", "true", "must be a boolean"),
    ("is_recurring", 0, "must be a boolean"),
    ("payment_methods", [], "format is invalid, must be [card,apple_pay,google_pay]"),
    ("payment_methods", ["card", "card"], "format is invalid, must be [card,apple_pay,google_pay]"),
    ("payment_methods", ["bitcoin"], "format is invalid, must be [card,apple_pay,google_pay]"),
    ("payment_methods", "card", "format is invalid, must be [card,apple_pay,google_pay]"),
    ("company_domains", ["http://shop.example.com"], "must be a list of valid https URLs"),
    ("company_domains", "https://shop.example.com", "must be a list of valid https URLs"),
    ("subscription_id", 7, "must be a string"),
    ("payment.reference", "x" * 19, "format is invalid, must be 1-18 letters, digits, spaces, _ or -"),
    ("payment.reference", "bad!", "format is invalid, must be 1-18 letters, digits, spaces, _ or -"),
]


@pytest.mark.parametrize(("path", "value", "reason"), RULES, ids=[f"{r[0]}={r[1]!r}"[:60] for r in RULES])
def test_each_rule_gives_the_contract_reason(path: str, value: Any, reason: str) -> None:
    base = merge(VALID, {"tds": {"is_active": True}}) if path.startswith("tds.") else VALID
    assert validate_create(with_(path, value, base)) == [{"parameter": path, "reason": f"{path} {reason}"}]


def test_jpy_takes_no_decimals_and_gbp_two() -> None:
    jpy = with_("transaction.currency", "jpy")
    assert reasons(with_("transaction.amount", Decimal("100"), jpy)) == {}
    assert reasons(with_("transaction.amount", Decimal("100.5"), jpy)) == {
        "transaction.amount": "transaction.amount must have no decimal places"}
    assert reasons(with_("transaction.amount", Decimal("15.10"), VALID)) == {}


def test_https_only_when_3ds_active() -> None:
    http = "http://shop.example.com/3ds"
    assert reasons(with_("tds", {"is_active": False, "contact_url": http})) == {}
    assert reasons(with_("tds", {"is_active": True, "contact_url": http})) == {
        "tds.contact_url": "tds.contact_url must be a valid https URL"}


def test_tds_needs_is_active() -> None:
    assert reasons(with_("tds", {"challenge_preference": "no_preference"})) == {
        "tds.is_active": "tds.is_active can not be empty"}
    assert reasons(with_("tds", {"is_active": "yes"})) == {"tds.is_active": "tds.is_active must be a boolean"}


def test_missing_transaction_and_wrong_body() -> None:
    assert validate_create({}) == [{"parameter": "transaction", "reason": "transaction can not be empty"}]
    assert validate_create({"transaction": []}) == [{"parameter": "transaction", "reason": "transaction must be an object"}]
    assert validate_create([1]) == [{"parameter": "body", "reason": "body must be a JSON object"}]


def test_all_failures_at_once_in_schema_order() -> None:
    body = {"transaction": {"order_id": "x", "amount": "1"}, "save_card": "no", "payment_methods": ["x"]}
    assert [p["parameter"] for p in validate_create(body)] == [
        "transaction.order_id", "transaction.amount", "transaction.currency", "save_card", "payment_methods"]


def test_unknown_keys_and_empty_customer_id_are_accepted() -> None:
    body = merge(VALID, {"future_field": 1, "customer": {"customer_id": "", "nickname": "x"}})
    assert validate_create(body) == []
    assert validate_create(with_("customer.customer_id", UUID)) == []


def test_zero_amount_is_accepted() -> None:
    assert validate_create(with_("transaction.amount", 0)) == []


def test_update_refuses_non_updatable_and_validates_the_merge() -> None:
    current = merge(VALID, {"tds": {"is_active": False, "contact_url": "http://a.example.com"}})
    merged, problems = validate_update(current, {"transaction": {"amount": Decimal("20.00")}})
    assert problems == [] and merged["transaction"] == {"order_id": "ord-1", "amount": Decimal("20.00"), "currency": "gbp"}
    merged, problems = validate_update(current, {"save_card": True, "payment": {"reference": "x"}, "tds": {"is_active": True}})
    assert problems == [
        {"parameter": "save_card", "reason": "save_card can not be updated"},
        {"parameter": "payment", "reason": "payment can not be updated"},
        {"parameter": "tds.contact_url", "reason": "tds.contact_url must be a valid https URL"},
    ]
    assert "save_card" not in merged
    assert validate_update(current, "x")[1] == [{"parameter": "body", "reason": "body must be a JSON object"}]


def test_typed_requests_carry_their_problems() -> None:
    request = SessionRequest.parse(VALID)
    assert TransactionFacts.of(request.body) == TransactionFacts("ord-1", Decimal("15.02"), "gbp")
    with pytest.raises(InvalidRequest) as caught:
        SessionRequest.parse(with_("transaction.amount", "x"))
    assert caught.value.problems == [{"parameter": "transaction.amount", "reason": "transaction.amount must be a number"}]
    with pytest.raises(InvalidRequest):
        SessionUpdate.parse(VALID, {"is_recurring": True})


def test_decimal_places() -> None:
    assert [decimal_places(Decimal(v)) for v in ("15", "15.10", "15.123", "1E+2")] == [0, 1, 3, 0]
    assert decimal_places(0.1) == 1


def test_currency_label() -> None:
    assert currency_label("gbp") == "GBP — Pound sterling"


# ---- properties over the whole field description --------------------------------------------

EXAMPLES = {  # valid samples for formats a regex strategy cannot express
    "email": st.sampled_from(["ann@example.com", "b.smith+pay@shop.co.uk"]),
    "uri": st.sampled_from(["https://shop.example.com/3ds", "https://example.org/a?b=1"]),
    "uuid-or-empty": st.sampled_from(["", UUID]),
    "date": st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 1, 1)).map(date.isoformat),
    "base64": st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    "ip-address": st.ip_addresses().map(str),
}
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def valid_value(leaf: Leaf) -> st.SearchStrategy[Any]:
    schema = leaf.schema
    if leaf.kind == "enum":
        return st.sampled_from(schema["enum"])
    if leaf.kind == "boolean":
        return st.booleans()
    if leaf.kind == "number":
        return st.decimals(min_value=0, max_value=Decimal("999999.99"), places=0)
    if leaf.kind == "list":
        items = schema["items"]
        if "enum" in items:
            return st.lists(st.sampled_from(items["enum"]), min_size=1, unique=True)
        return st.lists(EXAMPLES["uri"], max_size=2)
    if "format" in schema:
        return EXAMPLES[schema["format"]]
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: "\n" not in s)
    return _text.map(lambda s: s[: schema.get("maxLength", 50)]).filter(lambda s: len(s) >= schema.get("minLength", 0))


def invalid_value(leaf: Leaf) -> Any:
    """A value that breaks exactly this leaf whatever its siblings hold."""
    return {"enum": "not-a-value", "boolean": "yes", "number": "12", "list": ["not-a-value"]}.get(leaf.kind, 12345)


LEAVES = list(leaves())


@st.composite
def valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for leaf in LEAVES:
        if leaf.required or leaf.path == "tds.is_active" and "tds" in body or draw(st.booleans()):
            value = draw(valid_value(leaf))
            node = body
            *parents, last = leaf.path.split(".")
            for name in parents:
                node = node.setdefault(name, {})
            node[last] = value
    if "tds" in body:
        body["tds"].setdefault("is_active", draw(st.booleans()))
    return body


@settings(max_examples=150, deadline=None)
@given(valid_payloads())
def test_any_valid_payload_passes(body: dict[str, Any]) -> None:
    assert validate_create(body) == []


@settings(max_examples=150, deadline=None)
@given(valid_payloads(), st.sampled_from(LEAVES))
def test_breaking_one_field_names_exactly_that_path(body: dict[str, Any], leaf: Leaf) -> None:
    broken = with_(leaf.path, invalid_value(leaf), body)
    if leaf.path.startswith("tds."):
        broken["tds"].setdefault("is_active", True)
    assert [p["parameter"] for p in validate_create(broken)] == [leaf.path]


def test_every_leaf_of_the_contract_is_described() -> None:
    paths = {leaf.path for leaf in LEAVES}
    for expected in ["transaction.order_id", "transaction.amount", "transaction.currency", "transaction.moto",
                     "transaction.capture", "transaction.custom_data", "transaction.custom1", "transaction.custom2",
                     "customer.customer_id", "customer.reference", "customer.first_name", "customer.last_name",
                     "customer.dob", "customer.ip", "customer.custom_data", "customer.billing.address.line_1",
                     "customer.billing.email", "customer.billing.phone.number", "customer.shipping.address_match",
                     "customer.shipping.address.country_code", "tds.is_active", "tds.challenge_preference",
                     "tds.challenge_window_size", "tds.contact_url", "tds.redirect_url", "tds.webhook_url",
                     "webhook_url", "save_card", "is_recurring", "payment_methods", "company_domains",
                     "subscription_id", "payment.reference"]:
        assert expected in paths
    assert set(SESSION_SCHEMA["properties"]) == {"transaction", "customer", "tds", "webhook_url", "save_card",
                                                  "is_recurring", "payment_methods", "company_domains",
                                                  "subscription_id", "payment"}


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), float("nan"), float("-inf")])
def test_non_finite_amounts_are_not_numbers(value: Any) -> None:
    assert reasons(with_("transaction.amount", value)) == {"transaction.amount": "transaction.amount must be a number"}


def test_json_refuses_nan_and_infinity() -> None:
    from lib.common import jsonutil
    with pytest.raises(ValueError):
        jsonutil.loads('{"amount": NaN}')
    assert jsonutil.loads('{"amount": 15.02}') == {"amount": Decimal("15.02")}
