"""What a person asks of a session: did the customer pay? One status, in words, derived.

The status is derived, never stored: from the session (expired or not) and the transactions
known for it (their card status, and what capture, void and refund did to them). So a late
webhook, a reconciliation and a refund all change the same few facts, and the words follow.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from lib.fields import money

ZERO = Decimal(0)
SUCCESS = "success"
DECLINED_STATUSES = frozenset({"declined", "blocked", "error"})
TDS_FAILED_STATUSES = frozenset({"tds_failed", "tds_error"})


class PaymentStatus(StrEnum):
    AWAITING = "awaiting_payment"
    PAID = "paid"
    AUTHORISED = "authorised"
    DECLINED = "declined"
    TDS_FAILED = "tds_failed"
    TDS_EXPIRED = "tds_expired"
    EXPIRED_UNPAID = "expired_unpaid"
    REFUNDED_PARTLY = "refunded_partly"
    REFUNDED = "refunded"
    VOIDED = "voided"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def paid(self) -> bool:
        """Money was taken (even if some or all of it went back since)."""
        return self in (PaymentStatus.PAID, PaymentStatus.REFUNDED_PARTLY, PaymentStatus.REFUNDED)


_LABELS = {
    PaymentStatus.AWAITING: "⏳ awaiting payment",
    PaymentStatus.PAID: "✅ paid",
    PaymentStatus.AUTHORISED: "🔒 authorised, to capture",
    PaymentStatus.DECLINED: "🚫 declined",
    PaymentStatus.TDS_FAILED: "🛡 3-D Secure failed",
    PaymentStatus.TDS_EXPIRED: "⌛ 3-D Secure expired",
    PaymentStatus.EXPIRED_UNPAID: "💤 expired unpaid",
    PaymentStatus.REFUNDED_PARTLY: "↩️ partly refunded",
    PaymentStatus.REFUNDED: "↩️ refunded",
    PaymentStatus.VOIDED: "✖️ voided",
}

# The API's failure reasons in words; any other is shown with its underscores as spaces.
_REASONS = {"insufficient_funds": "insufficient funds", "do_not_honor": "the bank declined (do not honour)",
            "fraud_suspected": "fraud suspected", "processing_error": "a processing error",
            "expired_card": "the card has expired", "invalid_card": "invalid card details"}


def reason_words(reason: str | None) -> str:
    """``insufficient_funds`` → ``insufficient funds`` (empty for no reason)."""
    if not reason:
        return ""
    return _REASONS.get(reason.lower(), reason.replace("_", " ").strip())


@dataclass(frozen=True)
class TransactionRecord:
    """One transaction as the console knows it in one environment (``lib.payments.store``)."""

    environment: str
    transaction_id: str
    order_id: str | None
    session_id: str | None
    status: str | None
    reason: str | None
    amount: Decimal | None
    currency: str | None
    capture: bool | None
    captured: Decimal  # what is captured now (0 for an authorisation not captured yet)
    refunded: Decimal
    voided: bool
    created: datetime | None
    known_at: datetime
    updated_at: datetime
    version: int  # +1 on every change of what is known (a repeat of the same facts changes nothing)
    paid_seq: int | None  # the log entry at which the console first knew it paid (for "newly paid")
    reserved: Decimal = ZERO  # refunds sent whose outcome is not settled yet
    uncertain: bool = False  # an operation on it got no answer: look it up before acting again
    open_operations: int = 0  # operations sent and not settled (under way, or with no answer)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS

    @property
    def left_to_capture(self) -> Decimal:
        """Capture is once: an authorisation not captured or voided can take up to its amount."""
        if not self.succeeded or self.voided or self.captured > ZERO or self.capture is not False:
            return ZERO
        return self.amount or ZERO

    @property
    def left_to_refund(self) -> Decimal:
        return max(ZERO, self.captured - self.refunded - self.reserved) if self.succeeded else ZERO


@dataclass(frozen=True)
class PaymentState:
    """A session's payment as a person reads it, with what is left to capture or refund."""

    session_id: str
    status: PaymentStatus
    text: str  # the label, with the reason or the amounts where they matter
    transaction: TransactionRecord | None  # the one the status is about (None: none known)
    attempts: int  # transactions known for the session (declined ones included)

    @property
    def label(self) -> str:
        return self.status.label

    @property
    def left_to_capture(self) -> Decimal:
        return self.transaction.left_to_capture if self.transaction else ZERO

    @property
    def left_to_refund(self) -> Decimal:
        return self.transaction.left_to_refund if self.transaction else ZERO


def _newest(transactions: Sequence[TransactionRecord]) -> TransactionRecord:
    return max(transactions, key=lambda t: (t.created or t.known_at, t.known_at))


def _amount(value: Decimal, currency: str | None) -> str:
    return money.format_amount(value, currency) if currency else f"{value:f}"


def _status_of(t: TransactionRecord) -> tuple[PaymentStatus, str]:
    """The status of a successful transaction, and its text."""
    if t.voided:
        return PaymentStatus.VOIDED, PaymentStatus.VOIDED.label
    if t.captured <= ZERO:
        return PaymentStatus.AUTHORISED, f"{PaymentStatus.AUTHORISED.label}: {_amount(t.amount or ZERO, t.currency)}"
    if t.refunded >= t.captured:
        return PaymentStatus.REFUNDED, f"{PaymentStatus.REFUNDED.label}: {_amount(t.refunded, t.currency)}"
    if t.refunded > ZERO:
        return PaymentStatus.REFUNDED_PARTLY, (f"{PaymentStatus.REFUNDED_PARTLY.label}: "
                                               f"{_amount(t.refunded, t.currency)} of {_amount(t.captured, t.currency)}")
    return PaymentStatus.PAID, f"{PaymentStatus.PAID.label}: {_amount(t.captured, t.currency)}"


def _failure_of(t: TransactionRecord) -> PaymentStatus:
    status = t.status or ""
    if status in DECLINED_STATUSES:
        return PaymentStatus.DECLINED
    if status in TDS_FAILED_STATUSES:
        return PaymentStatus.TDS_FAILED
    if status == "tds_expired":
        return PaymentStatus.TDS_EXPIRED
    return PaymentStatus.AWAITING  # tds_pending, or a status newer than this console


def derive(session_id: str, transactions: Sequence[TransactionRecord], *, expired: bool) -> PaymentState:
    """The payment status of a session from the transactions known for it."""
    paid = [t for t in transactions if t.succeeded]
    if paid:
        chosen = _newest(paid)
        status, text = _status_of(chosen)
        if chosen.uncertain:
            text += " (an operation on it got no answer: look it up)"
        return PaymentState(session_id, status, text, chosen, len(transactions))
    if not transactions:
        status = PaymentStatus.EXPIRED_UNPAID if expired else PaymentStatus.AWAITING
        return PaymentState(session_id, status, status.label, None, 0)
    last = _newest(transactions)
    failure = _failure_of(last)
    why = reason_words(last.reason)
    if expired:
        tried = f" (last attempt: {failure.label.split(' ', 1)[1]}{': ' + why if why else ''})"
        return PaymentState(session_id, PaymentStatus.EXPIRED_UNPAID, PaymentStatus.EXPIRED_UNPAID.label + tried,
                            last, len(transactions))
    return PaymentState(session_id, failure, failure.label + (f": {why}" if why else ""), last, len(transactions))
