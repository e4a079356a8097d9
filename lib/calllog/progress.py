"""Rows read in big batches, with a progress report: a full verify of a year's log takes minutes,
and whoever runs it (the CLI's bar, the audit page's) should see it move."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

EVERY = 50_000
Progress = Callable[[int, int], None]  # (rows done, rows in all)


def batched(cursor: sqlite3.Cursor, total: int, progress: Progress | None, every: int = EVERY) -> Iterator[Any]:
    """The cursor's rows, fetched ``every`` at a time; ``progress(done, total)`` once each batch is
    consumed, and once at the end (an empty read included)."""
    done = 0
    while batch := cursor.fetchmany(every):
        yield from batch
        done += len(batch)
        if progress is not None:
            progress(done, total)
    if progress is not None and done == 0:
        progress(0, total)
