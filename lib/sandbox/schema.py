"""The sandbox's own database (tokens, sessions, versions, payments), as numbered migrations.

``0001_initial`` is the schema the sandbox created before migrations existed (commit d3b227b and
earlier), so those files are adopted as they are (``lib.storage.migrate``). A released migration
never changes; a new one is appended with the next number (docs/storage.md).
"""
from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from lib.storage.migrate import migrate

MIGRATIONS = Migrations("sandbox")


@MIGRATIONS(name="0001_initial")
def _initial(db: Database) -> None:
    db.table("tokens").create({"token_sha256": str, "expires_at": str}, pk="token_sha256", if_not_exists=True)
    db.table("sessions").create(
        {"session_id": str, "created_at": str, "expires_at": str}, pk="session_id", if_not_exists=True)
    db.table("session_versions").create(
        {"session_id": str, "version": int, "at": str, "order_id": str, "params": str},
        pk=("session_id", "version"), foreign_keys=[("session_id", "sessions", "session_id")],
        if_not_exists=True)
    db.table("session_versions").create_index(["order_id"], if_not_exists=True)


@MIGRATIONS(name="0002_payments")
def _payments(db: Database) -> None:
    """Transactions, their money operations (capture, void, refund), and webhook deliveries."""
    db.execute("""CREATE TABLE IF NOT EXISTS transactions (
        transaction_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, order_id TEXT NOT NULL,
        status TEXT NOT NULL, reason TEXT, transaction_type TEXT NOT NULL, currency TEXT NOT NULL,
        amount TEXT NOT NULL, capture INTEGER NOT NULL, moto INTEGER NOT NULL,
        captured TEXT NOT NULL DEFAULT '0', refunded TEXT NOT NULL DEFAULT '0', voided TEXT NOT NULL DEFAULT '0',
        card TEXT NOT NULL, eci TEXT, authorisation_code TEXT, webhook_url TEXT, customer TEXT,
        created TEXT NOT NULL, tds_deadline TEXT)""")
    db.execute("CREATE INDEX IF NOT EXISTS transactions_by_order ON transactions (order_id, created)")
    db.execute("CREATE INDEX IF NOT EXISTS transactions_by_session ON transactions (session_id, status)")
    db.execute("CREATE INDEX IF NOT EXISTS transactions_by_status ON transactions (status, tds_deadline)")
    db.execute("""CREATE TABLE IF NOT EXISTS transaction_actions (
        action_id TEXT PRIMARY KEY,
        transaction_id TEXT NOT NULL REFERENCES transactions (transaction_id),
        kind TEXT NOT NULL, amount TEXT NOT NULL, reference TEXT, created TEXT NOT NULL)""")
    db.execute("CREATE INDEX IF NOT EXISTS actions_by_transaction ON transaction_actions (transaction_id)")
    db.execute("""CREATE TABLE IF NOT EXISTS webhook_deliveries (
        delivery_id TEXT PRIMARY KEY, webhook_id TEXT NOT NULL, transaction_id TEXT, url TEXT NOT NULL,
        body TEXT NOT NULL, hash TEXT NOT NULL, state TEXT NOT NULL, copies INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT, note TEXT,
        created TEXT NOT NULL, next_at TEXT NOT NULL, give_up_at TEXT NOT NULL, delivered_at TEXT)""")
    db.execute("CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (state, next_at)")


def migrate_sandbox(path: str | Path) -> Database:
    """Bring the sandbox's database at ``path`` to the latest schema (once per process)."""
    return migrate(path, MIGRATIONS)
