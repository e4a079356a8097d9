"""The sandbox's own database (tokens, sessions, session_versions), as numbered migrations.

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


def migrate_sandbox(path: str | Path) -> Database:
    """Bring the sandbox's database at ``path`` to the latest schema (once per process)."""
    return migrate(path, MIGRATIONS)
