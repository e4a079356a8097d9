"""For the webhooks that never come: look the order's transactions up and record what is found.

A webhook is a hint, not the truth (docs/contract.md, "Payments": never the only source). When
a session has expired with no successful payment known — or when a person asks — the console
lists the transactions of its order id (``GET /v1/transactions?order_id=…``, a logged call) and
records each one in the lookup's result entry's transaction, with the fact that the session was
reconciled. Recording is idempotent (``PaymentStore.record_transaction`` changes nothing when the
facts are the same), so a late webhook after a reconciliation, or a second reconciliation,
changes nothing twice.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from lib.api.transactions import PaymentsClient, Transaction
from lib.payments.store import PaymentStore


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation found for a session."""

    session_id: str
    order_id: str
    found: int  # transactions of the order the API listed
    changed: int  # of which something new was recorded
    entry_seq: int | None  # the lookup's result entry


def reconcile_order(client: PaymentsClient, store: PaymentStore, environment: str, session_id: str,
                    order_id: str, clock: Callable[[], datetime]) -> Reconciled:
    """List ``order_id``'s transactions and record them (ApiError when the lookup fails: nothing recorded)."""
    result: list[Reconciled] = []

    def record(db: Database, seq: int, transactions: list[Transaction]) -> None:
        now = clock()
        ours = [t for t in transactions if t.order_id in (None, order_id)]
        changed = sum(store.record_lookup(db, environment, t, seq=seq, now=now) for t in ours)
        store.record_reconciliation(db, environment, session_id, seq=seq, found=len(ours), now=now)
        result.append(Reconciled(session_id, order_id, len(ours), changed, seq))

    client.transactions_for_order(order_id, session_id=session_id, record=record)
    return result[0] if result else Reconciled(session_id, order_id, 0, 0, None)
