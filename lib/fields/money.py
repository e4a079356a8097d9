"""Amounts as Decimal from the form to the wire: one strict parser, one way to show them.

A float never appears: ``0.1 + 0.2`` is not money. :func:`parse_amount` is the only reading of
an amount a person typed (the forms and the live confirmation both use it). It never guesses:
``12,50`` is refused with a hint instead of becoming 1,250, ``1e3`` and ``+5`` are refused
instead of becoming numbers, and what it accepts it returns exactly as typed (no rounding).
Showing an amount pads it to the currency's decimals and never rounds either, so a value with
too many decimals is shown as it is (and refused by validation), not silently corrected.
"""
from __future__ import annotations

import re
from decimal import Decimal

from lib.fields.schema import currency_decimals
from lib.fields.validation import decimal_places

# Digits with an optional fractional part: "20", "20.5", ".5".
_PLAIN = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)$")
# Digits grouped by commas in threes, then an optional fractional part: "1,234" / "1,234,567.89".
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")
# One comma between digits and no point: a decimal comma ("12,50") unless it is a grouping above.
_DECIMAL_COMMA = re.compile(r"^(?P<whole>[0-9]+),(?P<fraction>[0-9]+)$")
# European style: points between thousands and a decimal comma ("1.234,50").
_EUROPEAN = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+$")
_EXPONENT = re.compile(r"^[0-9.]*[0-9][eE][+-]?[0-9]+$")
_SPACES = re.compile("[ \u00a0\u202f]")  # space, no-break space, narrow no-break space
_SPACED = re.compile("^[0-9][0-9 \u00a0\u202f]*(?:\\.[0-9]+)?$")
_SYMBOL = re.compile(r"^[^\w\s.,+-]\s*(?P<number>.+)$")
# An amount may end with its currency code, so a formatted amount ("15.02 GBP") parses back.
_WITH_CODE = re.compile(r"^(?P<number>\S.*?)\s+(?P<code>[A-Za-z]{3})$")


class AmountError(ValueError):
    """Text that is not an amount; ``reason`` is worded as the API words a field's reasons."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(text: str) -> Decimal:
    """The number in ``text`` (no code), or AmountError saying what to type instead."""
    if _PLAIN.match(text) or _GROUPED.match(text):
        return Decimal(text.replace(",", ""))
    if text.startswith("-") and (_PLAIN.match(text[1:]) or _GROUPED.match(text[1:])):
        # Read, not refused: whether it may be negative, zero or must be more is the field's rule.
        return -Decimal(text[1:].replace(",", ""))
    if text.startswith("+"):
        raise AmountError("must be a number: type it without a sign")
    comma = _DECIMAL_COMMA.match(text)
    if comma:
        raise AmountError(f"must be a number: use a point for decimals: {comma['whole']}.{comma['fraction']}")
    if _EUROPEAN.match(text):
        fixed = text.replace(".", "").replace(",", ".")
        raise AmountError(f"must be a number: use a point for decimals and no other separator: {fixed}")
    if _EXPONENT.match(text):
        raise AmountError("must be a number: write it out in digits, without an exponent")
    if _SPACED.match(text):
        raise AmountError(f"must be a number: remove the spaces: {_SPACES.sub('', text)}")
    symbol = _SYMBOL.match(text)
    if symbol and (_PLAIN.match(symbol["number"]) or _GROUPED.match(symbol["number"])):
        raise AmountError(f"must be a number: type it without the currency sign: {symbol['number']}")
    raise AmountError("must be a number: digits, a point for decimals, commas only between thousands (1,234.50)")


def parse_amount(text: str, currency: str | None = None) -> Decimal:
    """What a person typed (``"15.02"``, ``" 1,234.50 "``, ``"15.02 GBP"``) as the exact Decimal.

    Surrounding white space is ignored; nothing else is changed. ``currency`` only checks a code
    typed after the number; decimals, the minimum (a negative number is read as one) and the
    ceilings are the validation's rules, so each field words its own limit.
    """
    stripped = str(text).strip()
    if not stripped:
        raise AmountError("can not be empty")
    with_code = _WITH_CODE.match(stripped)
    if with_code:
        code = with_code["code"].lower()
        if currency and code != str(currency).lower():
            raise AmountError(f"is in {code.upper()}, not {str(currency).upper()}")
        stripped = with_code["number"]
    return _number(stripped)


def plain(amount: Decimal | int, currency: str) -> str:
    """``1234.50``: the currency's decimals at least, never rounded, no grouping (what a form holds)."""
    value = Decimal(amount)
    places = currency_decimals(currency)
    if decimal_places(value) <= places:
        value = value.quantize(Decimal(1).scaleb(-places))  # only adds or drops zeros: exact
    return f"{value:f}"


def grouped(amount: Decimal | int, currency: str) -> str:
    """``1,234.50``: as :func:`plain`, with thousands grouped."""
    whole, point, fraction = plain(amount, currency).partition(".")
    return f"{int(whole):,}{point}{fraction}"


def format_amount(amount: Decimal | int, currency: str) -> str:
    """``1,234.50 GBP`` / ``1,000 JPY``: grouped, the currency's decimals, the code upper-case."""
    return f"{grouped(amount, currency)} {str(currency).upper()}"
