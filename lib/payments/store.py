"""The payments tables: transactions known per environment, webhook deliveries, money operations.

They live in the call log's database, beside the session registry, and are mutable; the log is
the evidence. Writers take the ``db`` of an open transaction (they run as ``then=`` callbacks of
``CallLog.append`` or inside the client's result entry), so a row and the log entry that caused
it commit together or not at all. :class:`PaymentStore` is the interface the service, the webhook
receiver and reconciliation use; :class:`SqlitePaymentStore` is its SQL.

The tables are the console database's migration ``0003_payments`` (``lib.storage.ops_schema``). A session's transactions are linked through its order id when they are first
recorded: to the newest session of that order in that environment created before the transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from lib.api.transactions import Transaction
from lib.common.timefmt import parse_utc, utc_text
from lib.payments.models import ZERO, TransactionRecord
from lib.storage.db import connect, decimal_text, immediate
from lib.storage.ops_schema import migrate_ops

SENDING, DONE, REFUSED, UNKNOWN, NOT_SENT, SETTLED = "sending", "ok", "refused", "unknown", "not_sent", "settled"
CLOCK_SKEW = timedelta(minutes=5)  # how far the API's clock may be ahead of ours, for linking sessions
OPEN_STATES = (SENDING, UNKNOWN)  # operations whose effect is not known: they hold back what is left


@dataclass(frozen=True)
class Operation:
    """One capture, void or refund the console sent (or is sending)."""

    id: int
    environment: str
    transaction_id: str
    operation: str
    amount: Decimal | None
    reference: str | None
    operator: str
    requested_at: datetime
    state: str
    action_id: str | None
    entry_seq: int | None


Check = Callable[[TransactionRecord], None]  # raises to refuse; runs inside the write lock


class PaymentStore(Protocol):
    """What the payments area keeps, whatever holds it. Writers take the ``db`` of an open
    transaction (a log entry's); readers open their own."""

    def record_transaction(self, db: Database, environment: str, txn: Transaction, *, seq: int,
                           now: datetime) -> bool:
        """Upsert what the API said of a transaction; True when anything known changed."""

    def record_lookup(self, db: Database, environment: str, txn: Transaction, *, seq: int, now: datetime) -> bool: ...

    def apply_operation(self, db: Database, environment: str, transaction_id: str, operation: str,
                        amount: Decimal | None, *, seq: int, now: datetime) -> None: ...

    def transaction(self, environment: str, transaction_id: str) -> TransactionRecord | None: ...

    def for_sessions(self, session_ids: Sequence[str]) -> dict[str, list[TransactionRecord]]: ...

    def for_order(self, environment: str, order_id: str) -> list[TransactionRecord]: ...

    def session_for_order(self, environment: str, order_id: str | None) -> str | None: ...

    def record_delivery(self, db: Database, environment: str, *, webhook_id: str, webhook_type: str | None,
                        transaction_id: str | None, order_id: str | None, claimed_status: str | None,
                        seq: int, now: datetime, confirmation: str) -> bool:
        """Record a delivery once; False when (environment, webhook_id) was already recorded."""

    def confirm_delivery(self, db: Database, environment: str, webhook_id: str, confirmation: str,
                         seq: int | None) -> None: ...

    def delivery(self, environment: str, webhook_id: str) -> dict[str, Any] | None: ...

    def reserve(self, environment: str, transaction_id: str, operation: str, amount: Decimal | None,
                reference: str | None, operator: str, now: datetime, check: Check) -> int:
        """Check (``check`` raises to refuse) and record an operation about to be sent, atomically."""

    def finish(self, db: Database | None, op_id: int, state: str, *, seq: int | None = None,
               action_id: str | None = None) -> None: ...

    def operations(self, environment: str, transaction_id: str) -> list[Operation]: ...

    def operation(self, op_id: int) -> Operation | None: ...

    def record_reconciliation(self, db: Database, environment: str, session_id: str, *, seq: int, found: int,
                              now: datetime) -> None: ...

    def due_for_reconciliation(self, environment: str, now: datetime, since: datetime) -> list[tuple[str, str]]: ...

    def query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]: ...


def _dec(text: Any) -> Decimal | None:
    return None if text is None else Decimal(text)


_TXN_COLUMNS = ("environment, transaction_id, order_id, session_id, status, reason, amount, currency, capture, "
                "captured, refunded, voided, created, known_at, updated_at, version, paid_seq")
# The amounts of refunds still open, and how many operations got no answer, per transaction.
_OPEN = (f"(SELECT COALESCE(GROUP_CONCAT(CASE WHEN o.operation = 'refund' THEN o.amount END, ','), '') || '|' || "
         f"COUNT(CASE WHEN o.state = '{UNKNOWN}' THEN 1 END) || '|' || COUNT(*) FROM payment_operations o "
         f"WHERE o.environment = t.environment AND o.transaction_id = t.transaction_id "
         f"AND o.state IN ('{SENDING}', '{UNKNOWN}'))")


def record_of(row: Mapping[str, Any]) -> TransactionRecord:
    """A row of ``payment_transactions`` (with the ``open`` column of ``_OPEN``) as a record."""
    amounts, unknown, busy = (str(row.get("open") or "|0|0").split("|") + ["0", "0"])[:3]
    reserved = sum((Decimal(a) for a in amounts.split(",") if a), ZERO)  # exact: SQL would sum floats
    return TransactionRecord(
        row["environment"], row["transaction_id"], row["order_id"], row["session_id"], row["status"], row["reason"],
        _dec(row["amount"]), row["currency"], None if row["capture"] is None else bool(row["capture"]),
        Decimal(row["captured"]), Decimal(row["refunded"]), bool(row["voided"]),
        parse_utc(row["created"]) if row["created"] else None, parse_utc(row["known_at"]),
        parse_utc(row["updated_at"]), row["version"], row["paid_seq"], reserved, int(unknown or 0) > 0,
        int(busy or 0))


def _captured(txn: Transaction, before: Mapping[str, Any] | None) -> Decimal:
    """What is captured: the API's figure when it gives one, else what the console knew, else the
    amount of a successful transaction made with capture on (the default), else nothing."""
    if txn.captured_amount is not None:
        return txn.captured_amount
    if before is not None and Decimal(before["captured"]) > ZERO:
        return Decimal(before["captured"])
    if txn.status == "success" and txn.capture is not False:
        return txn.amount or ZERO
    return ZERO


class SqlitePaymentStore:
    """The payments tables in the console's SQLite file (``lib.storage.db`` connections)."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path).resolve()
        migrate_ops(self.db_path)

    def _db(self) -> Database:
        return connect(self.db_path)

    def query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db().query(sql, args)]

    # --- transactions ------------------------------------------------------------------------
    def record_transaction(self, db: Database, environment: str, txn: Transaction, *, seq: int,
                           now: datetime) -> bool:
        conn = db.conn
        cursor = conn.execute(f"SELECT {_TXN_COLUMNS} FROM payment_transactions WHERE environment = ? "
                              "AND transaction_id = ?", (environment, txn.transaction_id))
        names = [d[0] for d in cursor.description]
        found = cursor.fetchone()
        before = dict(zip(names, found, strict=True)) if found else None
        old: Mapping[str, Any] = before or {}
        facts = {
            "order_id": txn.order_id or old.get("order_id"), "status": txn.status or old.get("status"),
            "reason": txn.reason if txn.status else old.get("reason"),
            "amount": decimal_text(txn.amount) if txn.amount is not None else old.get("amount"),
            "currency": txn.currency or old.get("currency"),
            "capture": int(txn.capture) if txn.capture is not None else old.get("capture"),
            "captured": decimal_text(_captured(txn, before)),
            "refunded": decimal_text(txn.refunded_amount) if txn.refunded_amount is not None
            else old.get("refunded", "0"),
            "created": utc_text(txn.created) if txn.created else old.get("created"),
        }
        if before is not None and all(str(before[k]) == str(v) for k, v in facts.items()):
            return False  # the same facts again (a late webhook, a second reconciliation): nothing changes
        paid = facts["status"] == "success"  # paid or authorised: the customer did their part
        if before is None:
            # The newest session of the order created before the transaction (give or take the two
            # clocks' skew), else the newest session of the order.
            before_txn = utc_text(txn.created + CLOCK_SKEW) if txn.created else None
            session = conn.execute(
                "SELECT session_id FROM sessions WHERE environment = ? AND order_id = ? "
                "ORDER BY (? IS NULL OR created_at <= ?) DESC, created_at DESC LIMIT 1",
                (environment, facts["order_id"], before_txn, before_txn)).fetchone()
            conn.execute(
                f"INSERT INTO payment_transactions ({_TXN_COLUMNS}, last_seq) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 1, ?, ?)",
                (environment, txn.transaction_id, facts["order_id"], session[0] if session else None,
                 facts["status"], facts["reason"], facts["amount"], facts["currency"], facts["capture"],
                 facts["captured"], facts["refunded"], facts["created"], utc_text(now), utc_text(now),
                 seq if paid else None, seq))
            return True
        conn.execute(
            "UPDATE payment_transactions SET order_id = ?, status = ?, reason = ?, amount = ?, currency = ?, "
            "capture = ?, captured = ?, refunded = ?, created = ?, updated_at = ?, version = version + 1, "
            "paid_seq = COALESCE(paid_seq, ?), last_seq = ? WHERE environment = ? AND transaction_id = ?",
            (*facts.values(), utc_text(now), seq if paid else None, seq, environment, txn.transaction_id))
        return True

    def record_lookup(self, db: Database, environment: str, txn: Transaction, *, seq: int, now: datetime) -> bool:
        """:meth:`record_transaction` for what a lookup found. When the answer carries both the
        captured and the refunded figures, it also settles the operations that got no answer:
        their effect is in those figures. Without them, they stay open for a person to settle."""
        changed = self.record_transaction(db, environment, txn, seq=seq, now=now)
        if txn.captured_amount is not None and txn.refunded_amount is not None:
            self.settle_open(db, environment, txn.transaction_id)
        return changed

    def apply_operation(self, db: Database, environment: str, transaction_id: str, operation: str,
                        amount: Decimal | None, *, seq: int, now: datetime) -> None:
        """What an accepted capture, void or refund did, on the console's record (the API's own
        figures replace it at the next lookup when it gives them)."""
        row = db.conn.execute("SELECT amount, captured, refunded, voided FROM payment_transactions "
                              "WHERE environment = ? AND transaction_id = ?", (environment, transaction_id)).fetchone()
        if row is None:
            return
        captured, refunded, voided = Decimal(row[1]), Decimal(row[2]), bool(row[3])
        if operation == "capture":
            captured = amount if amount is not None else (_dec(row[0]) or ZERO)
        elif operation == "void":
            voided = True
        elif operation == "refund":
            refunded += amount or ZERO
        db.conn.execute("UPDATE payment_transactions SET captured = ?, refunded = ?, voided = ?, updated_at = ?, "
                        "version = version + 1, last_seq = ? WHERE environment = ? AND transaction_id = ?",
                        (decimal_text(captured), decimal_text(refunded), int(voided), utc_text(now), seq,
                         environment, transaction_id))

    def _records(self, where: str, args: Iterable[Any]) -> list[TransactionRecord]:
        sql = f"SELECT t.*, {_OPEN} AS open FROM payment_transactions t WHERE {where}"
        return [record_of(row) for row in self._db().query(sql, list(args))]

    def transaction(self, environment: str, transaction_id: str) -> TransactionRecord | None:
        return next(iter(self._records("t.environment = ? AND t.transaction_id = ?", (environment, transaction_id))), None)

    def for_sessions(self, session_ids: Sequence[str]) -> dict[str, list[TransactionRecord]]:
        """The transactions of many sessions in one query (the Active sessions grid's every tick)."""
        by_session: dict[str, list[TransactionRecord]] = {s: [] for s in session_ids}
        if not session_ids:
            return by_session
        for record in self._records(f"t.session_id IN ({', '.join('?' * len(session_ids))})", session_ids):
            by_session[str(record.session_id)].append(record)
        return by_session

    def session_for_order(self, environment: str, order_id: str | None) -> str | None:
        """The newest session of an order in an environment (what a webhook's entry is filed under)."""
        if not order_id:
            return None
        rows = self.query("SELECT session_id FROM sessions WHERE environment = ? AND order_id = ? "
                          "ORDER BY created_at DESC LIMIT 1", (environment, order_id))
        return str(rows[0]["session_id"]) if rows else None

    def for_order(self, environment: str, order_id: str) -> list[TransactionRecord]:
        return self._records("t.environment = ? AND t.order_id = ?", (environment, order_id))

    # --- webhook deliveries ---------------------------------------------------------------------
    def record_delivery(self, db: Database, environment: str, *, webhook_id: str, webhook_type: str | None,
                        transaction_id: str | None, order_id: str | None, claimed_status: str | None,
                        seq: int, now: datetime, confirmation: str) -> bool:
        cursor = db.conn.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (environment, webhook_id, webhook_type, transaction_id, "
            "order_id, claimed_status, received_at, entry_seq, confirmation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (environment, webhook_id, webhook_type, transaction_id, order_id, claimed_status, utc_text(now), seq,
             confirmation))
        return cursor.rowcount == 1

    def confirm_delivery(self, db: Database, environment: str, webhook_id: str, confirmation: str,
                         seq: int | None) -> None:
        db.conn.execute("UPDATE webhook_deliveries SET confirmation = ?, confirmed_seq = ? WHERE environment = ? "
                        "AND webhook_id = ?", (confirmation, seq, environment, webhook_id))

    def delivery(self, environment: str, webhook_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM webhook_deliveries WHERE environment = ? AND webhook_id = ?",
                          (environment, webhook_id))
        return rows[0] if rows else None

    # --- money operations ----------------------------------------------------------------------
    def reserve(self, environment: str, transaction_id: str, operation: str, amount: Decimal | None,
                reference: str | None, operator: str, now: datetime, check: Check) -> int:
        """Check and record an operation about to be sent, under the write lock: two refunds racing
        see each other's reservation, so together they never ask for more than is left."""
        db = self._db()
        with immediate(db):
            record = self.transaction(environment, transaction_id)
            if record is None:
                raise LookupError(f"transaction {transaction_id} is not known in {environment}")
            check(record)
            cursor = db.conn.execute(
                "INSERT INTO payment_operations (environment, transaction_id, operation, amount, reference, operator, "
                "requested_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (environment, transaction_id, operation, decimal_text(amount), reference, operator, utc_text(now),
                 SENDING))
            return int(cursor.lastrowid or 0)

    def finish(self, db: Database | None, op_id: int, state: str, *, seq: int | None = None,
               action_id: str | None = None) -> None:
        """Settle an operation (inside ``db``'s transaction, or a write of its own)."""
        sql = ("UPDATE payment_operations SET state = ?, entry_seq = COALESCE(?, entry_seq), "
               "action_id = COALESCE(?, action_id), settled_at = datetime('now') WHERE id = ?")
        if db is not None:
            db.conn.execute(sql, (state, seq, action_id, op_id))
            return
        own = self._db()
        with immediate(own):
            own.conn.execute(sql, (state, seq, action_id, op_id))

    def settle_open(self, db: Database, environment: str, transaction_id: str) -> None:
        """A lookup of the transaction settles its operations with no answer: its figures are the truth."""
        db.conn.execute(f"UPDATE payment_operations SET state = '{SETTLED}', settled_at = datetime('now') "
                        f"WHERE environment = ? AND transaction_id = ? AND state = '{UNKNOWN}'",
                        (environment, transaction_id))

    def operation(self, op_id: int) -> Operation | None:
        return next(iter(self._operations("id = ?", (op_id,))), None)

    def operations(self, environment: str, transaction_id: str) -> list[Operation]:
        return self._operations("environment = ? AND transaction_id = ?", (environment, transaction_id))

    def _operations(self, where: str, args: Sequence[Any]) -> list[Operation]:
        rows = self.query(f"SELECT * FROM payment_operations WHERE {where} ORDER BY id", args)
        return [Operation(r["id"], r["environment"], r["transaction_id"], r["operation"], _dec(r["amount"]),
                          r["reference"], r["operator"], parse_utc(r["requested_at"]), r["state"], r["action_id"],
                          r["entry_seq"]) for r in rows]

    # --- reconciliation -----------------------------------------------------------------------------
    def record_reconciliation(self, db: Database, environment: str, session_id: str, *, seq: int, found: int,
                              now: datetime) -> None:
        db.conn.execute("INSERT OR REPLACE INTO payment_reconciliations (environment, session_id, at, entry_seq, "
                        "found) VALUES (?, ?, ?, ?, ?)", (environment, session_id, utc_text(now), seq, found))

    def due_for_reconciliation(self, environment: str, now: datetime, since: datetime) -> list[tuple[str, str]]:
        """(session id, order id) of the sessions that expired between ``since`` and ``now`` with no
        successful transaction known and no reconciliation since they expired: oldest first."""
        rows = self._db().execute(
            "SELECT s.session_id, s.order_id FROM sessions s WHERE s.environment = ? AND s.expires_at <= ? "
            "AND s.expires_at >= ? AND NOT EXISTS (SELECT 1 FROM payment_transactions t WHERE "
            "t.session_id = s.session_id AND t.status = 'success') AND NOT EXISTS (SELECT 1 FROM "
            "payment_reconciliations r WHERE r.environment = s.environment AND r.session_id = s.session_id "
            "AND r.at >= s.expires_at) ORDER BY s.expires_at", (environment, utc_text(now), utc_text(since)))
        return [(row[0], row[1]) for row in rows.fetchall()]

    # --- views -------------------------------------------------------------------------------------
    def recent_sessions(self, environment: str, since: datetime, *, creator: str | None = None,
                        order_id: str | None = None) -> list[dict[str, Any]]:
        """Sessions of ``environment`` created since ``since`` (newest first), optionally one
        creator's or one order's: what the recent-payments view derives statuses for."""
        sql = ("SELECT session_id, environment, order_id, created_by, created_at, expires_at, amount, currency, tags "
               "FROM sessions WHERE environment = ? AND created_at >= ?")
        args: list[Any] = [environment, utc_text(since)]
        for column, value in (("created_by", creator), ("order_id", order_id)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return self.query(sql + " ORDER BY created_at DESC", args)

    def paid_since(self, creator: str, after_seq: int, limit: int = 50) -> list[tuple[TransactionRecord, str]]:
        """Transactions first known successful after log entry ``after_seq`` on ``creator``'s
        sessions, oldest first, each with its session's order id."""
        sql = (f"SELECT t.*, {_OPEN} AS open, s.order_id AS session_order FROM payment_transactions t "
               "JOIN sessions s ON s.session_id = t.session_id WHERE s.created_by = ? AND t.paid_seq > ? "
               "ORDER BY t.paid_seq LIMIT ?")
        return [(record_of(row), row["session_order"]) for row in self.query(sql, (creator, after_seq, limit))]

    def last_paid_seq(self) -> int:
        rows = self.query("SELECT COALESCE(MAX(paid_seq), 0) AS seq FROM payment_transactions", ())
        return int(rows[0]["seq"])
