"""Countdowns (fixed clocks), payment links and QR codes, and Decimal money parsing/formatting."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from lib.config import ConfigError
from lib.countdown import format_mmss, fraction_left, is_expired, time_left
from lib.fields import CURRENCIES
from lib.links import customer_message, payment_link, qr_png
from lib.money import format_amount, parse_amount, quantize

CREATED = datetime(2024, 7, 1, 12, 0, tzinfo=timezone.utc)
EXPIRES = CREATED + timedelta(minutes=10)

# --- countdown -----------------------------------------------------------------------------


def test_time_left_counts_down_and_stops_at_zero() -> None:
    assert time_left(EXPIRES, CREATED) == timedelta(minutes=10)
    assert time_left(EXPIRES, CREATED + timedelta(seconds=0.5)) == timedelta(seconds=599.5)
    assert time_left(EXPIRES, EXPIRES) == timedelta(0)
    assert time_left(EXPIRES, EXPIRES + timedelta(hours=3)) == timedelta(0)


@pytest.mark.parametrize(("seconds", "text"), [
    (600, "10:00"), (599.99, "09:59"), (59, "00:59"), (0.4, "00:00"), (0, "00:00"), (-5, "00:00"),
    (3599.9, "59:59"), (3600, "1:00:00"), (3 * 3600 + 62, "3:01:02"),
])
def test_format_mmss_rounds_down(seconds: float, text: str) -> None:
    assert format_mmss(timedelta(seconds=seconds)) == text


def test_fraction_left_goes_from_one_to_zero() -> None:
    assert fraction_left(CREATED, EXPIRES, CREATED - timedelta(seconds=5)) == 1.0
    assert fraction_left(CREATED, EXPIRES, CREATED) == 1.0
    assert fraction_left(CREATED, EXPIRES, CREATED + timedelta(minutes=2, seconds=30)) == 0.75
    assert fraction_left(CREATED, EXPIRES, EXPIRES + timedelta(seconds=1)) == 0.0
    assert fraction_left(CREATED, CREATED, CREATED) == 0.0


def test_is_expired_from_the_expiry_instant_on() -> None:
    assert not is_expired(EXPIRES, EXPIRES - timedelta(microseconds=1))
    assert is_expired(EXPIRES, EXPIRES)
    assert is_expired(EXPIRES, EXPIRES + timedelta(days=1))


# --- links ---------------------------------------------------------------------------------


def test_payment_link_fills_and_quotes_the_session_id() -> None:
    assert payment_link("https://shop.example/pay/{session_id}", "3f2a-9") == "https://shop.example/pay/3f2a-9"
    assert payment_link("https://shop.example/pay?s={session_id}", "a b/c?d&e") == \
        "https://shop.example/pay?s=a%20b%2Fc%3Fd%26e"


@pytest.mark.parametrize("template", [None, "", "https://shop.example/pay/"])
def test_missing_template_says_what_to_set_and_where(template: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        payment_link(template, "s1", environment="acquired-live")
    message = str(caught.value)
    assert "checkout_url_template" in message
    assert "[environments.acquired-live]" in message and "secrets.toml" in message
    assert "ACQUIRED_LIVE_CHECKOUT_URL_TEMPLATE" in message


def test_missing_template_without_an_environment_names_the_generic_places() -> None:
    with pytest.raises(ConfigError, match=r"\[environments.<name>\].*<ENV>_CHECKOUT_URL_TEMPLATE"):
        payment_link(None, "s1")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("scale", [1, 8])
def test_qr_png_is_a_png_of_the_expected_size(scale: int) -> None:
    url = "https://shop.example/pay/0b7d7c3e-1c43-4a41-9b5e-8a9c4c7c2d10"
    data = qr_png(url, scale=scale)
    modules = segno.make(url, error="m", micro=False).symbol_size(scale=1, border=4)
    assert _png_size(data) == (modules[0] * scale, modules[1] * scale)
    assert _png_size(qr_png(url)) == (modules[0] * 8, modules[1] * 8)


def test_customer_message_is_ready_to_paste() -> None:
    expires = datetime(2024, 7, 1, 12, 5, 59, tzinfo=timezone.utc)
    text = customer_message("https://shop.example/pay/s1", Decimal("1234.5"), "gbp", expires, ZoneInfo("Europe/London"))
    assert "1,234.50 GBP" in text
    assert "https://shop.example/pay/s1" in text.splitlines()
    assert text.endswith("valid until 13:05 (BST).")


def test_customer_message_in_yen_and_utc() -> None:
    text = customer_message("https://x.example/p", Decimal("1500"), "jpy", EXPIRES, timezone.utc)
    assert "1,500 JPY" in text and "valid until 12:10 (UTC)" in text


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "currency", "amount"), [
    ("15.02", "gbp", Decimal("15.02")), ("15", "gbp", Decimal("15.00")), (" 1,234.50 ", "GBP", Decimal("1234.50")),
    ("15.1", "eur", Decimal("15.10")), ("0", "usd", Decimal("0.00")), ("1,000", "jpy", Decimal("1000")),
    ("100.0", "jpy", Decimal("100")), ("15.02 GBP", "gbp", Decimal("15.02")), ("1,234,567.89", "usd", Decimal("1234567.89")),
])
def test_parse_amount_accepts_what_people_type(text: str, currency: str, amount: Decimal) -> None:
    parsed = parse_amount(text, currency)
    assert parsed == amount and str(parsed) == str(amount)


@pytest.mark.parametrize(("text", "currency", "reason"), [
    ("15.025", "gbp", "transaction.amount must have at most 2 decimal places"),
    ("15.5", "jpy", "transaction.amount must have at most 0 decimal places"),
    ("-1", "gbp", "transaction.amount must be zero or more"),
    ("", "gbp", "transaction.amount can not be empty"),
    ("   ", "gbp", "transaction.amount can not be empty"),
    ("1e3", "gbp", "transaction.amount must be a number"),
    ("nan", "gbp", "transaction.amount must be a number"),
    ("inf", "gbp", "transaction.amount must be a number"),
    ("0x10", "gbp", "transaction.amount must be a number"),
    ("15.", "gbp", "transaction.amount must be a number"),
    ("1,23.00", "gbp", "transaction.amount must be a number"),
    ("£15", "gbp", "transaction.amount must be a number"),
    ("15.02 EUR", "gbp", "transaction.amount is in EUR, not GBP"),
    ("15", "xyz", "transaction.currency format is invalid, must be [aed,aud"),
])
def test_parse_amount_refuses_with_the_contract_reason(text: str, currency: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_amount(text, currency)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (Decimal("15.02"), "gbp", "15.02 GBP"), (Decimal("15"), "gbp", "15.00 GBP"), (Decimal("1234.5"), "eur", "1,234.50 EUR"),
    (Decimal("1500"), "jpy", "1,500 JPY"), (0, "usd", "0.00 USD"),
])
def test_format_amount_uses_the_currency_decimals(amount: Decimal, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_quantize_rounds_half_up_and_refuses_floats() -> None:
    assert quantize(Decimal("15.005"), "gbp") == Decimal("15.01")
    assert quantize(Decimal("2.5"), "jpy") == Decimal("3")
    with pytest.raises(TypeError, match="float"):
        quantize(15.02, "gbp")  # type: ignore[arg-type]


_currencies = st.sampled_from(sorted(CURRENCIES))


@given(_currencies, st.integers(0, 10**13), st.data())
def test_parse_amount_inverts_format_amount(currency: str, minor: int, data: st.DataObject) -> None:
    places = CURRENCIES[currency][1]
    amount = Decimal(minor).scaleb(-places)
    text = format_amount(amount, currency)
    assert parse_amount(text, currency) == amount
    assert parse_amount(data.draw(st.sampled_from([text, text.split()[0], text.split()[0].replace(",", "")])),
                        currency) == amount


@given(st.text(max_size=20), _currencies)
def test_parse_amount_only_ever_raises_value_error(text: str, currency: str) -> None:
    try:
        amount = parse_amount(text, currency)
    except ValueError:
        return
    assert amount >= 0 and amount == quantize(amount, currency)
