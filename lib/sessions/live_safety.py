"""Live-money safety: in ``acquired-live`` the operator types the amount to confirm, under a ceiling.

Why it is built this way:
- Typing ``15.02 GBP`` proves the person read the amount and currency that will really be
  charged; a checkbox is clicked by habit. The typed text is compared as an amount and a currency
  (parsed Decimal, not strings), so ``1,234.50 GBP``, ``1234.5 gbp`` and ``1234.50 GBP`` all
  confirm 1234.50 GBP, while a wrong amount or currency never does.
- The ceiling (``live_amount_limit``) caps one call whatever the form allowed: a slipped digit
  cannot charge a customer 100 times too much. It is checked before the confirmation, since
  confirming an amount that will be refused helps nobody.
- The checks are plain functions raising exceptions, so the sessions service enforces them
  whatever the page shows.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lib.fields import money
from lib.settings.limits import LIMIT_SOURCE, live_amount_limit

# "15.02 GBP": an amount (grouping commas allowed), then the three-letter code.
_TYPED = re.compile(r"^\s*(?P<number>[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?P<code>[A-Za-z]{3})\s*$")


class LiveSafetyError(Exception):
    """A live create or update that may not be sent as it stands."""


class LiveConfirmationRequired(LiveSafetyError):
    """The operator has not (correctly) typed the amount and currency; ``expected`` is what to type."""

    def __init__(self, expected: str, typed: str | None) -> None:
        if typed is None or not typed.strip():
            message = f"acquired-live moves real money: type {expected} to confirm"
        else:
            message = f"{typed.strip()!r} does not match the amount to be sent: type {expected} to confirm"
        super().__init__(message)
        self.expected = expected
        self.typed = typed


class LiveLimitExceeded(LiveSafetyError):
    """The amount is above the per-call ceiling for live; the message names it and where it is set."""

    def __init__(self, amount: Decimal, currency: str, limit: Decimal) -> None:
        super().__init__(f"{money.format_amount(amount, currency)} is above the live limit of {limit:,f} per call "
                         f"(set by {LIMIT_SOURCE})")
        self.amount = amount
        self.currency = currency
        self.limit = limit


def confirmation_text(amount: Decimal, currency: str) -> str:
    """What the operator types: ``15.02 GBP`` (the currency's decimals, no grouping: easiest to type)."""
    return f"{money.plain(amount, currency)} {currency.upper()}"


def matches(typed: str | None, amount: Decimal, currency: str) -> bool:
    """Whether ``typed`` states exactly ``amount`` in ``currency`` (grouping commas and case allowed)."""
    match = _TYPED.match(typed or "")
    if match is None or match["code"].lower() != currency.lower():
        return False
    try:
        return money.parse_amount(match["number"], currency) == amount
    except money.AmountError:  # misplaced commas and the like
        return False


def check_live(amount: Decimal, currency: str, typed: str | None, limit: Decimal | None) -> None:
    """Raise unless a live call of ``amount`` ``currency`` may go: within ``limit`` and confirmed by ``typed``."""
    if limit is not None and amount > limit:
        raise LiveLimitExceeded(amount, currency, limit)
    if not matches(typed, amount, currency):
        raise LiveConfirmationRequired(confirmation_text(amount, currency), typed)


def guard(live: bool, amount: Decimal, currency: str, typed: str | None,
          secrets: Mapping[str, Any] | None = None) -> None:
    """:func:`check_live` with the configured limit when the environment is live; nothing otherwise."""
    if live:
        check_live(amount, currency, typed, live_amount_limit(secrets))
