"""The money operations' bodies (lib/fields/actions.py), one row per rule, checked by the one validator."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.fields.actions import ACTION_SCHEMAS, ACTIONS, CAPTURE, REFUND, REVERSAL, VOID
from lib.fields.schema import CURRENCIES, currency_decimals
from lib.fields.validation import BODY_NOT_OBJECT, validate_action

REFERENCE = "format is invalid, must be 1-18 letters, digits, spaces, _ or -"

ACTION_RULES = [
    # (kind, body, currency, parameter, reason suffix)
    (REFUND, {}, "gbp", "amount", "can not be empty"),
    (REFUND, {"amount": None}, "gbp", "amount", "can not be empty"),
    (REFUND, {"amount": 0}, "gbp", "amount", "must be more than zero"),
    (REFUND, {"amount": Decimal("-0.01")}, "gbp", "amount", "must be more than zero"),
    (REFUND, {"amount": Decimal("0.001")}, "gbp", "amount", "must have at most 2 decimal places"),
    (REFUND, {"amount": Decimal("0.5")}, "jpy", "amount", "must have no decimal places"),
    (REFUND, {"amount": "1"}, "gbp", "amount", "must be a number"),
    (REFUND, {"amount": True}, "gbp", "amount", "must be a number"),
    (REFUND, {"amount": 1, "reference": ""}, "gbp", "reference", REFERENCE),
    (REFUND, {"amount": 1, "reference": "x" * 19}, "gbp", "reference", REFERENCE),
    (REFUND, {"amount": 1, "reference": "no/slash"}, "gbp", "reference", REFERENCE),
    (REFUND, {"amount": 1, "reference": 5}, "gbp", "reference", "must be a string"),
    (CAPTURE, {"amount": 10**12}, "gbp", "amount", "must be less than 1000000000000"),
    (CAPTURE, {"amount": 0}, "gbp", "amount", "must be more than zero"),
    (REVERSAL, {"amount": 0}, "gbp", "amount", "must be more than zero"),
    (REVERSAL, {"reference": "x" * 19}, "gbp", "reference", REFERENCE),
    (REVERSAL, {"webhook_url": "not a url"}, "gbp", "webhook_url", "must be a valid URL"),
    (REVERSAL, {"webhook_url": "https://example.com/" + "x" * 280}, "gbp", "webhook_url",
     "must be at most 256 characters"),
]


@pytest.mark.parametrize("kind, body, currency, parameter, reason", ACTION_RULES)
def test_each_rule(kind: str, body: dict[str, Any], currency: str, parameter: str, reason: str) -> None:
    assert validate_action(kind, body, currency) == [{"parameter": parameter, "reason": f"{parameter} {reason}"}]


@pytest.mark.parametrize("kind", ACTIONS)
def test_a_body_that_is_not_an_object(kind: str) -> None:
    assert validate_action(kind, [], "gbp") == [BODY_NOT_OBJECT]


@pytest.mark.parametrize("kind, body", [(CAPTURE, {}), (VOID, {}), (VOID, {"anything": 1}), (REVERSAL, {}),
                                        (REFUND, {"amount": 1, "reference": "Refund 1_a-b"}),
                                        (REVERSAL, {"amount": Decimal("0.01"), "webhook_url": "http://x.example/h"})])
def test_valid_bodies(kind: str, body: dict[str, Any]) -> None:
    assert validate_action(kind, body, "gbp") == []


def test_the_body_cannot_choose_its_currency() -> None:
    """The decimals are the transaction's currency's, whatever a ``currency`` member says."""
    assert validate_action(REFUND, {"amount": Decimal("1.5"), "currency": "gbp"}, "jpy")[0]["parameter"] == "amount"


def test_every_action_has_a_description() -> None:
    assert set(ACTION_SCHEMAS) == set(ACTIONS)
    assert all(s["properties"].get("amount", {}).get("title") == "Amount" for k, s in ACTION_SCHEMAS.items() if k != VOID)


@given(st.sampled_from(sorted(CURRENCIES)), st.integers(1, 10**11), st.integers(0, 2))
def test_any_positive_amount_in_the_currencys_decimals_is_taken(currency: str, units: int, places: int) -> None:
    amount = Decimal(units).scaleb(-min(places, currency_decimals(currency)))
    assert validate_action(REFUND, {"amount": amount}, currency) == []
