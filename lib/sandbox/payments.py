"""The sandbox's transactions and the money operations on them (docs/contract.md, "Payments").

A payment on the checkout page makes a transaction; capture, void, refund and reversal make
actions on it. Amounts are Decimals, kept as exact text. Every rule that reads the state and then
changes it runs inside one ``BEGIN IMMEDIATE`` transaction (``lib.storage.db.immediate``), so it is
atomic against every other request, in this server's thread or in any other thread or process:
one capture, never more captured than authorised, never more refunded than captured, a void only
of an uncaptured authorisation, one successful payment per session. A refusal for the state of
the transaction is :class:`Refused` (answered 409, naming the field).

Callers pass ``now``: nothing here reads the clock.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlite_utils import Database

from lib.common.jsonutil import dumps, loads
from lib.common.timefmt import utc_text
from lib.fields.actions import CAPTURE, REFUND, REVERSAL, VOID
from lib.fields.money import plain
from lib.fields.validation import Problem
from lib.sandbox.cards import SUCCESS, TDS_EXPIRED, TDS_FAILED, TDS_PENDING, Card, outcome
from lib.sandbox.store import SandboxStore, SessionRecord
from lib.storage import db as dbmod

# Ours: the sandbox's one merchant account (the transaction's ``mid``, the webhook's ``Mid`` header).
COMPANY_ID = "5b3c2a1e-0d4f-4e8a-9c6b-7a1d2e3f4a5b"
MID = "1000"
AUTH_CAPTURE, AUTH_ONLY = "auth_capture", "auth_only"  # ours: the legacy API's names, lowercase
APPROVE, FAIL, TIMEOUT = "approve", "fail", "timeout"  # what the 3-D Secure challenge page can answer
ZERO = Decimal(0)


class Refused(Exception):
    """A money operation or a payment the state of the transaction (or session) does not allow."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p["reason"] for p in problems))
        self.problems = problems


def _refused(parameter: str, reason: str) -> Refused:
    return Refused([Problem(parameter=parameter, reason=f"{parameter} {reason}")])


@dataclass(frozen=True)
class Transaction:
    """One transaction as stored, with its actions oldest first."""

    row: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def transaction_id(self) -> str:
        return str(self.row["transaction_id"])

    @property
    def status(self) -> str:
        return str(self.row["status"])

    @property
    def reason(self) -> str | None:
        return None if self.row["reason"] is None else str(self.row["reason"])

    @property
    def session_id(self) -> str:
        return str(self.row["session_id"])

    @property
    def order_id(self) -> str:
        return str(self.row["order_id"])

    @property
    def webhook_url(self) -> str | None:
        return None if self.row["webhook_url"] is None else str(self.row["webhook_url"])

    @property
    def capture(self) -> bool:
        return bool(self.row["capture"])

    def money(self, name: str) -> Decimal:
        """``amount`` (asked for), ``captured``, ``refunded`` or ``voided`` as an exact Decimal."""
        return Decimal(self.row[name])

    @property
    def authorised(self) -> Decimal:
        return self.money("amount") if self.status == SUCCESS else ZERO

    def as_json(self) -> dict[str, Any]:
        """The ``GET /v1/transactions/{id}`` object; ``amounts`` and ``actions`` are ours."""
        row, currency = self.row, str(self.row["currency"])

        def shown(value: Decimal) -> Decimal:
            return Decimal(plain(value, currency))

        return {
            "transaction_id": self.transaction_id, "status": self.status, "reason": self.reason,
            "mid": MID, "payment_method": "card", "transaction_type": row["transaction_type"],
            "transaction": {"order_id": self.order_id, "amount": shown(self.money("amount")), "currency": currency,
                            "moto": bool(row["moto"]), "capture": self.capture},
            "card": loads(row["card"]), "bin": loads(row["card"])["number"][:6],
            "tds": {"eci": row["eci"]}, "authorisation_code": row["authorisation_code"],
            "customer": loads(row["customer"]) if row["customer"] else {}, "created": row["created"],
            "amounts": {"authorised": shown(self.authorised), "captured": shown(self.money("captured")),
                        "refunded": shown(self.money("refunded")), "voided": shown(self.money("voided"))},
            "actions": [{"transaction_id": a["action_id"], "type": a["kind"], "amount": shown(Decimal(a["amount"])),
                         "reference": a["reference"], "created": a["created"]} for a in self.actions],
        }


@dataclass(frozen=True)
class Action:
    """A money operation that was carried out (its id is the answer's ``transaction_id``)."""

    action_id: str
    kind: str
    amount: Decimal
    transaction: Transaction


class Payments:
    """Transactions and actions in the sandbox's SQLite file (the store's schema creates the tables)."""

    def __init__(self, store: SandboxStore, tds_timeout: timedelta = timedelta(minutes=5)) -> None:
        self.store = store
        self.tds_timeout = tds_timeout

    # Paying -------------------------------------------------------------------------------

    def pay(self, session: SessionRecord, card: Card, now: datetime) -> Transaction:
        """A payment attempt on ``session`` (the caller has checked it has not expired).

        Refused (parameter ``session_id``) when the session already has a successful payment or
        one waiting for its 3-D Secure challenge: a session takes one successful payment.
        """
        params = session.params
        txn = params["transaction"]
        capture = bool(txn.get("capture", True))
        status, reason = outcome(card)
        ok = status == SUCCESS
        amount = Decimal(str(txn["amount"]))
        row = {
            "transaction_id": str(uuid.uuid4()), "session_id": session.session_id, "order_id": txn["order_id"],
            "status": status, "reason": reason, "transaction_type": AUTH_CAPTURE if capture else AUTH_ONLY,
            "currency": txn["currency"], "amount": str(amount), "capture": int(capture),
            "moto": int(bool(txn.get("moto", False))), "captured": str(amount if ok and capture else ZERO),
            "refunded": "0", "voided": "0", "card": dumps(card.as_json()), "eci": "07" if ok else None,
            "authorisation_code": _auth_code() if ok else None, "webhook_url": params.get("webhook_url"),
            "customer": dumps(_customer(params)), "created": utc_text(now),
            "tds_deadline": utc_text(now + self.tds_timeout) if status == TDS_PENDING else None,
        }
        with dbmod.immediate(self.store.db) as db:
            self._expire(db, now)
            taken = db.execute("SELECT status FROM transactions WHERE session_id = ? AND status IN (?, ?) LIMIT 1",
                               [session.session_id, SUCCESS, TDS_PENDING]).fetchone()
            if taken is not None:
                raise _refused("session_id", "has already been paid" if taken[0] == SUCCESS
                               else "has a payment waiting for its 3-D Secure check")
            db.table("transactions").insert(row)
        return Transaction(row)

    def settle_challenge(self, transaction_id: str, decision: str, now: datetime) -> tuple[Transaction, bool]:
        """Apply the challenge page's answer; (the transaction, whether this call changed it).

        A challenge answered after its deadline has timed out whatever the answer.
        """
        with dbmod.immediate(self.store.db) as db:
            self._expire(db, now)
            found = self._get(db, transaction_id)
            if found is None:
                raise KeyError(transaction_id)
            if found.status != TDS_PENDING:
                return found, False
            changes: dict[str, Any] = {"tds_deadline": None}
            if decision == APPROVE:
                capture = found.capture
                changes |= {"status": SUCCESS, "reason": None, "eci": "05", "authorisation_code": _auth_code(),
                            "captured": str(found.money("amount") if capture else ZERO)}
            else:
                changes |= {"status": TDS_FAILED if decision == FAIL else TDS_EXPIRED}
            db.table("transactions").update(transaction_id, changes)
            settled = self._get(db, transaction_id)
        assert settled is not None
        return settled, True

    def expire_challenges(self, now: datetime) -> list[Transaction]:
        """Challenges past their deadline become ``tds_expired``; returns those this call changed.

        A plain read first: every page and list calls this, and most find nothing to change, so
        they take no write lock."""
        due = self.store.db.execute("SELECT 1 FROM transactions WHERE status = ? AND tds_deadline <= ? LIMIT 1",
                                    [TDS_PENDING, utc_text(now)]).fetchone()
        if due is None:
            return []
        with dbmod.immediate(self.store.db) as db:
            return self._expire(db, now)

    def _expire(self, db: Database, now: datetime) -> list[Transaction]:
        ids = [r[0] for r in db.execute("SELECT transaction_id FROM transactions WHERE status = ? AND tds_deadline <= ?",
                                        [TDS_PENDING, utc_text(now)]).fetchall()]
        for transaction_id in ids:
            db.table("transactions").update(transaction_id, {"status": TDS_EXPIRED, "tds_deadline": None})
        return [t for t in (self._get(db, i) for i in ids) if t is not None]

    # Reading ------------------------------------------------------------------------------

    def get(self, transaction_id: str) -> Transaction | None:
        return self._get(self.store.db, transaction_id)

    def find(self, *, order_id: str | None = None, status: str | None = None, session_id: str | None = None,
             limit: int = 25, offset: int = 0) -> tuple[int, list[Transaction]]:
        """(how many match, one page of them newest first)."""
        where, args = [], []
        for column, value in (("order_id", order_id), ("status", status), ("session_id", session_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        db = self.store.db
        (count,) = db.execute(f"SELECT count(*) FROM transactions {clause}", args).fetchone()
        ids = [r[0] for r in db.execute(f"SELECT transaction_id FROM transactions {clause} "
                                        "ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                                        [*args, limit, offset]).fetchall()]
        return count, [t for t in (self._get(db, i) for i in ids) if t is not None]

    @staticmethod
    def _get(db: Database, transaction_id: str) -> Transaction | None:
        cursor = db.execute("SELECT * FROM transactions WHERE transaction_id = ?", [transaction_id])
        found = cursor.fetchone()
        if found is None:
            return None
        row = dict(zip([d[0] for d in cursor.description], found, strict=True))
        actions = db.execute("SELECT action_id, kind, amount, reference, created FROM transaction_actions "
                             "WHERE transaction_id = ? ORDER BY created, rowid", [transaction_id]).fetchall()
        keys = ("action_id", "kind", "amount", "reference", "created")
        return Transaction(row, [dict(zip(keys, a, strict=True)) for a in actions])

    # Money operations ---------------------------------------------------------------------

    def act(self, kind: str, transaction_id: str, body: dict[str, Any], now: datetime) -> Action:
        """Carry out a capture, void, refund or reversal whose body passed validation.

        KeyError for an unknown transaction; :class:`Refused` when its state does not allow it.
        """
        amount = Decimal(str(body["amount"])) if body.get("amount") is not None else None
        with dbmod.immediate(self.store.db) as db:
            txn = self._get(db, transaction_id)
            if txn is None:
                raise KeyError(transaction_id)
            if txn.status != SUCCESS:
                raise _refused("transaction_id", f"is {txn.status}: only a successful payment can be changed")
            if kind == REVERSAL:
                kind = VOID if txn.money("captured") == ZERO else REFUND
                amount = _reversal_amount(txn, amount)
            rule = {CAPTURE: _capture, VOID: _void, REFUND: _refund}[kind]
            taken, changes = rule(txn, amount)
            action_id = str(uuid.uuid4())
            db.table("transactions").update(transaction_id, changes)
            db.table("transaction_actions").insert({"action_id": action_id, "transaction_id": transaction_id, "kind": kind,
                                              "amount": str(taken), "reference": body.get("reference"),
                                              "created": utc_text(now)})
            after = self._get(db, transaction_id)
        assert after is not None
        return Action(action_id, kind, taken, after)


def _capture(txn: Transaction, amount: Decimal | None) -> tuple[Decimal, dict[str, str]]:
    _not_voided(txn)
    if txn.capture or any(a["kind"] == CAPTURE for a in txn.actions):
        raise _refused("transaction_id", "has already been captured")
    authorised = txn.authorised
    amount = authorised if amount is None else amount
    if amount > authorised:
        raise _refused("amount", f"must be at most {_shown(txn, authorised)}, the amount authorised")
    return amount, {"captured": str(amount)}


def _void(txn: Transaction, amount: Decimal | None) -> tuple[Decimal, dict[str, str]]:
    _not_voided(txn)
    if txn.money("captured") > ZERO:
        raise _refused("transaction_id", "has already been captured: refund it instead")
    return txn.authorised, {"voided": str(txn.authorised)}


def _refund(txn: Transaction, amount: Decimal | None) -> tuple[Decimal, dict[str, str]]:
    _not_voided(txn)
    captured, refunded = txn.money("captured"), txn.money("refunded")
    if captured == ZERO:
        raise _refused("transaction_id", "has not been captured: void it instead")
    left = captured - refunded
    if left == ZERO:
        raise _refused("transaction_id", "has already been refunded in full")
    assert amount is not None
    if amount > left:
        raise _refused("amount", f"must be at most {_shown(txn, left)}, what was captured and not yet refunded")
    return amount, {"refunded": str(refunded + amount)}


def _reversal_amount(txn: Transaction, amount: Decimal | None) -> Decimal | None:
    """A reversal of an uncaptured authorisation voids it whole; of captured money, refunds what is
    asked (by default all that is left)."""
    _not_voided(txn)
    if txn.money("captured") == ZERO:
        if amount is not None and amount != txn.authorised:
            raise _refused("amount", f"must be {_shown(txn, txn.authorised)}: an authorisation is reversed whole")
        return amount
    return txn.money("captured") - txn.money("refunded") if amount is None else amount


def _not_voided(txn: Transaction) -> None:
    if any(a["kind"] == VOID for a in txn.actions):
        raise _refused("transaction_id", "has already been voided")


def _shown(txn: Transaction, amount: Decimal) -> str:
    return f"{plain(amount, str(txn.row['currency']))} {str(txn.row['currency']).upper()}"


def _auth_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _customer(params: dict[str, Any]) -> dict[str, Any]:
    """What a transaction shows of the session's customer: its id and reference, not personal data."""
    customer = params.get("customer") or {}
    return {k: customer[k] for k in ("customer_id", "reference") if k in customer}
