"""Transactions on the client's logged path: look them up, capture, void, refund, reverse.

docs/contract.md, "Payments". Every call goes through ``Client._call``: its request is logged
before it leaves and its result after; what the caller keeps of an answer is written by its
``record`` callback inside the result entry's transaction (committed with it or not at all).
The lookups are GETs, so a lookup that got no answer is a network error and may simply be made
again; a money operation that got no answer is an :class:`UnknownOutcome` and is never resent
(the caller looks the transaction up instead).

Answers are read tolerantly: a missing or odd field is None, never an exception, because the real
API's transaction object is documented loosely (nothing public names the captured and refunded
figures: they are read from ``amounts{captured, refunded}``, as our sandbox answers, when present).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from sqlite_utils import Database

from lib.api.client import SESSION_ID, Client
from lib.api.errors import ApiError
from lib.api.exchange import Then
from lib.fields import dotted
from lib.fields.schema import AMOUNT, CAPTURE, CURRENCY, ORDER_ID, TransactionFacts
from lib.fields.validation import ActionRequest, InvalidRequest, Problem

TRANSACTIONS = "/v1/transactions"
TRANSACTION = "/v1/transactions/{transaction_id}"
ACTION = "/v1/transactions/{transaction_id}/{operation}"
LIST_LIMIT = 100  # the most one page of GET /v1/transactions holds
ACCEPTED = ("success", "pending")  # an action's answer status that means it was taken (seen in plugins)
BAD_TRANSACTION_ID = ("transaction_id format is invalid, must be 1-128 letters, digits, _ or -, "
                      "starting with a letter or digit")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    amount = Decimal(value)
    return amount if amount.is_finite() else None


def _when(value: Any) -> datetime | None:
    """``created`` as an aware datetime: ISO text (a missing zone read as UTC) or unix seconds."""
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _figure(members: Mapping[str, Any], name: str) -> Any:
    """One of the ``amounts`` figures (``captured``, ``refunded``), or None when not given."""
    amounts = members.get("amounts")
    return amounts.get(name) if isinstance(amounts, Mapping) else None


@dataclass(frozen=True)
class Transaction:
    """One transaction as the API described it. Only ``transaction_id`` is certain."""

    transaction_id: str
    status: str | None
    reason: str | None
    order_id: str | None
    amount: Decimal | None
    currency: str | None
    capture: bool | None
    captured_amount: Decimal | None
    refunded_amount: Decimal | None
    created: datetime | None

    @classmethod
    def read(cls, members: Any) -> Transaction | None:
        """The transaction in an answer's members, or None when it names none."""
        if not isinstance(members, Mapping) or not _text(members.get("transaction_id")):
            return None
        facts = TransactionFacts.of(members)
        capture = dotted.lookup(members, CAPTURE)
        status = _text(members.get("status"))
        return cls(members["transaction_id"], status.lower() if status else None, _text(members.get("reason")),
                   facts.order_id, facts.amount, facts.currency.lower() if facts.currency else None,
                   capture if isinstance(capture, bool) else None, _amount(_figure(members, "captured")),
                   _amount(_figure(members, "refunded")), _when(members.get("created")))


@dataclass(frozen=True)
class ActionResult:
    """What the API answered to a money operation it accepted."""

    operation: str
    transaction_id: str  # the transaction acted on
    action_id: str | None  # the id the API gave the action itself
    status: str | None
    entry_seq: int
    attempt_id: str


class ActionRefused(ApiError):
    """A 2xx answer whose ``status`` says the operation was not taken (neither success nor pending)."""


def transaction_path(transaction_id: str, operation: str | None = None) -> str:
    """The path of a transaction (or of an operation on it), its id checked and quoted first."""
    if not isinstance(transaction_id, str) or not SESSION_ID.fullmatch(transaction_id):
        raise InvalidRequest([Problem(parameter="transaction_id", reason=BAD_TRANSACTION_ID)])
    quoted = quote(transaction_id, safe="")
    return f"{TRANSACTIONS}/{quoted}" + (f"/{operation}" if operation else "")


def facts_body(order_id: str | None, amount: Decimal | None, currency: str | None) -> dict[str, Any]:
    """A body carrying only what a call is about, for the log's order/amount/currency columns."""
    body: dict[str, Any] = {}
    for path, value in ((ORDER_ID, order_id), (AMOUNT, amount), (CURRENCY, currency)):
        if value is not None:
            dotted.put(body, path, value)
    return body


RecordOne = Callable[[Database, int, Transaction | None], None]
RecordMany = Callable[[Database, int, list[Transaction]], None]
RecordAction = Callable[[Database, int, ActionResult], None]


class PaymentsClient(Client):
    """The HTTP client with the transaction calls (same logging, same token, same rules)."""

    def transaction(self, transaction_id: str, *, session_id: str | None = None,
                    record: RecordOne | None = None) -> Transaction | None:
        """``GET /v1/transactions/{id}``: the transaction, or None when the answer names none.
        ``NotFound`` for an unknown id. ``record`` runs in the result entry's transaction."""
        path = transaction_path(transaction_id)
        found: list[Transaction | None] = [None]

        def then(db: Database, seq: int, members: Mapping[str, Any]) -> None:
            found[0] = Transaction.read(members)
            if record is not None:
                record(db, seq, found[0])

        self._call(lambda: self._prepare("GET", TRANSACTION, path, None, session_id=session_id, on_success=then,
                                         idempotent=True))
        return found[0]

    def transactions_for_order(self, order_id: str, *, session_id: str | None = None,
                               record: RecordMany | None = None) -> list[Transaction]:
        """``GET /v1/transactions?order_id=…``: its transactions (newest first, one page of 100)."""
        path = f"{TRANSACTIONS}?{urlencode({'order_id': order_id, 'limit': LIST_LIMIT})}"
        found: list[Transaction] = []

        def then(db: Database, seq: int, members: Mapping[str, Any]) -> None:
            data = members.get("data")
            items = data if isinstance(data, list) else []
            found.extend(t for t in (Transaction.read(item) for item in items) if t is not None)
            if record is not None:
                record(db, seq, found)

        self._call(lambda: self._prepare("GET", TRANSACTIONS, path, None, session_id=session_id,
                                         concerns_body=facts_body(order_id, None, None), on_success=then,
                                         idempotent=True))
        return found

    def act(self, operation: str, transaction_id: str, body: Mapping[str, Any], *, about: Transaction,
            session_id: str | None = None, record: RecordAction | None = None,
            on_unknown: Then | None = None) -> ActionResult:
        """``POST /v1/transactions/{id}/{operation}``, its body checked first (``InvalidRequest``
        before anything is logged or sent; the decimals are those of ``about``'s currency). An
        answer without a status counts as taken (any 2xx is success); one whose status is neither
        ``success`` nor ``pending`` raises :class:`ActionRefused` (``record`` is not called)."""
        request = ActionRequest.parse(operation, body, about.currency or "")
        path = transaction_path(transaction_id, operation)
        amount = _amount(request.body.get("amount"))
        concerns = facts_body(about.order_id, amount if amount is not None else about.amount, about.currency)
        taken: list[ActionResult] = []

        def then(db: Database, seq: int, members: Mapping[str, Any]) -> None:
            status = _text(members.get("status"))
            if status is not None and status.lower() not in ACCEPTED:
                return
            taken.append(ActionResult(operation, transaction_id, _text(members.get("transaction_id")), status, seq, ""))
            if record is not None:
                record(db, seq, taken[0])

        ending, seq, attempt = self._call(lambda: self._prepare(
            "POST", ACTION.replace("{operation}", operation), path, request.body, session_id=session_id,
            concerns_body=concerns, on_success=then, on_unknown=on_unknown))
        if not taken:
            reply = ending.reply
            raise ActionRefused(f"{operation} of {transaction_id} was answered without being taken",
                                status=None if reply is None else reply.status,
                                body=None if reply is None else reply.text[:2000], attempt_id=attempt, entry_seq=seq)
        return ActionResult(operation, transaction_id, taken[0].action_id, taken[0].status, seq, attempt)

    def capture(self, transaction_id: str, amount: Decimal | None = None, *, about: Transaction,
                session_id: str | None = None, record: RecordAction | None = None,
                on_unknown: Then | None = None) -> ActionResult:
        """Capture an authorisation: ``amount`` or, without one, everything authorised."""
        return self.act("capture", transaction_id, {} if amount is None else {"amount": amount}, about=about,
                        session_id=session_id, record=record, on_unknown=on_unknown)

    def void(self, transaction_id: str, *, about: Transaction, session_id: str | None = None,
             record: RecordAction | None = None, on_unknown: Then | None = None) -> ActionResult:
        return self.act("void", transaction_id, {}, about=about, session_id=session_id, record=record,
                        on_unknown=on_unknown)

    def refund(self, transaction_id: str, amount: Decimal, reference: str, *, about: Transaction,
               session_id: str | None = None, record: RecordAction | None = None,
               on_unknown: Then | None = None) -> ActionResult:
        return self.act("refund", transaction_id, {"amount": amount, "reference": reference}, about=about,
                        session_id=session_id, record=record, on_unknown=on_unknown)

    def reversal(self, transaction_id: str, amount: Decimal | None = None, reference: str | None = None,
                 webhook_url: str | None = None, *, about: Transaction, session_id: str | None = None,
                 record: RecordAction | None = None, on_unknown: Then | None = None) -> ActionResult:
        """Void or refund, whichever applies (the API decides)."""
        body = {k: v for k, v in (("amount", amount), ("reference", reference), ("webhook_url", webhook_url))
                if v is not None}
        return self.act("reversal", transaction_id, body, about=about, session_id=session_id, record=record,
                        on_unknown=on_unknown)
