"""Group commit: writes to the log's file that arrive while another commit is under way join the next one.

Why: under ``synchronous=FULL`` every commit waits for an fsync (milliseconds on a real disk), and
writers in many threads (a QA run's workers) each paid their own. Instead the first writer to
arrive leads: it takes the write lock (``lib.storage.db.immediate``: BEGIN IMMEDIATE, so other
processes still queue on SQLite's lock), runs every write waiting at that moment in one
transaction, each inside a SAVEPOINT of its own, commits once (one fsync) and wakes each writer
with its own result or its own exception. A write that raises is rolled back to its savepoint and
fails alone; an error that ends the whole transaction (a full disk at commit, the lock not
obtained) fails every write of the batch, none of which was committed. Each ``submit`` returns
only once the commit holding its write is done, so an entry is on disk before the call it records
goes out, as when each append committed alone. The writer that arrived first after a batch was
taken leads the next one.

A batch is committed without an fsync only when no write in it asked for one (``durable``).
Each batch runs inside the queue's ``scope`` (the log's: its summaries written once per batch,
``lib.calllog.summaries.deferred``), entered after BEGIN and left before COMMIT.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlite_utils import Database

from lib.storage.db import immediate

T = TypeVar("T")
# This thread's connection to the file, committing with an fsync when asked (``durable``).
Opener = Callable[[bool], AbstractContextManager[Database]]
# Work around each batch, inside its transaction (entered after the first write's BEGIN, left before COMMIT).
Scope = Callable[[Database], AbstractContextManager[None]]


@dataclass(eq=False)
class _Write(Generic[T]):
    run: Callable[[Database], T]
    durable: bool
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    finished: bool = False
    settled: Settled[T] | None = None  # set together with finished

    def outcome(self) -> T:
        assert self.settled is not None, "asked before its batch ended"
        return self.settled.outcome()


class GroupCommit:
    """The queue of writes to one file with one connection setting; shared by the threads of a process."""

    def __init__(self, opener: Opener, scope: Scope = lambda _db: nullcontext()) -> None:
        self._open = opener
        self._scope = scope
        self._lock = threading.Lock()
        self._waiting: list[_Write[object]] = []
        self._leading = False

    def submit(self, run: Callable[[Database], T], *, durable: bool = True, timeout_s: float) -> T:
        """Run ``run(db)`` inside a write transaction shared with the writes waiting beside it, and
        return its value once that transaction is committed (or raise its exception, or the batch's).

        A write still waiting for a batch after ``timeout_s`` (the busy timeout: another batch, or
        another writer of the file, held the lock all along) gives up with "database is locked", as
        a writer queueing on the lock itself would; once in a batch it waits for that batch's end."""
        write: _Write[T] = _Write(run, durable)
        with self._lock:
            self._waiting.append(write)  # type: ignore[arg-type]  # a queue of writes of any result type
            write.leads = not self._leading
            self._leading = True
        if not write.leads and not write.woken.wait(timeout_s):
            with self._lock:
                gave_up = not write.leads and write in self._waiting
                if gave_up:
                    self._waiting.remove(write)  # type: ignore[arg-type]
            if gave_up:
                locked = sqlite3.OperationalError("database is locked")
                locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # explained like SQLite's own (``failures``)
                raise locked
            write.woken.wait()
        if not write.finished:  # woken to lead the batch it is part of
            try:
                self._commit_waiting()
            finally:
                self._hand_on()
        return write.outcome()

    def _hand_on(self) -> None:
        """Wake the first writer that came during the batch to lead the next, or stop leading."""
        with self._lock:
            if self._waiting:
                self._waiting[0].leads = True
                self._waiting[0].woken.set()
            else:
                self._leading = False

    def _commit_waiting(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            with self._open(any(w.durable for w in batch)) as db, immediate(db), self._scope(db):
                for write in batch:
                    write.settled = settle(db, write.run)
        except BaseException as exc:  # noqa: BLE001 - nothing of the batch was committed: each writer hears why
            for write in batch:
                if write.settled is None or write.settled.error is None:
                    write.settled = Settled(error=exc)
        finally:
            for write in batch:
                write.finished = True
                write.woken.set()


@dataclass(frozen=True)
class Settled(Generic[T]):
    """How one write of a batch ended: its value, or the exception that undid it."""

    value: T | None = None
    error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # no error: the write returned it


def settle(db: Database, run: Callable[[Database], T]) -> Settled[T]:
    """Run one write inside its own savepoint: its failure undoes only its own writes. An error
    that ended the transaction itself propagates: the whole batch is lost."""
    conn = db.conn
    conn.execute("SAVEPOINT group_write")
    try:
        value = run(db)
    except BaseException as exc:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO group_write")
        conn.execute("RELEASE group_write")
        return Settled(error=exc)
    conn.execute("RELEASE group_write")
    return Settled(value)


def commit_all(db: Database, writes: Sequence[Callable[[Database], T]],
               scope: Callable[[], AbstractContextManager[None]]) -> list[Settled[T]]:
    """Run ``writes`` in order in one transaction of their own (BEGIN IMMEDIATE, inside ``scope``)
    and commit it: how each ended; one that raises is undone alone. An error of the transaction
    itself (the lock not obtained, the commit failed) raises, and nothing was written.

    It queues on the file's lock as a group commit does, but is not one: the batch is already
    whole, and a group commit would run it as one write in a savepoint, inside which SQLite copies
    every page each write touches again (~0.5 ms of CPU a commit). Undoing one write alone needs
    a savepoint around each (~10 % of a batch's CPU), so the batch first runs without them, and
    only when a write raised is it run again with them."""
    failed_write = False
    try:
        with immediate(db), scope():
            values = []
            for write in writes:
                try:
                    values.append(write(db))
                except Exception:
                    failed_write = True
                    raise
        return [Settled(value) for value in values]
    except Exception:
        if not failed_write:
            raise  # the transaction itself: taking the lock, or the commit
    with immediate(db), scope():
        return [settle(db, write) for write in writes]


_committers: dict[tuple[object, ...], GroupCommit] = {}
_committers_lock = threading.Lock()


def committer(key: tuple[object, ...], opener: Opener, scope: Scope = lambda _db: nullcontext()) -> GroupCommit:
    """The process's queue for ``key`` (the file and its connection settings), made with ``opener``
    and ``scope`` once."""
    with _committers_lock:
        found = _committers.get(key)
        if found is None:
            found = _committers[key] = GroupCommit(opener, scope)
        return found

