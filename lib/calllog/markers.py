"""Archive markers: where the live log starts once its oldest entries were moved to archive files.

Why: deleting entries 1-N leaves a live chain that starts at N+1, which is exactly what a log cut
by an attacker looks like. So each archiving (``lib.calllog.archive``) leaves one row in
``archive_markers`` (migration ``0005_archive_markers``, append-only like the log) that says what
went where: the range ``first_seq``-``last_seq``, the hash it chains from (``anchor``: 64 zeros, or
the previous marker's ``last_hash``), its head hash ``last_hash`` (entry last_seq+1's ``prev_hash``
must equal it), the ``before`` date, the archive ``file`` and its ``sha256``, the ``count``, when
(``archived_at``) and by whom (``operator``). When a checkpoint key is configured the row is signed
like a checkpoint (HMAC-SHA256 over the canonical JSON of those fields, ``key_id`` naming the key);
without one it is not, and ``verify`` says so.

The markers chain from the genesis (first_seq 1, each next one starting after the previous), so
``verify`` checks that chain and starts the live walk at the newest marker; a deleted or edited
marker leaves the live chain unanchored, and ``verify`` fails.
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from lib.calllog import checkpoints
from lib.calllog.verification import GENESIS_HASH

SIGNED = ("first_seq", "last_seq", "anchor", "last_hash", "before", "file", "sha256", "count", "archived_at",
          "operator")
_COLUMNS = (*SIGNED, "key_id", "signature")
_KEPT_IN = "the database"


@dataclass(frozen=True)
class Marker:
    """One archived range (the fields above)."""

    first_seq: int
    last_seq: int
    anchor: str
    last_hash: str
    before: str
    file: str
    sha256: str
    count: int
    archived_at: str
    operator: str
    key_id: str | None = None
    signature: str | None = None

    def record(self) -> dict[str, Any]:
        """The fields as a checkpoint-like record (no key_id/signature when unsigned)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def make(fields: dict[str, Any], key: bytes | None) -> Marker:
    """A marker of ``fields`` (every name in ``SIGNED``), signed when there is a key."""
    return Marker(**checkpoints.sign(fields, key, SIGNED))


def read(conn: sqlite3.Connection) -> list[Marker]:
    """Every marker, oldest first."""
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM archive_markers ORDER BY first_seq")
    return [Marker(*row) for row in rows]


def insert(conn: sqlite3.Connection, marker: Marker) -> None:
    values = [getattr(marker, name) for name in _COLUMNS]
    conn.execute(f"INSERT INTO archive_markers ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                 values)


def live_start(markers: list[Marker]) -> tuple[int, str]:
    """(first live seq, the hash its prev_hash must be) after ``markers``."""
    return (markers[-1].last_seq + 1, markers[-1].last_hash) if markers else (1, GENESIS_HASH)


def chain_problem(markers: list[Marker], key: bytes | None) -> str | None:
    """Why ``markers`` do not form a chain from the genesis (signed, when there is a key); None if they do."""
    first, anchor = 1, GENESIS_HASH
    for m in markers:
        what = f"the archive marker of entries {m.first_seq}-{m.last_seq} ({m.file})"
        problem = None if key is None else checkpoints.signature_problem(m.record(), key, SIGNED, _KEPT_IN)
        if problem:
            return f"{what} {problem}"
        if (m.first_seq, m.anchor) != (first, anchor):
            after = "the genesis" if first == 1 else f"the archive of entries up to {first - 1}"
            return f"{what} does not continue from {after}: a marker is missing or was edited"
        if m.count != m.last_seq - m.first_seq + 1:
            return f"{what} counts {m.count} entries: it was edited"
        first, anchor = m.last_seq + 1, m.last_hash
    return None


def notes(markers: list[Marker], key: bytes | None, archived_checkpoints: int) -> tuple[str, ...]:
    """What a reader of an OK verdict should know about the archived entries."""
    if not markers:
        return ()
    newest = markers[-1]
    found = [f"entries 1-{newest.last_seq} are archived in {len(markers)} file(s) (newest: {newest.file}, entries "
             f"before {newest.before}): verify --with-archives FILE ... checks them too"]
    if key is None:
        unsigned = sum(1 for m in markers if m.signature is None)
        found.append(f"the archive markers ({unsigned} of {len(markers)} unsigned) were not checked against a key: "
                     "no checkpoint key is configured")
    if archived_checkpoints:
        found.append(f"{archived_checkpoints} checkpoint(s) pin entries now archived: only an archive file can "
                     "show them (verify --with-archives)")
    return tuple(found)
