"""Amounts as Decimal from the form to the wire: parsed strictly, shown with the currency's decimals.

A float never appears: ``0.1 + 0.2`` is not money. Parsing refuses anything a person would not
type as an amount (exponents, ``nan``, signs, stray separators) rather than guess, and its errors
read like the API's own reasons (contract §3b) so the form shows one vocabulary.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lib.fields import CURRENCIES, currency_decimals
from lib.validation import decimal_places

AMOUNT = "transaction.amount"
CURRENCY = "transaction.currency"

# Plain digits, or digits grouped by commas in threes; then optionally a point and digits; then
# optionally the currency code (so a formatted amount parses back).
_AMOUNT_TEXT = re.compile(r"^(?P<number>(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?)(?:\s+(?P<code>[A-Za-z]{3}))?$")


def _currency(code: str) -> str:
    """The lowercase code, or the contract's enum reason when the API would refuse it."""
    lowered = str(code).strip().lower()
    if lowered not in CURRENCIES:
        raise ValueError(f"{CURRENCY} format is invalid, must be [{','.join(CURRENCIES)}]")
    return lowered


def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_decimals(currency))


def parse_amount(text: str, currency: str) -> Decimal:
    """What a person typed (``"15.02"``, ``" 1,234.50 "``, ``"15.02 GBP"``) as an exact amount.

    The result carries the currency's decimals (``"15.1"`` → ``15.10``). Messages are the API's
    reasons for ``transaction.amount`` so the form can show them beside the field unchanged.
    """
    code = _currency(currency)
    stripped = str(text).strip()
    if not stripped:
        raise ValueError(f"{AMOUNT} can not be empty")
    if stripped.startswith("-"):
        raise ValueError(f"{AMOUNT} must be zero or more")
    match = _AMOUNT_TEXT.match(stripped)
    if match is None:
        raise ValueError(f"{AMOUNT} must be a number")
    if match["code"] and match["code"].lower() != code:
        raise ValueError(f"{AMOUNT} is in {match['code'].upper()}, not {code.upper()}")
    amount = Decimal(match["number"].replace(",", ""))
    places = currency_decimals(code)
    if decimal_places(amount) > places:
        raise ValueError(f"{AMOUNT} must have at most {places} decimal places")
    return quantize(amount, code)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` with exactly the currency's decimals (half-up, the usual rule for money shown)."""
    if not isinstance(amount, (Decimal, int)) or isinstance(amount, bool):
        raise TypeError(f"amounts must be Decimal or int, not {type(amount).__name__}")
    try:
        return Decimal(amount).quantize(_exponent(currency), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"{amount} cannot be shown as {currency.upper()}") from exc


def format_amount(amount: Decimal, currency: str) -> str:
    """``1,234.50 GBP`` / ``1,000 JPY``: grouped, the currency's decimals, the code upper-case."""
    return f"{quantize(amount, currency):,f} {currency.upper()}"
