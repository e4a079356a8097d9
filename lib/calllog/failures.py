"""Why the call log cannot be opened or written, said so a person can act on it.

Nothing is sent to the API when its log entry cannot be written, which is right; but a raw
``sqlite3.OperationalError: attempt to write a readonly database`` tells an operator neither which
file nor what to do. :func:`unavailable` turns the SQLite and OS errors that mean "this file
cannot be used now" into one typed error naming the file, what happened and what to do; any other
error (a constraint, a bug) is left alone. Pages, the client and the CLI all show the same words.
"""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

# Below this much free space the disk is called full: SQLite needs room for its WAL and index pages.
LOW_SPACE_BYTES = 1 << 20

READ_ONLY = "read_only"
FOLDER_READ_ONLY = "folder_read_only"
DISK_FULL = "disk_full"
LOCKED = "locked"
CORRUPT = "corrupt"
DISK_ERROR = "disk_error"
CANNOT_OPEN = "cannot_open"

_RESTORE = ("Keep the damaged file as evidence (move it aside, do not delete it), restore the latest backup "
            "(`python -m lib.calllog backup` makes them) or start a new log at that path, then run "
            "`python -m lib.calllog verify`.")


class CallLogUnavailable(RuntimeError):
    """The call log (or its checkpoint file) cannot be opened or written.

    ``cause`` is one of the module's constants; ``what`` says what happened and ``todo`` what to
    do, both fixed wording that names no file (``path`` does), so a page can show them as they are
    and the path apart. The client
    sets ``consequence`` to what this meant for the call (nothing was sent, or the answer could not
    be recorded).
    """

    def __init__(self, path: str | Path, cause: str, what: str, todo: str, *, doing: str = "written") -> None:
        self.path = Path(path)
        self.cause = cause
        self.what = what
        self.todo = todo
        self.doing = doing
        self.consequence = ""
        super().__init__(what)

    @property
    def headline(self) -> str:
        return f"The call log cannot be {self.doing}"

    def __str__(self) -> str:
        parts = [f"{self.headline}: {self.what}.", f"File: {self.path}."]
        if self.consequence:
            parts.append(self.consequence)
        parts.append(f"What to do: {self.todo}")
        return " ".join(parts)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _writable(path: Path) -> bool:
    """os.access also reports immutable files and read-only file systems, even to root."""
    return os.access(path, os.W_OK)


def _read_only(path: Path, doing: str) -> CallLogUnavailable:
    if path.exists() and not _writable(path):
        return CallLogUnavailable(
            path, READ_ONLY, "the file is read-only",
            "make it writable for the account that runs the console (e.g. `chmod u+w` on it, or `chattr -i` if "
            "it was made immutable; remount the disk read-write if the whole file system is read-only), or set "
            "OPS_DB_PATH to a writable place; then reload the page.", doing=doing)
    return CallLogUnavailable(
        path, FOLDER_READ_ONLY,
        "its folder is read-only (or missing), and SQLite must be able to create its -wal and -shm files "
        "beside the file",
        "make the folder writable for the account that runs the console, or set OPS_DB_PATH to a file in a "
        "writable folder; then reload the page.", doing=doing)


def _disk_full(path: Path, doing: str, free: int | None) -> CallLogUnavailable:
    room = "" if free is None else f" ({free:,} bytes free)"
    return CallLogUnavailable(
        path, DISK_FULL, f"the disk that holds it is full{room}",
        "free space on that disk (move old exports, logs or backups elsewhere), then reload the page. Nothing "
        "already recorded is lost.", doing=doing)


def check_writable(path: str | Path, *, doing: str = "written") -> CallLogUnavailable | None:
    """What is wrong with ``path`` that can be seen without writing to it (the file or its folder
    read-only, the disk full), or None. A few system calls: cheap enough for every page run."""
    path = Path(path)
    if (path.exists() and not _writable(path)) or (path.parent.exists() and not _writable(path.parent)):
        return _read_only(path, doing)
    free = _free_bytes(path.parent) if path.parent.exists() else None
    if free is not None and free < LOW_SPACE_BYTES:
        return _disk_full(path, doing, free)
    return None


def unavailable(exc: BaseException, path: str | Path, *, busy_timeout_s: float,
                doing: str = "written") -> CallLogUnavailable | None:
    """The :class:`CallLogUnavailable` that explains ``exc`` for the log file ``path``, or None
    when ``exc`` is not about the file being unusable (then it should propagate as it is)."""
    path = Path(path)
    free = _free_bytes(path.parent if path.parent.exists() else Path(path.anchor or "/"))
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
            if primary == sqlite3.SQLITE_CANTOPEN and path.exists() and _writable(path) and \
                    path.parent.exists() and _writable(path.parent):
                return CallLogUnavailable(
                    path, CANNOT_OPEN, "SQLite could not open the file (too many open files, or a permission "
                    "the operating system refused)", "check the console's account can read and write the file and "
                    "its folder, then reload the page.", doing=doing)
            return _read_only(path, doing)
        if primary == sqlite3.SQLITE_FULL:
            return _disk_full(path, doing, free)
        if primary == sqlite3.SQLITE_IOERR:
            if free is not None and free < LOW_SPACE_BYTES:
                return _disk_full(path, doing, free)
            return CallLogUnavailable(
                path, DISK_ERROR, "the disk reported an I/O error (a failing or removed drive, or a network "
                "share that dropped)", "check the disk and the system log (dmesg), then reload the page; if it "
                f"persists, restore the log from a backup. {_RESTORE}", doing=doing)
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return CallLogUnavailable(
                path, LOCKED, f"another connection held its write lock for more than {busy_timeout_s:g} s",
                "try again in a moment. If it keeps happening, find what holds the file open with a transaction "
                "(`fuser` on it: a stuck backup, a database browser left open) and close it.", doing=doing)
        if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            what = "the file is not a SQLite database" if primary == sqlite3.SQLITE_NOTADB else \
                "the database file is damaged (SQLite reports it malformed)"
            return CallLogUnavailable(path, CORRUPT, what, _RESTORE, doing=doing)
        return None
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return _disk_full(path, doing, free)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return _read_only(path, doing)
    return None
