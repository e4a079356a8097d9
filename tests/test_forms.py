"""Form values ↔ request bodies, and dotted paths."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from lib import settings
from lib.fields import dotted
from lib.sessions import form_values as forms
from lib.settings import limits


def test_lookup_tells_missing_from_a_sent_none() -> None:
    body = {"customer": {"billing": {"email": None}}, "transaction": {"amount": Decimal("1.50")}}
    assert dotted.lookup(body, "customer.billing.email") is None
    assert dotted.lookup(body, "customer.shipping.email") is dotted.MISSING
    assert dotted.lookup(body, "transaction.amount.x") is dotted.MISSING


def test_put_builds_the_objects_on_the_way() -> None:
    body: dict = {}
    dotted.put(body, "customer.billing.phone.number", "123")
    assert body == {"customer": {"billing": {"phone": {"number": "123"}}}}


def test_build_body_leaves_empty_out_keeps_text_as_typed_and_names_what_cannot_convert() -> None:
    body, problems = forms.build_body({"transaction.amount": "1,234.50", "transaction.order_id": " ab ",
                                       "customer.first_name": "  ", "company_domains": "https://a.example\n\n"})
    assert body == {"transaction": {"amount": Decimal("1234.50"), "order_id": " ab "},
                    "company_domains": ["https://a.example"]}
    assert problems == []
    _, problems = forms.build_body({"transaction.amount": "12,50"})
    assert problems == [{"parameter": "transaction.amount",
                         "reason": "transaction.amount must be a number: use a point for decimals: 12.50"}]


GBP = {"transaction.order_id": "ord-1", "transaction.currency": "gbp"}


@pytest.mark.parametrize(("typed", "sent"), [("20", "20"), ("0.5", "0.5"), ("1,000,000", "1000000"), ("15.02 GBP", "15.02")])
def test_the_amount_sent_is_exactly_the_amount_typed(typed: str, sent: str) -> None:
    body, problems = forms.check_create({**GBP, "transaction.amount": typed})
    assert problems == [] and str(body["transaction"]["amount"]) == sent


@pytest.mark.parametrize(("typed", "currency", "reason"), [
    ("12,50", "gbp", "must be a number: use a point for decimals: 12.50"),
    ("1e3", "gbp", "must be a number: write it out in digits, without an exponent"),
    ("1.234", "gbp", "must have at most 2 decimal places"),
    ("1.5", "jpy", "must have no decimal places"),
    ("99,999,999,999", "gbp", "must be at most 1,000,000.00 GBP (the console's ceiling for one session"),
    ("1000000.01", "gbp", "must be at most 1,000,000.00 GBP"),
    ("1000001", "jpy", "must be at most 1,000,000 JPY"),
    ("0", "gbp", "can be 0 only with capture off"),
])
def test_bad_amounts_are_refused_at_the_amount(typed: str, currency: str, reason: str) -> None:
    _, problems = forms.check_create({**GBP, "transaction.currency": currency, "transaction.amount": typed})
    assert [p["parameter"] for p in problems] == ["transaction.amount"]
    assert problems[0]["reason"].startswith(f"transaction.amount {reason}")


def test_zero_is_fine_with_capture_off_and_the_ceiling_is_configurable(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    assert forms.check_create({**GBP, "transaction.amount": "0", "transaction.capture": False})[1] == []
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[limits]\namount_ceiling = 500\n[limits.amount_ceiling_by_currency]\njpy = 150000000\n")
    monkeypatch.setenv("OPS_SECRETS_PATH", str(secrets))
    assert forms.check_create({**GBP, "transaction.amount": "500"})[1] == []
    assert forms.check_create({**GBP, "transaction.amount": "500.01"})[1][0]["reason"].startswith(
        "transaction.amount must be at most 500.00 GBP")
    assert forms.check_create({**GBP, "transaction.currency": "jpy", "transaction.amount": "150000000"})[1] == []
    assert forms.amount_rules("jpy") == "JPY: no decimals, at most 150,000,000 JPY"
    assert forms.amount_rules("gbp") == "GBP: up to 2 decimal places, at most 500.00 GBP"


@pytest.mark.parametrize("setting", ["0", "-5", "abc", "1e13", "true"])
def test_a_broken_ceiling_is_a_config_error(setting: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f"[limits]\namount_ceiling = {setting if setting in ('true', '0', '-5') else repr(setting)}\n")
    monkeypatch.setenv("OPS_SECRETS_PATH", str(secrets))
    with pytest.raises(settings.ConfigError, match="amount_ceiling"):
        limits.check_settings()


def test_an_update_is_checked_against_the_merged_session() -> None:
    current = {"transaction": {"order_id": "ord-1", "amount": 20, "currency": "gbp", "capture": False}}
    start = forms.values_of(current)
    assert start["transaction.amount"] == "20.00"  # a whole amount is text with the currency's decimals
    patch, _merged, problems = forms.check_update(current, {**start, "transaction.amount": "0"})
    assert (patch, problems) == ({"transaction": {"amount": Decimal("0")}}, [])  # capture is off
    patch, _merged, problems = forms.check_update(current, {**start, "transaction.amount": "30,5"})
    assert patch == {} and problems[0]["reason"].endswith("use a point for decimals: 30.5")


def test_values_of_gives_every_text_widget_text() -> None:
    body = {"transaction": {"order_id": "o1", "amount": Decimal("1E+3"), "currency": "jpy"}, "company_domains":
            ["https://a.example", "https://b.example"], "customer": {"reference": 12}}
    values = forms.values_of(body)
    assert values["transaction.amount"] == "1000"
    assert values["company_domains"] == "https://a.example\nhttps://b.example"
    assert values["customer.reference"] == "12"


def test_describe_puts_the_label_first() -> None:
    assert forms.describe({"parameter": "transaction.amount", "reason": "transaction.amount can not be empty"}) == \
        ("Amount", "can not be empty")
    assert forms.describe({"parameter": "customer.billing.address.line_1",
                           "reason": "customer.billing.address.line_1 must be at most 50 characters"}) == \
        ("Address line 1", "must be at most 50 characters")
    assert forms.describe({"parameter": "x.y", "reason": "something odd"}) == ("x.y", "something odd")


def test_values_of_round_trips_through_build_body() -> None:
    body = {"transaction": {"order_id": "ord-1", "amount": Decimal("15.02"), "currency": "gbp", "capture": False},
            "payment_methods": ["card"]}
    assert forms.build_body(forms.values_of(body))[0] == body


def test_only_what_changed_is_patched() -> None:
    current = {"transaction": {"order_id": "a1", "amount": Decimal("1.00")}, "tds": {"is_active": True}}
    wanted = {"transaction": {"order_id": "a1", "amount": Decimal("2.00")}, "tds": {"is_active": True}}
    assert forms.changed(current, wanted) == {"transaction": {"amount": Decimal("2.00")}}


def test_curl_keeps_the_token_a_placeholder() -> None:
    command = forms.curl_command("POST", "https://x.example/v1/payment-sessions", {"transaction": {"amount": Decimal("1.5")}})
    assert '"Authorization: Bearer $ACQUIRED_TOKEN"' in command and '"amount":1.5' in command
