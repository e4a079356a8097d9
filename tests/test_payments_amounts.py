"""Amounts typed for captures and refunds, per currency, and the API's odd-but-valid answers.

The one amount parser (lib.fields.money) reads what a person typed; the operation's description
(lib.fields.actions) applies the currency's decimals. ``12,50`` is refused with its hint and
never reinterpreted. Answers are read tolerantly: any JSON gives a Transaction or None, never a crash.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.api.transactions import Transaction
from lib.fields import money
from lib.fields.schema import CURRENCIES, currency_decimals
from lib.fields.validation import InvalidRequest, decimal_places, validate_action
from lib.payments.rules import typed_amount
from tests.payments_support import FINANCE, World, world_fixture  # noqa: F401 - the fixture

CODES = sorted(CURRENCIES)


@st.composite
def typed_amounts(draw: st.DrawFn) -> tuple[str, Decimal, int]:
    """(currency, an amount with up to one decimal more than the currency has, its decimals)."""
    code = draw(st.sampled_from(CODES))
    places = draw(st.integers(0, currency_decimals(code) + 1))
    units = draw(st.integers(1, 10**11))
    return code, Decimal(units).scaleb(-places), places


@given(typed_amounts(), st.sampled_from(["plain", "grouped", "with code"]))
@settings(max_examples=300, deadline=None)
def test_a_typed_amount_is_read_exactly_and_checked_against_its_currencys_decimals(
        case: tuple[str, Decimal, int], style: str) -> None:
    code, amount, _ = case
    text = {"plain": f"{amount:f}", "grouped": money.grouped(amount, code) if decimal_places(amount) <=
            currency_decimals(code) else f"{amount:f}", "with code": f"{amount:f} {code.upper()}"}[style]
    parsed = typed_amount(text, code)
    assert parsed == amount
    problems = validate_action("refund", {"amount": parsed, "reference": "r"}, code)
    assert (problems == []) == (decimal_places(amount) <= currency_decimals(code))
    if problems:
        assert problems[0]["parameter"] == "amount" and "decimal places" in problems[0]["reason"]


@given(st.integers(0, 999), st.integers(0, 99), st.sampled_from(CODES))
def test_a_decimal_comma_is_refused_with_its_hint_never_reinterpreted(whole: int, fraction: int, code: str) -> None:
    cents = f"{fraction:02d}" if fraction >= 10 else str(fraction)
    with pytest.raises(InvalidRequest) as refused:
        typed_amount(f"{whole},{cents}", code)
    assert refused.value.problems == [{"parameter": "amount", "reason":
                                       f"amount must be a number: use a point for decimals: {whole}.{cents}"}]


def test_the_service_refuses_12_50_at_the_amount_and_sends_nothing(world: World) -> None:
    txn_id, _ = world.paid(world.session("20.00"))
    with pytest.raises(InvalidRequest) as refused:
        world.payments.refund("sandbox", FINANCE, txn_id, "12,50", "ref")
    assert refused.value.problems[0]["reason"] == "amount must be a number: use a point for decimals: 12.50"
    with pytest.raises(InvalidRequest, match="no decimal places"):
        world.payments.refund("sandbox", FINANCE, world.paid(world.session("2000", currency="jpy"))[0], "10.5", "r")
    assert world.fake.actions == []


@pytest.mark.parametrize(("operation", "text"), [("refund", "-5"), ("refund", "0"), ("capture", "-0.01")])
def test_a_negative_or_zero_operation_amount_is_refused_as_the_operation_words_it(
        world: World, operation: str, text: str) -> None:
    """Each field words its own minimum: an operation moves more than zero (a session may be 0)."""
    txn_id, _ = world.paid(world.session("20.00", capture=operation != "capture"))
    with pytest.raises(InvalidRequest) as refused:
        if operation == "capture":
            world.payments.capture("sandbox", FINANCE, txn_id, text)
        else:
            world.payments.refund("sandbox", FINANCE, txn_id, text, "ref")
    assert refused.value.problems == [{"parameter": "amount", "reason": "amount must be more than zero"}]
    assert world.fake.actions == []


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                    | st.decimals(allow_nan=False, allow_infinity=False),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={
    "transaction_id": st.text(max_size=8) | JSON, "status": JSON, "reason": JSON, "created": JSON,
    "amounts": st.fixed_dictionaries({}, optional={"captured": JSON, "refunded": JSON}) | JSON,
    "transaction": st.fixed_dictionaries({}, optional={"order_id": JSON, "amount": JSON, "currency": JSON,
                                                       "capture": JSON}) | JSON})


@given(FIELDS)
def test_any_answer_reads_as_a_transaction_or_none_never_a_crash(members: dict[str, Any]) -> None:
    txn = Transaction.read(members)
    if txn is not None:
        assert txn.transaction_id == members["transaction_id"]
        assert txn.amount is None or txn.amount.is_finite()
        assert txn.capture in (None, True, False)
