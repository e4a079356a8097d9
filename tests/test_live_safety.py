"""Live-money safety (lib.sessions.live_safety): typed confirmation and the per-call ceiling."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.fields import money
from lib.fields.schema import CURRENCIES
from lib.sessions.live_safety import (
    LiveConfirmationRequired,
    LiveLimitExceeded,
    check_live,
    confirmation_text,
    guard,
    matches,
)
from lib.settings import ConfigError
from lib.settings.limits import live_amount_limit


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (Decimal("15.02"), "gbp", "15.02 GBP"),
    (Decimal("15.1"), "eur", "15.10 EUR"),
    (Decimal("1234.5"), "usd", "1234.50 USD"),  # no grouping: what is easiest to type
    (Decimal("1000"), "jpy", "1000 JPY"),
    (Decimal("0"), "gbp", "0.00 GBP"),
])
def test_confirmation_text(amount: Decimal, currency: str, text: str) -> None:
    assert confirmation_text(amount, currency) == text
    assert confirmation_text(amount, currency) == money.format_amount(amount, currency).replace(",", "")


@pytest.mark.parametrize("typed", [
    "15.02 GBP", "15.02 gbp", "  15.02   GBP ", "15.02GBP", "15.020 GBP", "15.02 Gbp",
])
def test_right_text_confirms(typed: str) -> None:
    check_live(Decimal("15.02"), "gbp", typed, None)


@pytest.mark.parametrize("typed", ["1234.50 GBP", "1,234.50 GBP", "1234.5 GBP", "1,234.5 gbp"])
def test_grouping_separators_and_trailing_zeros_are_the_same_amount(typed: str) -> None:
    check_live(Decimal("1234.50"), "gbp", typed, None)


@pytest.mark.parametrize(("typed", "why"), [
    (None, "missing"), ("", "empty"), ("   ", "blank"),
    ("15.20 GBP", "wrong amount"), ("15.03 GBP", "off by a penny"), ("1502 GBP", "minor units"),
    ("15.02 EUR", "wrong currency"), ("15.02", "no currency"), ("GBP 15.02", "currency first"),
    ("15.021 GBP", "too many decimals"), ("1,5.02 GBP", "misplaced separator"), ("15,02 GBP", "decimal comma"),
    ("£15.02", "symbol"), ("-15.02 GBP", "negative"), ("15.02 GBPX", "not a code"),
])
def test_anything_else_asks_again_saying_what_to_type(typed: str | None, why: str) -> None:
    with pytest.raises(LiveConfirmationRequired) as caught:
        check_live(Decimal("15.02"), "gbp", typed, None)
    assert caught.value.expected == "15.02 GBP"
    assert "type 15.02 GBP to confirm" in str(caught.value), why


@given(st.data(), st.sampled_from(sorted(CURRENCIES)))
def test_shown_text_always_confirms(data: st.DataObject, currency: str) -> None:
    places = money.currency_decimals(currency)
    amount = data.draw(st.decimals(min_value=0, max_value=10**9, places=places))
    assert matches(confirmation_text(amount, currency), amount, currency)
    assert matches(money.format_amount(amount, currency), amount, currency)  # the grouped form as shown elsewhere
    other = "usd" if currency != "usd" else "eur"
    assert not matches(confirmation_text(amount, currency).rsplit(" ", 1)[0] + " " + other.upper(), amount, currency)
    step = Decimal(1).scaleb(-money.currency_decimals(currency))
    assert not matches(confirmation_text(amount + step, currency), amount, currency)


def test_limit_refuses_above_and_names_itself() -> None:
    check_live(Decimal("5000.00"), "gbp", "5000.00 GBP", Decimal("5000"))  # at the limit is allowed
    with pytest.raises(LiveLimitExceeded) as caught:
        check_live(Decimal("5000.01"), "gbp", "5000.01 GBP", Decimal("5000"))
    message = str(caught.value)
    assert "5,000.01 GBP" in message and "5,000" in message
    assert "live_amount_limit" in message and "[limits]" in message and "OPS_LIVE_AMOUNT_LIMIT" in message
    assert caught.value.limit == Decimal("5000")


def test_limit_is_checked_before_the_confirmation() -> None:
    with pytest.raises(LiveLimitExceeded):
        check_live(Decimal("9999"), "gbp", None, Decimal("100"))


def test_limit_from_secrets_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert live_amount_limit({}) is None
    assert live_amount_limit({"limits": {}}) is None
    assert live_amount_limit({"limits": {"live_amount_limit": 5000}}) == Decimal("5000")
    assert live_amount_limit({"limits": {"live_amount_limit": 2500.5}}) == Decimal("2500.5")
    assert live_amount_limit({"limits": {"live_amount_limit": "10,000"}}) == Decimal("10000")
    monkeypatch.setenv("OPS_LIVE_AMOUNT_LIMIT", "750")
    assert live_amount_limit({"limits": {"live_amount_limit": 5000}}) == Decimal("750")  # env wins


@pytest.mark.parametrize("bad", [0, -1, "lots", True, "nan", "inf", [5]])
def test_broken_limit_is_a_config_error_not_no_limit(bad: object) -> None:
    with pytest.raises(ConfigError, match="live_amount_limit"):
        live_amount_limit({"limits": {"live_amount_limit": bad}})


def test_broken_limit_in_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_LIVE_AMOUNT_LIMIT", "-5")
    with pytest.raises(ConfigError, match="OPS_LIVE_AMOUNT_LIMIT"):
        live_amount_limit({})


def test_guard_only_acts_in_live() -> None:
    secrets = {"limits": {"live_amount_limit": 10}}
    guard(False, Decimal("99"), "gbp", None, secrets)  # sandbox / test: nothing to confirm
    with pytest.raises(LiveLimitExceeded):
        guard(True, Decimal("99"), "gbp", "99.00 GBP", secrets)
    with pytest.raises(LiveConfirmationRequired):
        guard(True, Decimal("9"), "gbp", None, secrets)
    guard(True, Decimal("9"), "gbp", "9.00 GBP", secrets)
