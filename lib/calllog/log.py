"""Append-only, tamper-evident log of every API call (and later of access, exports, refusals).

Why it is built this way:
- Evidence must not change: triggers refuse UPDATE and DELETE, and every entry carries
  ``hash = sha256(canonical JSON of all its other columns, seq, prev_hash and hash_version included)``,
  where canonical JSON is ``json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  encoded as UTF-8 and ``prev_hash`` is the previous entry's hash (64 zeros for entry 1). That is
  recipe 2; entries written before the ``hash_version`` column existed read ``hash_version`` 1 and
  were hashed without it (recipe 1). Each recipe is spelled out in ``lib.calllog.recipes``. Anyone
  with write access can drop the triggers, so ``verify`` recomputes the chain, each entry with the
  recipe it names (``lib.calllog.verification``).
- The schema is the console database's numbered migrations (``lib.storage.ops_schema``), run once
  at start by the first ``CallLog``, ``Registry`` or ``RunStore`` of the process.
- A consistent rewrite of the whole chain (or cutting its tail) still verifies on its own, so
  ``checkpoint`` writes the head (count, hash) to a file outside the database, signed with a key
  kept outside both and optionally mirrored to a second place (``lib.calllog.checkpoints``); ``verify``
  checks each checkpoint's signature and that the database still contains every checkpointed head.
- Old entries can move to archive files (``lib.calllog.archive``); a signed marker says where the
  live chain starts (``lib.calllog.markers``), and ``verify`` starts there.
- Secrets never reach the disk: ``detail`` is redacted (``lib.calllog.redaction``) before it is serialised.
- Appends from many threads and processes are serialised by ``BEGIN IMMEDIATE``: the chain head is
  read and the new entry written in one transaction, so the chain never forks. Appends of one
  process that arrive together share that transaction and its fsync (``lib.calllog.group_commit``).
- A log that cannot be opened or written raises ``CallLogUnavailable`` (file, what happened, what
  to do), never a bare SQLite error; nothing that needed the entry goes ahead.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from math import isfinite
from pathlib import Path
from types import EllipsisType
from typing import Any, TextIO, TypeVar, Unpack, cast

from sqlite_utils import Database

from lib import settings
from lib.calllog import checkpoints, evidence, group_commit, markers, summaries
from lib.calllog.backup import copy_database
from lib.calllog.failures import CallLogUnavailable, check_writable, unavailable
from lib.calllog.group_commit import Settled
from lib.calllog.interface import EntryFields
from lib.calllog.markers import Marker
from lib.calllog.progress import Progress, batched
from lib.calllog.recipes import CURRENT, RECIPES, hasher, recipe_hash
from lib.calllog.redaction import detail_text
from lib.calllog.verification import GENESIS_HASH, VerifyResult, check_checkpoints, checkpoint_notes, verify_chain
from lib.common import jsonutil
from lib.common.timefmt import utc_now, utc_text
from lib.storage.db import connect, decimal_text, snapshot
from lib.storage.ops_schema import migrate_ops

# Every column, in the order reads and writes name them: the current recipe's, then the hash.
HASHED_COLUMNS = RECIPES[CURRENT]
COLUMNS = (*HASHED_COLUMNS, "hash")
_TEXT_COLUMNS = frozenset(HASHED_COLUMNS) - {"seq", "http_status", "duration_ms", "hash_version"}
# Fields an entry takes as they are given (the others are normalised first).
_PLAIN_FIELDS = ("operator", "environment", "attempt_id", "method", "endpoint", "path", "session_id", "order_id",
                 "currency", "outcome")

_SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
_INSERT = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_HEAD = "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1"
T = TypeVar("T")


def entry_hash(values: Iterable[Any], version: int = CURRENT) -> str:
    """The hash of one entry from its values in the order of recipe ``version``'s columns
    (``HASHED_COLUMNS`` for the current one; the recipes are in ``lib.calllog.recipes``)."""
    return recipe_hash(dict(zip(RECIPES[version], values, strict=True)), version)


# ``entry_hash`` of a new entry's values, by the C encoder ``verify`` walks the chain with (the same bytes).
_hash_new = hasher(HASHED_COLUMNS, CURRENT)


def _decode(row: Sequence[Any]) -> dict[str, Any]:
    entry = dict(zip(COLUMNS, row, strict=True))
    entry["tags"] = json.loads(entry["tags"])
    if entry["detail"] is not None:
        entry["detail"] = jsonutil.loads(entry["detail"])
    if entry["amount"] is not None:
        entry["amount"] = Decimal(entry["amount"])
    return entry


class CallLog:
    """The log in one SQLite file. Cheap to construct; safe to share between threads."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        checkpoint_path: str | Path | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        synchronous: str = "FULL",
        busy_timeout_s: float | None = None,
        checkpoint_key: bytes | None | EllipsisType = ...,
    ) -> None:
        """``synchronous`` is FULL so an entry is on disk before the call it records goes out
        (``lib.storage.db``; NORMAL exists for the benchmark's comparison). ``busy_timeout_s``: how long an
        append waits for another writer's lock (default ``lib.settings.busy_timeout()``).
        ``checkpoint_key`` signs and checks checkpoints (``lib.calllog.checkpoints``); by default it is read
        from the configuration each time it is needed, None means no key."""
        self.db_path = Path(db_path or settings.ops_db_path()).resolve()
        self.checkpoint_path = Path(checkpoint_path or settings.checkpoint_path(self.db_path)).resolve()
        self._clock = clock
        self._synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self._checkpoint_key = checkpoint_key
        with self.failures_explained("opened"):
            migrate_ops(self.db_path)

    def _db(self) -> Database:
        return connect(self.db_path, synchronous=self._synchronous, busy_timeout_s=self._busy_timeout_s)

    @contextmanager
    def _durability(self, durable: bool) -> Iterator[Database]:
        """This thread's connection, committing without an fsync inside when not ``durable``."""
        if durable:
            yield self._db()
            return
        db = connect(self.db_path, synchronous="NORMAL", busy_timeout_s=self._busy_timeout_s)
        try:
            yield db
        finally:
            connect(self.db_path, synchronous=self._synchronous)

    @property
    def busy_timeout_s(self) -> float:
        return settings.busy_timeout() if self._busy_timeout_s is None else self._busy_timeout_s

    @contextmanager
    def failures_explained(self, doing: str) -> Iterator[None]:
        """SQLite and OS errors that mean the file cannot be used become ``CallLogUnavailable``
        (for anything that writes the log's file: the log itself, the QA store at start-up)."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            explained = unavailable(exc, self.db_path, busy_timeout_s=self.busy_timeout_s, doing=doing)
            if explained is None:
                raise
            raise explained from exc

    def preflight(self) -> None:
        """Raise ``CallLogUnavailable`` now when an append would fail for a reason visible
        without writing (the file or its folder read-only, the disk full): pages run it first, so
        nobody fills in a form that cannot be sent."""
        problem = check_writable(self.db_path)
        if problem is not None:
            raise problem

    def append(self, kind: str, *, durable: bool = True, **fields: Unpack[EntryFields]) -> int:
        """Append one entry and return its seq.

        ``then(db, seq)`` runs inside the same transaction, after the insert: its writes and the
        entry are committed together, and if it raises neither is.

        ``durable=False`` commits without waiting for the disk (synchronous=NORMAL) for an entry
        whose loss to a power cut could hide nothing the API did: the request of a read (a lookup,
        a login). The next durable commit syncs the write-ahead log, and this entry with it.
        """
        write = self.entry_write(kind, **fields)
        with self.failures_explained("written"):
            return self.together(write, durable=durable)

    def entry_write(self, kind: str, **fields: Unpack[EntryFields]) -> Callable[[Database], int]:
        """One entry, checked now, as a write for a log transaction (its seq is its value):
        ``append`` commits it alone, ``commit_each`` beside others."""
        tags, duration_ms, http_status = fields.get("tags", ()), fields.get("duration_ms"), fields.get("http_status")
        if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
            raise TypeError("tags must be a sequence of strings")
        if duration_ms is not None and not isfinite(duration_ms):
            raise ValueError("duration_ms must be finite")  # SQLite would store NaN as NULL
        detail, then, plain = fields.get("detail"), fields.get("then"), cast(Mapping[str, Any], fields)
        # Values are normalised to what SQLite gives back, so verify recomputes the same hash.
        row: dict[str, Any] = {
            **{name: plain.get(name) for name in _PLAIN_FIELDS}, "kind": kind,
            "tags": json.dumps(list(tags), ensure_ascii=False), "amount": decimal_text(fields.get("amount")),
            "http_status": None if http_status is None else int(http_status),
            "duration_ms": None if duration_ms is None else float(duration_ms),
            "detail": None if detail is None else detail_text(detail), "hash_version": CURRENT,
        }
        for name in _TEXT_COLUMNS.intersection(row):
            if row[name] is not None and not isinstance(row[name], str):
                raise TypeError(f"{name} must be a string, not {type(row[name]).__name__}")

        def write(db: Database) -> int:
            head = db.conn.execute(_HEAD).fetchone()
            row["seq"], row["prev_hash"] = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
            # The time is taken once the write lock is held, so ts never goes backwards along seq.
            row["ts"] = utc_text(self._clock())
            values = [row[name] for name in HASHED_COLUMNS]
            values.append(_hash_new(values))
            db.conn.execute(_INSERT, values)
            if then is not None:
                then(db, row["seq"])
            summaries.record(db.conn, row)  # last: a batch keeps its counts only once nothing can undo it
            return int(row["seq"])

        return write

    def commit_each(self, writes: Sequence[Callable[[Database], T]], *, durable: bool) -> list[Settled[T]]:
        """Run ``writes`` in order in one transaction of their own and commit it (fsynced when
        ``durable``): how each ended. One that raises is undone alone and fails alone; a failure
        of the transaction itself raises ``CallLogUnavailable``, and nothing of it was written.
        A QA run's event loop commits its writes this way (``group_commit.commit_all``: why it is
        not a group commit)."""
        with self.failures_explained("written"), self._durability(durable) as db:
            return group_commit.commit_all(db, writes, lambda: summaries.deferred(db.conn))

    def together(self, write: Callable[[Database], T], *, durable: bool = True) -> T:
        """Run ``write(db)`` in the log's next group commit (``lib.calllog.group_commit``), beside the
        appends of other threads, and return its value once committed (fsynced when ``durable``).
        Other writes to the log's file (a QA run's case rows) share the commit instead of paying their own."""
        return self._queue().submit(write, durable=durable, timeout_s=self.busy_timeout_s)

    def _queue(self) -> group_commit.GroupCommit:
        self._db()  # this thread's connection to the file stays as the log sets it (FULL), whoever commits
        return group_commit.committer((str(self.db_path), self._synchronous, self._busy_timeout_s), self._durability,
                                      lambda db: summaries.deferred(db.conn))

    def entry(self, seq: int) -> dict[str, Any] | None:
        """One entry with tags and detail decoded and the amount as a Decimal."""
        row = self._db().conn.execute(f"{_SELECT} WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _decode(row)

    def count(self) -> int:
        """Number of entries: the head's seq (seqs are contiguous; COUNT(*) would scan the table)."""
        return int(self._db().conn.execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()[0])

    def in_flight(self) -> list[dict[str, Any]]:
        """Requests with no result yet: calls under way, or whose outcome was never recorded (crash).
        Read from ``open_attempts`` (``lib.calllog.summaries``), which the appends keep current."""
        rows = self._db().conn.execute(f"{_SELECT} WHERE seq IN (SELECT seq FROM open_attempts) ORDER BY seq")
        return [_decode(row) for row in rows]

    def unanswered_requests(self, endpoints: Sequence[str], answered_by: Sequence[str],
                            filters: Mapping[str, str]) -> list[dict[str, Any]]:
        """Requests to ``endpoints`` whose attempt has no entry of a kind in ``answered_by``, oldest
        first; ``filters`` maps a column to a value (equal), ``ts`` to a time (at or after: the time
        range uses the ``ts`` index, so a day of a large log stays cheap)."""
        clauses = [f"AND r.{column} {'>=' if column == 'ts' else '='} ?" for column in filters]
        for column in filters:
            if column not in HASHED_COLUMNS:
                raise ValueError(f"no column {column!r} in the log")
        marks = ", ".join("?" * len(endpoints)), ", ".join("?" * len(answered_by))
        sql = f"""SELECT r.seq FROM entries AS r
            WHERE r.kind = 'api_request' AND r.endpoint IN ({marks[0]}) {' '.join(clauses)}
              AND NOT EXISTS (SELECT 1 FROM entries AS x WHERE x.attempt_id = r.attempt_id AND x.kind IN ({marks[1]}))
            ORDER BY r.seq"""
        with self.failures_explained("read"):
            seqs = [seq for (seq,) in self._db().conn.execute(sql, [*endpoints, *filters.values(), *answered_by])]
            return [entry for entry in map(self.entry, seqs) if entry is not None]

    def live_range(self) -> tuple[int, int]:
        """(first live seq, last seq); the entries before the first are archived (``archives``)."""
        with self.failures_explained("read"):
            low, high = self._db().conn.execute("SELECT MIN(seq), MAX(seq) FROM entries").fetchone()
        return (low, high) if low else (1, 0)

    def archives(self) -> list[Marker]:
        """The archive markers, oldest first: which entries went to which file (``lib.calllog.archive``)."""
        with self.failures_explained("read"):
            return markers.read(self._db().conn)

    def checkpoint_key(self) -> bytes | None:
        if isinstance(self._checkpoint_key, EllipsisType):
            return settings.checkpoint_key()
        return self._checkpoint_key

    def _read_checkpoints(self) -> list[tuple[int, dict[str, Any] | None]]:
        """(line number, checkpoint) pairs; None for a line that is not a well-formed checkpoint."""
        if not self.checkpoint_path.exists():
            return []
        with self.checkpoint_path.open(encoding="utf-8") as f:
            return [(n, checkpoints.parse(line)) for n, line in enumerate(f, 1) if line.strip()]

    def checkpoints(self) -> list[dict[str, Any]]:
        """Every well-formed checkpoint, oldest first."""
        return [cp for _, cp in self._read_checkpoints() if cp]

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest well-formed checkpoint (count, head_hash, at, …), or None."""
        found = self.checkpoints()
        return found[-1] if found else None

    def verify(self, progress: Progress | None = None) -> VerifyResult:
        """Recompute the live chain in one read snapshot, from where the archive markers say it starts
        (``lib.calllog.markers``), then check every checkpoint against it. ``progress(done, total)``
        hears every 50,000 entries (``lib.calllog.progress``)."""
        # Checkpoints are read before the snapshot starts, so none can be newer than it.
        found = self._read_checkpoints()
        wanted = {cp["count"] for _, cp in found if cp}
        key = self.checkpoint_key()
        with self.failures_explained("read"), snapshot(self._db()) as conn:
            cut = markers.read(conn)
            problem = markers.chain_problem(cut, key)
            if problem:
                return VerifyResult(False, 0, None, problem)
            first, anchor = markers.live_start(cut)
            heads = {0: GENESIS_HASH, **{m.last_seq: m.last_hash for m in cut}}
            total = max(0, (conn.execute(_HEAD).fetchone() or (0,))[0] - first + 1)
            rows = batched(conn.execute(f"{_SELECT} WHERE seq >= ? ORDER BY seq", (first,)), total, progress)
            count, broken = verify_chain(COLUMNS, rows, wanted, heads, first_seq=first, prev_hash=anchor)
        if broken:
            return VerifyResult(False, count, *broken)
        failed = check_checkpoints(found, count, heads, key, self.checkpoint_path, archived=first - 1)
        if failed is not None:
            return failed
        pinned = [cp for _, cp in found if cp]
        notes = (*checkpoint_notes(pinned, key, self.checkpoint_path),
                 *markers.notes(cut, key, sum(1 for cp in pinned if cp["count"] not in heads)))
        return VerifyResult(True, count, None, f"OK ({count} entries)", notes)

    def verify_since_checkpoint(self, progress: Progress | None = None) -> VerifyResult:
        """Check only what was appended since the newest checkpoint: that checkpoint (its signature
        when a key is configured) and its head still in the log, then the chain on from there. A
        nightly run stays short however long the log; ``verify`` re-checks everything."""
        found = [cp for _, cp in self._read_checkpoints() if cp]
        if not found or found[-1]["count"] < self.live_range()[0]:  # none, or its head was archived since
            why = "the newest checkpoint pins archived entries" if found and found[-1]["count"] else \
                "no checkpoint to start from"
            full = self.verify(progress)
            return replace(full, notes=(*full.notes, f"{why}: the whole {'live ' * bool(found)}chain was checked"))
        anchor, key = found[-1], self.checkpoint_key()
        problem = None if key is None else checkpoints.signature_problem(anchor, key)
        if problem:
            return VerifyResult(False, 0, None, f"checkpoint of {anchor['at']} ({self.checkpoint_path}) {problem}")
        start = anchor["count"]
        with self.failures_explained("read"), snapshot(self._db()) as conn:
            head = conn.execute("SELECT hash FROM entries WHERE seq = ?", (start,)).fetchone()
            if head is None or head[0] != anchor["head_hash"]:
                return VerifyResult(False, start, start, f"checkpoint of {anchor['at']}: the head hash at entry "
                                                         f"{start} differs or is gone (the chain was rewritten)")
            total = conn.execute(_HEAD).fetchone()[0] - start
            rows = batched(conn.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq", (start,)), total, progress)
            count, broken = verify_chain(COLUMNS, rows, set(), {}, first_seq=start + 1,
                                         prev_hash=anchor["head_hash"])
        if broken:
            return VerifyResult(False, count, *broken)
        notes = (*checkpoint_notes([anchor], key, self.checkpoint_path),
                 f"entries 1-{start} rest on that checkpoint: a full verify checks them again")
        return VerifyResult(True, count, None, f"OK ({count} entries; {count - start} checked since the "
                                               f"checkpoint of {anchor['at']} at entry {start})", notes)

    def export_evidence(self, out: TextIO, first_seq: int = 1, last_seq: int | None = None) -> int:
        """Entries ``first_seq`` to ``last_seq`` (default: the head) as an evidence file a third
        party verifies offline (``lib.calllog.evidence``), from one read snapshot; entries written."""
        with self.failures_explained("read"), snapshot(self._db()) as conn:
            low, count = conn.execute("SELECT COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) FROM entries").fetchone()
            last = count if last_seq is None else last_seq
            if not low <= first_seq <= last <= count:
                raise ValueError(f"the range {first_seq}-{last} is not within the log's entries {low}-{count}")
            rows = conn.execute(f"{_SELECT} WHERE seq BETWEEN ? AND ? ORDER BY seq", (first_seq, last))
            found = [cp for _, cp in self._read_checkpoints() if cp]
            return evidence.write(out, COLUMNS, rows, first_seq, last, found)

    def checkpoint(self, mirror: str | None = None, *, stdout: TextIO | None = None) -> dict[str, Any]:
        """Append the current head to the checkpoint file (fsynced), signed when a checkpoint key is
        configured, and the same line to ``mirror`` (a path, or ``-`` for ``stdout``); return it."""
        with self.failures_explained("read"):
            head = self._db().conn.execute(_HEAD).fetchone()
        count, head_hash = head if head else (0, GENESIS_HASH)
        record = checkpoints.sign({"count": count, "head_hash": head_hash, "at": utc_text(self._clock())},
                                  self.checkpoint_key())
        line = json.dumps(record)
        for where in (str(self.checkpoint_path), mirror):
            if where is None:
                continue
            try:
                if where == str(self.checkpoint_path):
                    checkpoints.append_line(self.checkpoint_path, line)
                else:
                    checkpoints.mirror_line(where, line, stdout)
            except OSError as exc:
                raise CallLogUnavailable(
                    where, "checkpoint_unwritable", f"its checkpoint could not be written there ({exc.strerror or exc})",
                    "make that file and its folder writable (or choose another with --checkpoints / --mirror), then "
                    "run the checkpoint again.", doing="checkpointed") from exc
        return record

    def backup(self, dest: str | Path) -> Path:
        """Copy the database with SQLite's online backup (one step: a consistent snapshot while the
        app keeps writing). Refuses to overwrite: an existing backup is evidence too (``lib.calllog.backup``)."""
        return copy_database(self._db().conn, dest)
