"""Numbered schema migrations, recorded in the database, run once at start.

Why it is built this way:
- Each database has one migration set (``sqlite_utils.Migrations``): ``lib.storage.ops_schema``
  for the console's file (call log, session registry, QA runs), ``lib.sandbox.schema`` for the
  sandbox's. sqlite-utils records each applied migration in ``_sqlite_migrations`` (set, name,
  time); names start with a four-digit number so the order is visible in the record too.
- ``migrate`` runs the pending ones inside one ``BEGIN IMMEDIATE`` transaction: two processes
  starting at once queue on the write lock, and the second finds nothing pending. sqlite-utils
  wraps each migration in ``db.atomic()``, which is a savepoint inside that transaction.
- A database made before migrations existed has the tables but no record. Migration 1 is exactly
  that schema (``IF NOT EXISTS`` throughout), so such a database is adopted: its tables are
  compared with what migration 1 makes (column names and types, on an in-memory copy) and, if
  they agree, migration 1 runs (adding any index or trigger that was missing) and is recorded. A
  table that differs stops the start with ``SchemaMismatch`` instead of being guessed at.
- A database recording a migration this code does not know was written by a newer release (one
  replica upgraded before another): ``SchemaMismatch`` too, rather than reading a schema (or a
  hash recipe) it cannot understand.
"""
from __future__ import annotations

import threading
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from lib.storage.db import _key, connect, immediate

_lock = threading.Lock()
_done: set[tuple[str, str]] = set()


class SchemaMismatch(RuntimeError):
    """A database without a migration record whose tables are not the ones migration 1 makes."""


def _columns(db: Database, table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type.upper()) for c in db[table].columns]


def _check_adoptable(db: Database, migrations: Migrations, where: str) -> None:
    """Raise ``SchemaMismatch`` unless every table migration 1 makes that already exists in ``db``
    has the columns migration 1 gives it (a database with none of them is simply new)."""
    expected = Database(memory=True)
    first = migrations.pending(expected)[0]  # on an empty database every migration is pending
    first.fn(expected)
    for table in expected.table_names():
        if db[table].exists() and _columns(db, table) != _columns(expected, table):
            raise SchemaMismatch(
                f"{where}: table {table} has columns {_columns(db, table)} but migration {first.name} of set "
                f"{migrations.name!r} makes {_columns(expected, table)}; it cannot be adopted automatically")


def migrate(path: str | Path, migrations: Migrations) -> Database:
    """Apply ``migrations``' pending steps to the database at ``path`` (once per process and file;
    serialised across processes by ``BEGIN IMMEDIATE``) and return this thread's connection."""
    db = connect(path)
    key = (_key(path), migrations.name)
    if key in _done:
        return db
    with _lock:
        if key not in _done:
            with immediate(db):
                applied = {m.name for m in migrations.applied(db)}
                if not applied:
                    _check_adoptable(db, migrations, str(path))
                newer = applied - {m.name for m in migrations.pending(Database(memory=True))}
                if newer:
                    raise SchemaMismatch(
                        f"{path} was migrated by newer code than this (set {migrations.name!r}: "
                        f"{', '.join(sorted(newer))}): run the version that wrote it, or a later one")
                migrations.apply(db)
            _done.add(key)
    return db


def applied(path: str | Path, migrations: Migrations) -> list[str]:
    """The names of the migrations of this set recorded in the database, in the order applied."""
    return [m.name for m in migrations.applied(connect(path))]


def forget_done() -> None:
    """Let the next ``migrate`` look at the database again (tests that swap a file in place)."""
    with _lock:
        _done.clear()
