"""The call log as the services see it: what they call, whatever engine keeps it.

``lib.calllog.log.CallLog`` is the SQLite implementation. A second engine (PostgreSQL, for several
console replicas) implements this Protocol; the services and pages do not change. ``Transaction``
is the engine's handle of an open write transaction, handed to ``then`` callbacks so that the
writes they make (the session registry's) commit with the entry: a ``sqlite_utils.Database``
for SQLite.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, Required, TextIO, TypedDict, TypeVar, Unpack

from lib.calllog.group_commit import Settled
from lib.calllog.markers import Marker
from lib.calllog.progress import Progress
from lib.calllog.verification import VerifyResult

Transaction = Any
T = TypeVar("T")


class EntryFields(TypedDict, total=False):
    """What one entry says, besides its kind."""

    operator: Required[str]
    environment: Required[str]
    tags: Sequence[str]
    attempt_id: str | None
    method: str | None
    endpoint: str | None
    path: str | None
    session_id: str | None
    order_id: str | None
    amount: Decimal | str | None
    currency: str | None
    http_status: int | None
    outcome: str | None
    duration_ms: float | None
    detail: Mapping[str, Any] | None
    then: Callable[[Transaction, int], None] | None


class CallLogStore(Protocol):
    """The append-only, hash-chained log (docs/storage.md)."""

    @property
    def db_path(self) -> Path: ...

    def append(self, kind: str, *, durable: bool = True, **fields: Unpack[EntryFields]) -> int:
        """Append one entry (``then(tx, seq)`` inside its transaction) and return its seq; not
        ``durable``: committed without an fsync (the request of a read), synced by the next commit."""
        ...

    def entry_write(self, kind: str, **fields: Unpack[EntryFields]) -> Callable[[Transaction], int]:
        """One entry, checked now, as a write for a log transaction (its value: the entry's seq)."""
        ...

    def commit_each(self, writes: Sequence[Callable[[Transaction], T]], *, durable: bool) -> list[Settled[T]]:
        """Run ``writes`` in one transaction of their own, each undone alone if it raises; how each ended."""
        ...

    def entry(self, seq: int) -> dict[str, Any] | None: ...

    def count(self) -> int: ...

    def in_flight(self) -> list[dict[str, Any]]: ...

    def unanswered_requests(self, endpoints: Sequence[str], answered_by: Sequence[str],
                            filters: Mapping[str, str]) -> list[dict[str, Any]]:
        """Requests to ``endpoints`` with no entry of a kind in ``answered_by`` for their attempt,
        oldest first; ``filters`` narrows by column (``ts`` means at or after)."""
        ...

    def verify(self, progress: Progress | None = None) -> VerifyResult:
        """Recompute the live chain; ``progress(done, total)`` hears every 50,000 entries."""
        ...

    def live_range(self) -> tuple[int, int]:
        """(first live seq, last seq): the entries before were archived."""
        ...

    def archives(self) -> list[Marker]: ...

    def checkpoints(self) -> list[dict[str, Any]]: ...

    def latest_checkpoint(self) -> dict[str, Any] | None: ...

    def checkpoint(self, mirror: str | None = None, *, stdout: TextIO | None = None) -> dict[str, Any]: ...

    def failures_explained(self, doing: str) -> AbstractContextManager[None]: ...

    def preflight(self) -> None: ...
