"""Group commit (lib/calllog/group_commit.py): appends that arrive together share one transaction,
and still each get their own seq, their own failure and a durable entry before they return.

A batch is made deterministic by holding a leader inside its ``then`` (the write lock held) until
the other appends are queued behind it; they then form the next batch together.
"""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from lib.calllog import failures as logfailure
from lib.calllog import group_commit, summaries
from lib.calllog.failures import CallLogUnavailable
from lib.calllog.log import CallLog
from lib.storage.db import close_thread_connections, connect
from tests.test_log_failures import fill_disk, small_disk

REPO = Path(__file__).resolve().parent.parent
WAITERS = 6


@pytest.fixture(autouse=True)
def closed_connections() -> Iterator[None]:
    close_thread_connections()
    yield
    close_thread_connections()


def queue_of(log: CallLog) -> group_commit.GroupCommit:
    return group_commit._committers[(str(log.db_path), log._synchronous, log._busy_timeout_s)]


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for something that must happen (never to show that something did not)."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


class Batch:
    """A leader held inside its ``then`` while ``appends`` queue behind it, then released together."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.held, self.release = threading.Event(), threading.Event()
        self.results: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []

    def hold(self, _db: object, _seq: int) -> None:
        self.held.set()
        assert self.release.wait(20)

    def run(self, appends: list[Callable[[], int]], *, before_release: Callable[[], None] = lambda: None) -> None:
        leader = threading.Thread(target=self._call, args=("leader", lambda: self.log.append(
            "api_request", operator="lead", environment="sandbox", attempt_id="lead", then=self.hold)))
        leader.start()
        assert self.held.wait(20)
        for n, append in enumerate(appends):
            self.threads.append(threading.Thread(target=self._call, args=(n, append)))
            self.threads[-1].start()
        until(lambda: len(queue_of(self.log)._waiting) == len(appends), "the appends to queue behind the leader")
        before_release()
        self.release.set()
        for thread in [leader, *self.threads]:
            thread.join(30)

    def _call(self, key: Any, append: Callable[[], int]) -> None:
        try:
            self.results[key] = append()
        except BaseException as exc:  # noqa: BLE001 - each append's own outcome is what the tests look at
            self.results[key] = exc
        finally:
            close_thread_connections()


def appending(log: CallLog, n: int, seen: dict[int, int] | None = None, **extra: Any) -> Callable[[], int]:
    def then(_db: object, seq: int) -> None:
        if seen is not None:
            seen[n] = threading.get_ident()
    return lambda: log.append("api_request", operator=f"w{n}", environment="sandbox", attempt_id=f"a{n}",
                              then=then, **extra)


def summaries_agree(log: CallLog) -> None:
    assert all(n == 0 for n in summaries.check(connect(log.db_path).conn).values())


def test_appends_queued_together_commit_in_one_transaction_each_with_its_own_seq(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    batch, ran_in = Batch(log), {}
    batch.run([appending(log, n, ran_in, durable=n % 2 == 0) for n in range(WAITERS)])
    assert len(set(ran_in.values())) == 1  # one leader wrote them all, inside one BEGIN IMMEDIATE
    seqs = [batch.results[n] for n in range(WAITERS)]
    assert batch.results["leader"] == 1 and sorted(seqs) == list(range(2, WAITERS + 2))
    for n, seq in enumerate(seqs):
        assert log.entry(seq)["attempt_id"] == f"a{n}"
    assert log.verify().ok
    summaries_agree(log)


def test_a_failing_then_in_a_batch_undoes_only_its_own_entry(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    connect(log.db_path)["side"].create({"seq": int, "n": int})

    def noting(n: int, fail: bool) -> Callable[[], int]:
        def then(db: Any, seq: int) -> None:
            db["side"].insert({"seq": seq, "n": n})
            if fail:
                raise RuntimeError(f"then of {n} failed")
        return lambda: log.append("api_request", operator="ann", environment="sandbox", attempt_id=f"a{n}", then=then)

    batch = Batch(log)
    batch.run([noting(n, fail=n == 2) for n in range(WAITERS)])
    failed = batch.results.pop(2)
    assert isinstance(failed, RuntimeError) and str(failed) == "then of 2 failed"
    kept = {n: seq for n, seq in batch.results.items() if n != "leader"}
    assert sorted(kept.values()) == list(range(2, WAITERS + 1))  # no gap where the failed entry was
    assert {log.entry(seq)["attempt_id"]: seq for seq in kept.values()} == {f"a{n}": seq for n, seq in kept.items()}
    assert dict(connect(log.db_path).execute("SELECT n, seq FROM side").fetchall()) == kept
    assert log.verify().ok
    summaries_agree(log)


def test_an_error_that_ends_the_transaction_fails_every_append_of_the_batch(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    connect(log.db_path).executescript("CREATE TABLE tripwire (x); CREATE TRIGGER trip BEFORE INSERT ON tripwire "
                                       "BEGIN SELECT RAISE(ROLLBACK, 'the transaction was rolled back'); END;")

    def trip(db: Any, _seq: int) -> None:
        db.conn.execute("INSERT INTO tripwire VALUES (1)")

    appends = [appending(log, n) for n in range(WAITERS)]
    appends[3] = lambda: log.append("api_request", operator="ann", environment="sandbox", attempt_id="trip", then=trip)
    batch = Batch(log)
    batch.run(appends)
    assert batch.results.pop("leader") == 1
    assert all(isinstance(r, sqlite3.IntegrityError) and "rolled back" in str(r) for r in batch.results.values())
    assert log.count() == 1 and log.verify().ok
    summaries_agree(log)
    assert log.append("api_request", operator="ann", environment="sandbox") == 2  # the next batch works


def test_a_full_database_fails_every_waiter_with_call_log_unavailable(tmp_path: Path) -> None:
    """SQLite's ``max_page_count`` on every connection: the batch's entries find no page to grow into."""
    log = CallLog(tmp_path / "ops.db")
    log.append("session_start", operator="ann", environment="sandbox")
    pages = connect(log.db_path).execute("PRAGMA page_count").fetchone()[0]

    def full(n: int) -> Callable[[], int]:
        def append() -> int:
            connect(log.db_path).execute(f"PRAGMA max_page_count = {pages}")
            return log.append("api_request", operator="ann", environment="sandbox", detail={"pad": "x" * 20_000})
        return append

    batch = Batch(log)
    batch.run([full(n) for n in range(WAITERS)])
    for n in range(WAITERS):
        assert isinstance(batch.results[n], CallLogUnavailable), batch.results[n]
        assert batch.results[n].cause == logfailure.DISK_FULL
    assert log.count() == 2 and log.verify().ok


def test_a_disk_that_fills_under_a_batch_fails_every_waiter_with_call_log_unavailable(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        log = CallLog(disk / "ops.db")
        log.append("session_start", operator="ann", environment="sandbox")
        batch = Batch(log)
        batch.run([appending(log, n, detail={"pad": "x" * 200_000}) for n in range(WAITERS)],
                  before_release=lambda: fill_disk(disk))
        for n in range(WAITERS):
            assert isinstance(batch.results[n], CallLogUnavailable), batch.results[n]
            assert batch.results[n].cause in (logfailure.DISK_FULL, logfailure.DISK_ERROR)
        (disk / "filler").unlink()
        assert log.verify().ok
        assert log.count() == 1 + isinstance(batch.results["leader"], int)


def test_a_held_lock_fails_every_waiter_with_call_log_unavailable(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", busy_timeout_s=0.05)
    holder = sqlite3.connect(log.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's stuck write transaction
    results: list[object] = []

    def append(n: int) -> None:
        try:
            results.append(log.append("api_request", operator="ann", environment="sandbox", attempt_id=f"a{n}"))
        except CallLogUnavailable as exc:
            results.append(exc.cause)
        finally:
            close_thread_connections()

    try:
        threads = [threading.Thread(target=append, args=(n,)) for n in range(WAITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert results == [logfailure.LOCKED] * WAITERS
    assert log.count() == 0


def test_an_append_no_batch_takes_within_the_busy_timeout_gives_up_as_locked(tmp_path: Path) -> None:
    """As a writer queueing on the lock would: a batch held longer than the busy timeout (the write
    lock held all along) fails the appends still waiting for the next one, and they leave the queue."""
    log = CallLog(tmp_path / "ops.db", busy_timeout_s=0.05)
    held, release = threading.Event(), threading.Event()

    def hold(_db: object, _seq: int) -> None:
        held.set()
        assert release.wait(20)

    leader = threading.Thread(target=lambda: log.append("api_request", operator="lead", environment="sandbox",
                                                        attempt_id="lead", then=hold))
    leader.start()
    try:
        assert held.wait(20)
        with pytest.raises(CallLogUnavailable) as caught:
            log.append("api_request", operator="ann", environment="sandbox", attempt_id="late")
        assert caught.value.cause == logfailure.LOCKED
        assert queue_of(log)._waiting == []
    finally:
        release.set()
        leader.join(30)
    assert log.count() == 1 and log.entry(1)["attempt_id"] == "lead"
    assert log.append("api_request", operator="ann", environment="sandbox") == 2


def side_row(n: int, fail: bool = False) -> Callable[[Any], int]:
    """A write for a log transaction: a row of table ``side`` (and then an error when ``fail``)."""
    def write(db: Any) -> int:
        db.conn.execute("INSERT INTO side VALUES (?)", (n,))
        if fail:
            raise RuntimeError(f"side row {n} failed")
        return n
    return write


def side_rows(log: CallLog) -> list[int]:
    """The committed rows of ``side``, read on a connection of its own."""
    with closing(sqlite3.connect(log.db_path)) as other:
        return [n for (n,) in other.execute("SELECT n FROM side ORDER BY n")]


def test_commit_each_runs_every_write_alone_in_one_commit(tmp_path: Path) -> None:
    """A QA run's batch: entries and other rows in one transaction, a failing write undone alone
    (the entries after it take the seqs they would have had)."""
    log = CallLog(tmp_path / "ops.db")
    connect(log.db_path).execute("CREATE TABLE side (n INTEGER)")
    entry = log.entry_write("api_request", operator="ann", environment="sandbox", attempt_id="a")
    after = log.entry_write("api_request", operator="ann", environment="sandbox", attempt_id="b")
    settled = log.commit_each([side_row(1), entry, side_row(2, fail=True), side_row(3), after], durable=True)
    assert [s.value for s in settled] == [1, 1, None, 3, 2]
    assert isinstance(settled[2].error, RuntimeError) and side_rows(log) == [1, 3]
    with pytest.raises(RuntimeError, match="side row 2 failed"):
        settled[2].outcome()
    assert log.count() == 2 and log.entry(2)["attempt_id"] == "b" and log.verify().ok
    summaries_agree(log)


def test_commit_each_without_a_failure_commits_every_write(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    connect(log.db_path).execute("CREATE TABLE side (n INTEGER)")
    writes = [log.entry_write("api_request", operator="ann", environment="sandbox", attempt_id=str(n)) for n in range(3)]
    settled = log.commit_each([*writes, side_row(9)], durable=True)
    assert [s.outcome() for s in settled] == [1, 2, 3, 9] and side_rows(log) == [9] and log.verify().ok
    summaries_agree(log)


def test_commit_each_on_a_full_disk_writes_nothing_and_says_so(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        log = CallLog(disk / "ops.db")
        connect(log.db_path).execute("CREATE TABLE side (n INTEGER)")
        fill_disk(disk)
        rows = [side_row(n) for n in range(50)]
        entry = log.entry_write("api_request", operator="ann", environment="sandbox", detail={"pad": "x" * 200_000})
        with pytest.raises(CallLogUnavailable) as caught:
            log.commit_each([*rows, entry], durable=True)
        assert caught.value.cause in (logfailure.DISK_FULL, logfailure.DISK_ERROR)
        (disk / "filler").unlink()
        assert log.count() == 0 and side_rows(log) == [] and log.verify().ok


# A process appending from several threads, printing each seq once its append returned. One thread
# then appends an entry whose ``then`` announces itself and never returns: that batch is under way
# (entries written, not committed) when the parent kills the process.
KILLED_CHILD = """
import sys, threading
from lib.calllog.log import CallLog
log, out, lock = CallLog(sys.argv[1]), sys.stdout, threading.Lock()
acked = threading.Semaphore(0)

def work(name):
    n = 0
    while True:
        seq = log.append("api_request", operator=name, environment="sandbox", attempt_id=f"{name}-{n}")
        with lock:
            out.write(f"acked {name}-{n} {seq}\\n")
            out.flush()
        acked.release()
        n += 1

def hold(db, seq):
    with lock:
        out.write(f"holding {seq}\\n")
        out.flush()
    threading.Event().wait()

for i in range(6):
    threading.Thread(target=work, args=(f"t{i}",), daemon=True).start()
for _ in range(200):
    acked.acquire()
log.append("api_request", operator="hold", environment="sandbox", attempt_id="held", then=hold)
"""


def test_a_process_killed_mid_batch_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(log.db_path)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: dict[str, int] = {}
    assert child.stdout is not None
    for line in child.stdout:
        word, *rest = line.split()
        if word == "holding":
            held_seq = int(rest[0])
            break
        acked[rest[0]] = int(rest[1])
    else:
        raise AssertionError(child.stderr.read() if child.stderr else "the child ended")
    child.send_signal(signal.SIGKILL)
    rest_out, _ = child.communicate(timeout=30)
    for line in rest_out.splitlines():  # acknowledged before the kill, read after it
        if line.startswith("acked "):
            acked[line.split()[1]] = int(line.split()[2])
    assert child.returncode == -signal.SIGKILL
    close_thread_connections()
    reopened = CallLog(log.db_path)
    assert len(acked) >= 200
    for attempt, seq in acked.items():
        entry = reopened.entry(seq)
        assert entry is not None and entry["attempt_id"] == attempt
    assert reopened.entry(held_seq) is None  # its batch was under way: none of it was committed
    result = reopened.verify()
    assert result.ok and result.count == reopened.count() >= len(acked)
    summaries_agree(reopened)
