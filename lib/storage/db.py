"""SQLite connections that are safe from many threads and processes.

Why this shape: one connection per thread, WAL, a busy timeout, autocommit mode
(``isolation_level=None``) so no implicit transaction is left open, and every read-then-write
inside an explicit ``BEGIN IMMEDIATE`` so writers queue instead of failing with "database is
locked".

Durability: connections start with ``synchronous=NORMAL``, which in WAL mode never corrupts the
database but may lose the last commits to a power cut or an OS crash. That is acceptable for the
sandbox's emulated API, not for the call log: its ``api_request`` entry is written *before* the
request leaves, and a rolled-back entry would hide a call the API acted on. So the call log asks
for ``synchronous=FULL`` (``connect(..., synchronous="FULL")``): each commit is fsynced before
the request is sent. Every connection to the log's file in that thread then stays FULL, the
registry's writes included (they commit inside the log's transactions anyway). One exception:
the request entry of a read (a lookup, a login), which the API cannot act on, commits with NORMAL
(``CallLog.append(durable=False)``); the next FULL commit syncs the write-ahead log and it with it.
The measured cost is printed by bench/log_overhead.py (NORMAL and FULL in the same run).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from sqlite_utils import Database

from lib import settings

_local = threading.local()
_resolved: dict[str, str] = {}
# Each file's in-process writer lock, and each connection's (lock, busy timeout) for ``immediate``.
_writers_lock = threading.Lock()
_file_locks: dict[str, threading.Lock] = {}
_writers: dict[int, tuple[threading.Lock, float]] = {}


def _key(path: str | Path) -> str:
    """The resolved path, memoised for absolute paths: ``resolve()`` costs syscalls on every call,
    and ``connect`` sits on the log's hot path (relative paths depend on the cwd: never memoised)."""
    raw = str(path)
    key = _resolved.get(raw)
    if key is None:
        key = str(Path(raw).resolve())
        if Path(raw).is_absolute():
            _resolved[raw] = key
    return key


SYNCHRONOUS = ("NORMAL", "FULL")


def _enter_wal(raw: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a connection's file to WAL, waiting like any writer when others hold it.

    The switch needs the file to itself, and SQLite answers "database is locked" at once rather
    than calling the busy handler when another connection is opening or switching the same new
    file (seen with four processes creating one database): so wait and try again, within the busy
    timeout, as the busy handler would.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            raw.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def connect(path: str | Path, *, synchronous: str | None = None, busy_timeout_s: float | None = None) -> Database:
    """This thread's connection to ``path`` (created on first use, with WAL and a busy timeout).

    ``synchronous`` ("NORMAL" or "FULL") and ``busy_timeout_s`` change that setting of the
    connection when it differs from what the connection has; None leaves it as it is (new
    connections start with NORMAL and ``settings.busy_timeout()``). A failed open leaves nothing cached,
    so the next call tries again.
    """
    key = _key(path)
    conns: dict[str, Database] | None = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
        _local.settings = {}
    db = conns.get(key)
    if db is None:
        Path(key).parent.mkdir(parents=True, exist_ok=True)
        timeout = settings.busy_timeout()
        raw = sqlite3.connect(key, check_same_thread=False, timeout=timeout, isolation_level=None)
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            _enter_wal(raw, timeout)
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            raw.close()
            raise
        db = Database(raw)
        conns[key] = db
        _local.settings[key] = {"synchronous": "NORMAL", "busy_timeout_s": timeout}
        with _writers_lock:
            _writers[id(raw)] = (_file_locks.setdefault(key, threading.Lock()), timeout)
    pragmas = _local.settings[key]
    if synchronous is not None and pragmas["synchronous"] != synchronous:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
        db.conn.execute(f"PRAGMA synchronous = {synchronous}")
        pragmas["synchronous"] = synchronous
    if busy_timeout_s is not None and pragmas["busy_timeout_s"] != busy_timeout_s:
        db.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        pragmas["busy_timeout_s"] = busy_timeout_s
        with _writers_lock:
            _writers[id(db.conn)] = (_writers[id(db.conn)][0], busy_timeout_s)
    return db


@contextmanager
def snapshot(db: Database) -> Iterator[sqlite3.Connection]:
    """One read transaction: every query inside sees the file as it was at the first one (WAL),
    whatever commits meanwhile."""
    db.conn.execute("BEGIN")
    try:
        yield db.conn
    finally:
        db.conn.execute("COMMIT")


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """One write transaction taken with BEGIN IMMEDIATE: commit on success, roll back on error.

    Threads of one process first queue on a lock of their own per file: SQLite's busy handler
    polls with sleeps of up to 100 ms, so writers contending inside one process would leave the
    file idle between them (a webhook burst answered in ~50 ms each with the server half idle).
    The wait is bounded by the same busy timeout, and ends in the same "database is locked".
    """
    conn = db.conn
    lock, timeout_s = _writers.get(id(conn), (None, 0.0))
    if lock is not None and not lock.acquire(timeout=timeout_s):
        raise sqlite3.OperationalError("database is locked")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
            conn.execute("COMMIT")
        except BaseException:
            # Some errors (disk full, a RAISE(ROLLBACK) trigger) already ended the transaction: a second
            # ROLLBACK would raise and hide the real error. A failed COMMIT must not leave it open either.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if lock is not None:
            lock.release()


def close_thread_connections() -> None:
    """Close this thread's connections (tests and worker threads that end)."""
    for db in (getattr(_local, "conns", None) or {}).values():
        with _writers_lock:
            _writers.pop(id(db.conn), None)
        db.conn.close()
    _local.conns = {}
    _local.settings = {}




def decimal_text(value: Decimal | str | int | None) -> str | None:
    """An amount as exact decimal text. Floats are refused: they are already inexact."""
    if value is None:
        return None
    if isinstance(value, (float, bool)):
        raise TypeError(f"amounts must be Decimal, str or int, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not a finite number")
    return str(amount)
