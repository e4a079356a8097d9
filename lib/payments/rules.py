"""When a capture, void or refund may be sent, and what is refused at which field, before sending.

The API refuses the same things with a 409 (docs/contract.md, "Payments"); checking first means a
person sees the reason at the field and nothing is sent that would be refused. The checks run
inside the store's write lock (``PaymentStore.reserve``) against the transaction as recorded
there, open operations included: two refunds racing see each other's reservation.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from lib.fields import money
from lib.fields.actions import AMOUNT as AMOUNT_FIELD
from lib.fields.validation import InvalidRequest, Problem
from lib.payments.models import ZERO, TransactionRecord

TRANSACTION_FIELD = "transaction"
VERBS = {"capture": "captured", "void": "voided", "refund": "refunded"}


def typed_amount(text: str, currency: str) -> Decimal:
    """What a person typed as an operation's amount, by the one amount parser (``12,50`` is refused
    with its hint, never read as 1250); :class:`InvalidRequest` at ``amount`` otherwise."""
    try:
        return money.parse_amount(text, currency)
    except money.AmountError as exc:
        raise InvalidRequest([Problem(parameter=AMOUNT_FIELD, reason=f"{AMOUNT_FIELD} {exc.reason}")]) from None


class OperationNotAllowed(InvalidRequest):
    """The transaction's state or what is left forbids the operation (one problem, at its field)."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__([Problem(parameter=parameter, reason=reason)])


class PaymentNotFound(LookupError):
    """No transaction of this id is known in this environment (look the session's payments up first)."""


def _amount(value: Decimal, currency: str | None) -> str:
    return money.format_amount(value, currency) if currency else f"{value:f}"


def _state_refusal(operation: str, t: TransactionRecord) -> str | None:
    verb = VERBS[operation]
    if t.uncertain:
        return ("an earlier operation on this transaction got no answer: look the transaction up before anything "
                "else is sent")
    if not t.succeeded:
        return f"only a successful payment can be {verb}: this one is {t.status or 'of unknown status'}"
    if operation == "refund":
        return None if t.captured > ZERO else "nothing was captured, so nothing can be refunded: void it instead"
    if t.open_operations:
        return "another operation on this transaction is under way: wait for its answer"
    if t.voided:
        return "it was voided already"
    if t.captured > ZERO or t.capture is not False:
        return "it is captured already: refund it instead" if operation == "void" else "it is captured already"
    return None


def check(operation: str, t: TransactionRecord, amount: Decimal | None) -> None:
    """Raise :class:`OperationNotAllowed` unless ``operation`` of ``amount`` may be sent for ``t``."""
    refusal = _state_refusal(operation, t)
    if refusal:
        raise OperationNotAllowed(TRANSACTION_FIELD, f"{TRANSACTION_FIELD} can not be {VERBS[operation]}: {refusal}")
    left = t.left_to_capture if operation == "capture" else t.left_to_refund
    if operation == "refund" and left <= ZERO:
        raise OperationNotAllowed(AMOUNT_FIELD, f"{AMOUNT_FIELD} must be at most 0: nothing is left to refund"
                                  + (" (refunds under way hold the rest)" if t.reserved else ""))
    if amount is not None and operation != "void" and amount > left:
        what = "capture" if operation == "capture" else "refund"
        raise OperationNotAllowed(AMOUNT_FIELD, f"{AMOUNT_FIELD} must be at most {_amount(left, t.currency)} "
                                                f"(what is left to {what})")


@dataclass(frozen=True)
class MoneyResult:
    """A money operation the API took: the transaction before and after, and what is left."""

    operation: str
    amount: Decimal | None  # None: a void, or a capture of everything authorised
    before: TransactionRecord
    after: TransactionRecord
    action_id: str | None
    entry_seq: int

    @property
    def left_to_capture(self) -> Decimal:
        return self.after.left_to_capture

    @property
    def left_to_refund(self) -> Decimal:
        return self.after.left_to_refund
