"""Copies of the log's database taken while the app keeps writing (``CallLog.backup``).

SQLite's online backup copies a consistent snapshot in one step; the copy is written under a
``.partial`` name, fsynced and only then renamed, so a half-written copy never carries the final
name, and an existing file is never overwritten: an earlier backup is evidence too.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from lib.calllog import checkpoints


def copy_database(source: sqlite3.Connection, dest: str | Path) -> Path:
    """Copy the database of ``source`` to ``dest`` (FileExistsError if it exists); returns its path."""
    dest = Path(dest).resolve()
    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)
    finally:
        target.close()
    with partial.open("rb") as f:
        os.fsync(f.fileno())
    partial.rename(dest)
    checkpoints.fsync_dir(dest.parent)
    return dest
