"""A call log that cannot be written is explained (file, what happened, what to do), and nothing is sent.

Pages and the CLI explaining them are tested with them (test_page_frame, test_page_new_session,
test_calllog). Real failures where the machine allows them: a read-only file or folder (``chattr +i`` as root,
whom permission bits do not stop; ``chmod`` otherwise), a full disk (a 256 KiB tmpfs when we may
mount one; SQLite's ``max_page_count`` everywhere), a lock held by another connection past an
injected busy timeout, a file that is not a database.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lib.api.client import Client
from lib.calllog import failures as logfailure
from lib.calllog.failures import CallLogUnavailable
from lib.calllog.log import CallLog
from lib.sandbox import SandboxServer
from lib.storage.db import close_thread_connections, connect
from tests.sandbox_support import order, sandbox_env, sessions_for


@pytest.fixture(autouse=True)
def closed_connections() -> Iterator[None]:
    """Each case starts and ends with no cached connection (a restarted console opens afresh)."""
    close_thread_connections()
    yield
    close_thread_connections()


def client(sandbox, log: CallLog) -> Client:  # type: ignore[no-untyped-def]
    return Client(sandbox_env(sandbox.base_url), operator="ann", log=log)


def new_log(path: Path, **kwargs: object) -> CallLog:
    """A log with one entry, its connection closed (as after a restart)."""
    log = CallLog(path, **kwargs)  # type: ignore[arg-type]
    log.append("session_start", operator="ann", environment="sandbox")
    close_thread_connections()
    return log


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) made read-only for this process, restored afterwards."""
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i on this file system: nothing can make a file read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


@contextmanager
def small_disk(folder: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (skips where mounting is not allowed)."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        close_thread_connections()
        subprocess.run(["umount", str(folder)], check=True)


def fill_disk(folder: Path) -> None:
    """Write until the file system refuses (bounded by its size)."""
    with (folder / "filler").open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def assert_explained(exc: CallLogUnavailable, path: Path, cause: str, *words: str) -> None:
    text = str(exc)
    assert exc.cause == cause and exc.path == path
    assert text.startswith("The call log cannot be") and f"File: {path}." in text and "What to do:" in text
    for word in words:
        assert word in text, text


def refused_before_sending(log: CallLog, sandbox: SandboxServer, cause: str, *words: str,
                           order_id: str) -> CallLogUnavailable:
    """The page's preflight explains ``cause`` (with ``words``), and a create for ``order_id`` is
    refused before it is sent: the sandbox never hears of it. Returns the create's refusal."""
    with pytest.raises(CallLogUnavailable) as caught:
        log.preflight()
    assert_explained(caught.value, log.db_path, cause, *words)
    with pytest.raises(CallLogUnavailable) as caught:
        client(sandbox, log).create_session(order(order_id))
    assert_explained(caught.value, log.db_path, cause, "Nothing was sent to the API.")
    assert not sessions_for(sandbox, order_id)
    return caught.value


# --- each failure, explained -----------------------------------------------------------------------

def test_a_read_only_file_is_explained_and_nothing_is_sent(tmp_path: Path, sandbox) -> None:
    log = new_log(tmp_path / "ops.db")
    with read_only(log.db_path):
        refused = refused_before_sending(log, sandbox, logfailure.READ_ONLY, "the file is read-only", order_id="ord-ro")
        assert isinstance(refused.__cause__, sqlite3.OperationalError)
    assert log.count() == 1 and log.verify().ok


def test_a_read_only_folder_is_explained_when_the_log_opens(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    path = new_log(folder / "ops.db").db_path
    assert sorted(p.name for p in folder.iterdir()) == ["ops.db"]  # no -wal / -shm left to write into
    with read_only(folder):
        with pytest.raises(CallLogUnavailable) as caught:
            CallLog(path)
        assert_explained(caught.value, path, logfailure.FOLDER_READ_ONLY, "cannot be opened", "its folder is read-only")
        seen = logfailure.check_writable(path)  # what CallLog.preflight reports on every page run
        assert seen is not None and seen.cause == logfailure.FOLDER_READ_ONLY


def test_a_full_database_is_explained(tmp_path: Path, sandbox) -> None:
    """SQLITE_FULL provoked through max_page_count: the same code path as a full disk, anywhere."""
    log = new_log(tmp_path / "ops.db")
    conn = connect(log.db_path, synchronous="FULL")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(CallLogUnavailable) as caught:
        for _ in range(1000):  # until the last pages are full: the next entry needs a page there is no room for
            log.append("api_request", operator="ann", environment="sandbox", detail={"pad": "x" * 200})
    assert_explained(caught.value, log.db_path, logfailure.DISK_FULL, "is full", "free space")
    with pytest.raises(CallLogUnavailable) as caught:
        client(sandbox, log).create_session(order("ord-full"))
    assert caught.value.consequence == "Nothing was sent to the API."
    assert not sessions_for(sandbox, "ord-full")


def test_a_full_disk_is_explained(tmp_path: Path, sandbox) -> None:
    with small_disk(tmp_path / "disk") as disk:
        log = CallLog(disk / "ops.db")
        log.append("session_start", operator="ann", environment="sandbox")
        fill_disk(disk)
        refused_before_sending(log, sandbox, logfailure.DISK_FULL, "is full (0 bytes free)", order_id="ord-disk")


def test_a_full_disk_at_start_is_explained_not_a_disk_io_error(tmp_path: Path) -> None:
    # The disk has room for the new database to be checkpointed when it closes (all of ops.db's
    # tables, made by its migrations, and the WAL that made them): otherwise its WAL outlives the close.
    with small_disk(tmp_path / "disk") as disk:
        path = new_log(disk / "ops.db").db_path
        fill_disk(disk)
        with pytest.raises(CallLogUnavailable) as caught:
            CallLog(path)
        assert "disk I/O error" in str(caught.value.__cause__)  # what SQLite says …
        assert_explained(caught.value, path, logfailure.DISK_FULL, "cannot be opened", "is full")  # … and what we say


def test_a_lock_held_past_the_busy_timeout_is_explained(tmp_path: Path, sandbox) -> None:
    log = new_log(tmp_path / "ops.db", busy_timeout_s=0.05)
    holder = sqlite3.connect(log.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's stuck write transaction
    try:
        with pytest.raises(CallLogUnavailable) as caught:
            client(sandbox, log).create_session(order("ord-locked"))
        assert_explained(caught.value, log.db_path, logfailure.LOCKED, "for more than 0.05 s",
                         "Nothing was sent to the API.")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not sessions_for(sandbox, "ord-locked")
    assert client(sandbox, log).create_session(order("ord-after")).session_id  # works again once released


def test_a_corrupt_file_is_explained_at_open(tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    path.write_bytes(b"this is not a database, it is a note someone saved over it\n" * 100)
    with pytest.raises(CallLogUnavailable) as caught:
        CallLog(path)
    assert_explained(caught.value, path, logfailure.CORRUPT, "cannot be opened", "not a SQLite database",
                     "restore the latest backup")


def test_other_database_errors_are_not_disguised(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")

    def duplicate(db, seq: int) -> None:  # type: ignore[no-untyped-def]
        db.conn.execute("INSERT INTO entries (seq, ts, kind, operator, environment, tags, prev_hash, hash) "
                        "SELECT seq, ts, kind, operator, environment, tags, prev_hash, hash FROM entries WHERE seq = ?",
                        (seq,))

    with pytest.raises(sqlite3.IntegrityError):
        log.append("x", operator="ann", environment="sandbox", then=duplicate)
