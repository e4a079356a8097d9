"""The sandbox checkout's test cards and its card form (docs/contract.md, "Payments"; the API notes' §10).

The card form is the sandbox's own HTML form, not an API body, so its rules live here rather
than in the field description: a number that passes the Luhn check, an expiry ``MM/YY`` not in
the past, a CVC of 3 or 4 digits and the holder's name. :func:`read_card` checks them all at once
and answers a reason per field, worded as the API words a field's reasons; a refused form makes
no transaction. :func:`outcome` then reads the test-card table.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

SUCCESS, DECLINED, BLOCKED, ERROR = "success", "declined", "blocked", "error"
TDS_PENDING, TDS_FAILED, TDS_EXPIRED = "tds_pending", "tds_failed", "tds_expired"

# Number → (status, reason). Any other Luhn-valid number succeeds; TDS_PENDING asks for a challenge.
TEST_CARDS: dict[str, tuple[str, str | None]] = {
    "4000000000000002": (DECLINED, "do_not_honor"),
    "4000000000009995": (DECLINED, "insufficient_funds"),
    "4000000000000101": (BLOCKED, "fraud_suspected"),
    "4000000000000119": (ERROR, "processing_error"),
    "4000000000003220": (TDS_PENDING, None),
}
SUCCESS_CARD = "4111111111111111"
CHALLENGE_CARD = "4000000000003220"

# What the customer reads for a status or a reason (the result page).
IN_WORDS: dict[str, str] = {
    "do_not_honor": "Your bank declined the payment. Please use another card or contact your bank.",
    "insufficient_funds": "Your bank declined the payment: there are not enough funds on the card.",
    "fraud_suspected": "The payment was blocked because it looked like fraud.",
    "processing_error": "The payment could not be processed. No money was taken; please try again.",
    TDS_FAILED: "The 3-D Secure check with your bank failed, so the payment was not made.",
    TDS_EXPIRED: "The 3-D Secure check with your bank timed out, so the payment was not made.",
}

FIELDS = ("number", "expiry", "cvc", "holder")
HOLDER_MAX = 50
_EXPIRY = re.compile(r"^(?P<month>[0-9]{2})\s*/\s*(?P<year>[0-9]{2})$")
_CVC = re.compile(r"^[0-9]{3,4}$")
_SEPARATORS = re.compile(r"[ -]")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def scheme(number: str) -> str:
    """The card scheme its number starts with (``unknown`` when none we know)."""
    if number.startswith("4"):
        return "visa"
    if "51" <= number[:2] <= "55" or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in ("34", "37"):
        return "amex"
    return "unknown"


def masked(number: str) -> str:
    """``411111******1111``: the first six and the last four digits, as the API shows a card."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


@dataclass(frozen=True)
class Card:
    """A card form that passed every check."""

    number: str  # digits only
    expiry: str  # MM/YY
    holder: str

    @property
    def bin(self) -> str:
        return self.number[:6]

    def as_json(self) -> dict[str, str]:
        """The transaction's ``card``: never the full number, never the CVC."""
        return {"number": masked(self.number), "scheme": scheme(self.number), "expiry": self.expiry,
                "holder": self.holder}


@dataclass(frozen=True)
class CardForm:
    """What the customer typed (kept as typed, to show again) and a reason per refused field."""

    typed: dict[str, str]
    problems: dict[str, str]
    card: Card | None


def read_card(form: Mapping[str, str], now: datetime) -> CardForm:
    """Check the four fields at once against ``now`` (an expiry is valid to the end of its month)."""
    typed = {name: str(form.get(name, "")) for name in FIELDS}
    problems: dict[str, str] = {}
    number = _SEPARATORS.sub("", typed["number"].strip())
    if not number:
        problems["number"] = "Card number can not be empty"
    elif not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
        problems["number"] = "Card number must be 12-19 digits"
    elif not luhn_valid(number):
        problems["number"] = "Card number is not valid: please check the digits"
    expiry = typed["expiry"].strip()
    shape = _EXPIRY.match(expiry) if expiry.isascii() else None
    if not expiry:
        problems["expiry"] = "Expiry date can not be empty"
    elif shape is None or not 1 <= int(shape["month"]) <= 12:
        problems["expiry"] = "Expiry date format is invalid, must be MM/YY"
    elif (2000 + int(shape["year"]), int(shape["month"])) < (now.year, now.month):
        problems["expiry"] = "Expiry date is in the past: this card has expired"
    cvc = typed["cvc"].strip()
    if not cvc:
        problems["cvc"] = "CVC can not be empty"
    elif not cvc.isascii() or not _CVC.match(cvc):
        problems["cvc"] = "CVC must be 3 or 4 digits"
    holder = typed["holder"].strip()
    if not holder:
        problems["holder"] = "Cardholder name can not be empty"
    elif len(holder) > HOLDER_MAX:
        problems["holder"] = f"Cardholder name must be at most {HOLDER_MAX} characters"
    if problems:
        return CardForm(typed, problems, None)
    assert shape is not None
    return CardForm(typed, {}, Card(number, f"{shape['month']}/{shape['year']}", holder))


def outcome(card: Card) -> tuple[str, str | None]:
    """(status, reason) the test-card table gives; ``tds_pending`` means a challenge comes first."""
    return TEST_CARDS.get(card.number, (SUCCESS, None))
