"""Countdowns (fixed clocks), payment links and QR codes, and Decimal money parsing/formatting."""
from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from lib.fields.money import AmountError, format_amount, parse_amount, plain
from lib.fields.schema import CURRENCIES
from lib.sessions.countdown import format_mmss, fraction_left, is_expired, time_left
from lib.sessions.links import customer_message, payment_link, qr_png
from lib.settings import ConfigError

CREATED = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
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
    expires = datetime(2024, 7, 1, 12, 5, 59, tzinfo=UTC)
    text = customer_message("https://shop.example/pay/s1", Decimal("1234.5"), "gbp", expires, ZoneInfo("Europe/London"))
    assert "1,234.50 GBP" in text
    assert "https://shop.example/pay/s1" in text.splitlines()
    assert text.endswith("valid until 13:05 (BST).")


def test_customer_message_in_yen_and_utc() -> None:
    text = customer_message("https://x.example/p", Decimal("1500"), "jpy", EXPIRES, UTC)
    assert "1,500 JPY" in text and "valid until 12:10 (UTC)" in text


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "currency", "amount"), [
    ("15.02", "gbp", "15.02"), ("15", "gbp", "15"), ("20", "gbp", "20"), (" 1,234.50 ", "GBP", "1234.50"),
    ("15.1", "eur", "15.1"), ("0", "usd", "0"), ("1,000", "jpy", "1000"), ("100.0", "jpy", "100.0"),
    ("15.02 GBP", "gbp", "15.02"), ("1,234,567.89", "usd", "1234567.89"), (".5", "gbp", "0.5"),
    ("-1", "gbp", "-1"), ("-1,000.50", "usd", "-1000.50"),  # the field says whether a negative may be
    ("1.234", "gbp", "1.234"),  # too many decimals is validation's to say, at the field: never rounded here
])
def test_parse_amount_returns_exactly_what_was_typed(text: str, currency: str, amount: str) -> None:
    parsed = parse_amount(text, currency)
    assert str(parsed) == amount


@pytest.mark.parametrize(("text", "reason"), [
    ("12,50", "must be a number: use a point for decimals: 12.50"),
    ("30,5", "must be a number: use a point for decimals: 30.5"),
    ("1.234,50", "must be a number: use a point for decimals and no other separator: 1234.50"),
    ("1e3", "must be a number: write it out in digits, without an exponent"),
    ("2E+5", "must be a number: write it out in digits, without an exponent"),
    ("+5", "must be a number: type it without a sign"),
    ("-", "must be a number"), ("-1.2.3", "must be a number"),
    ("1 000", "must be a number: remove the spaces: 1000"),
    ("£15", "must be a number: type it without the currency sign: 15"),
    ("", "can not be empty"),
    ("   ", "can not be empty"),
    ("nan", "must be a number"), ("inf", "must be a number"), ("0x10", "must be a number"),
    ("15.", "must be a number"), ("1,23.00", "must be a number"), ("１２", "must be a number"),
    ("15.02 EUR", "is in EUR, not GBP"),
])
def test_parse_amount_refuses_and_says_what_to_type(text: str, reason: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, "gbp")
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (Decimal("15.02"), "gbp", "15.02 GBP"), (Decimal("15"), "gbp", "15.00 GBP"), (Decimal("1234.5"), "eur", "1,234.50 EUR"),
    (Decimal("1500"), "jpy", "1,500 JPY"), (0, "usd", "0.00 USD"), (20, "gbp", "20.00 GBP"),
    (Decimal("1.234"), "gbp", "1.234 GBP"), (Decimal("2.5"), "jpy", "2.5 JPY"),  # shown as they are, never rounded
])
def test_format_amount_pads_to_the_currency_decimals_and_never_rounds(amount: Decimal, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_plain_is_what_an_amount_field_holds() -> None:
    assert [plain(20, "gbp"), plain(Decimal("20.0"), "gbp"), plain(0, "jpy"), plain(Decimal("1E+3"), "usd")] == \
        ["20.00", "20.00", "0", "1000.00"]


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
def test_parse_amount_only_ever_raises_amount_error(text: str, currency: str) -> None:
    try:
        amount = parse_amount(text, currency)
    except AmountError:
        return
    assert amount >= 0 and amount.is_finite()
