"""Retention: move the log's oldest entries to a verified archive file, and keep the rest verifiable.

``python -m lib.calllog archive --before DATE DEST`` moves every live entry with ``ts`` before
midnight UTC of DATE. Why each step:

- Only a closed range: DATE must be before today (UTC). Entries get their time under the write
  lock, so ``ts`` never goes backwards along seq and the entries before DATE are a prefix that can
  no longer grow.
- The archive is an evidence file (``lib.calllog.evidence``: JSON Lines, every stored column and
  hash), so anyone verifies it offline. It is written to ``DEST.partial``, fsynced, re-read and
  verified (the expected range, chained from the expected anchor), and only then linked to DEST
  (never over an existing file). A crash leaves at most a ``.partial`` or a complete DEST.
- One ``BEGIN IMMEDIATE`` transaction then appends an ``archive`` entry (auditors see it in the
  log), drops the ``entries_no_delete`` trigger, deletes the archived entries, recreates the
  trigger as the schema defines it (``lib.storage.ops_schema``) and inserts the signed marker
  (``lib.calllog.markers``) with DEST's sha256. A crash before the commit rolls all of it back:
  the log is as before (a complete DEST with no marker is only a copy; delete it and run again).
- ``verify_with_archives`` checks the archive files and the live log as one chain: each file
  verifies, matches its marker's sha256 and range, chains from the previous one (the first from the
  genesis), and the live log continues from the last.

Other tables keep the seqs of archived entries (``sessions.create_seq``, …); ``CallLog.entry``
answers None for them and ``CallLog.archives()`` tells which file holds them.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlite_utils import Database

from lib.calllog import checkpoints, evidence, markers, summaries
from lib.calllog.kinds import ARCHIVE
from lib.calllog.log import CallLog
from lib.calllog.markers import Marker
from lib.calllog.progress import Progress
from lib.calllog.verification import GENESIS_HASH, VerifyResult
from lib.common.timefmt import utc_now, utc_text
from lib.storage.db import connect, snapshot
from lib.storage.ops_schema import append_only_trigger

Step = Callable[[str], None]  # told each step's name as it is done (tests crash there)


class ArchiveRefused(ValueError):
    """The archive was not made, and nothing changed (why: the message)."""


@dataclass(frozen=True)
class Plan:
    """The range to archive, read from one snapshot."""

    first_seq: int
    last_seq: int
    anchor: str
    last_hash: str


def archive(log: CallLog, before: date, dest: str | Path, *, operator: str, today: date | None = None,
            step: Step = lambda _name: None) -> Marker:
    """Move the entries dated before ``before`` (midnight UTC) to ``dest``; the marker left behind."""
    dest = Path(dest).resolve()
    today = today or utc_now().date()
    if before >= today:
        raise ArchiveRefused(f"{before} is not in the past: entries dated {today} (UTC) can still arrive, so the "
                             "range is not closed; archive before an earlier date")
    if dest.exists():
        raise FileExistsError(f"{dest} already exists: an archive is never overwritten")
    midnight = utc_text(datetime(before.year, before.month, before.day, tzinfo=UTC))
    plan = _plan(log, midnight, before)
    sha256 = _write_verified(log, plan, dest, step)
    key = log.checkpoint_key()
    marker = markers.make({"first_seq": plan.first_seq, "last_seq": plan.last_seq, "anchor": plan.anchor,
                           "last_hash": plan.last_hash, "before": before.isoformat(), "file": str(dest),
                           "sha256": sha256, "count": plan.last_seq - plan.first_seq + 1,
                           "archived_at": utc_text(utc_now()), "operator": operator}, key)

    def cut(db: Database, _seq: int) -> None:
        conn = db.conn
        live = conn.execute("SELECT hash FROM entries WHERE seq = ?", (plan.last_seq,)).fetchone()
        if markers.live_start(markers.read(conn))[0] != plan.first_seq or live != (plan.last_hash,):
            raise ArchiveRefused(f"the log changed while {dest} was written (archived meanwhile?): nothing was "
                                 "deleted; delete that file and run again")
        conn.execute("DROP TRIGGER entries_no_delete")
        step("trigger dropped")
        conn.execute("DELETE FROM entries WHERE seq <= ?", (plan.last_seq,))
        summaries.forget_before(conn, midnight)  # the audit page's counts then match the live entries
        step("deleted")
        conn.execute(append_only_trigger("entries", "DELETE"))
        markers.insert(conn, marker)
        step("marked")

    log.append(ARCHIVE, operator=operator, environment="-", tags=("audit_log",), then=cut,
               detail={"first_seq": marker.first_seq, "last_seq": marker.last_seq, "before": marker.before,
                       "file": marker.file, "sha256": sha256, "count": marker.count, "signed": key is not None})
    return marker


def _plan(log: CallLog, before_ts: str, before: date) -> Plan:
    with log.failures_explained("read"), snapshot(connect(log.db_path)) as conn:
        first, anchor = markers.live_start(markers.read(conn))
        last = conn.execute("SELECT MAX(seq) FROM entries WHERE ts < ?", (before_ts,)).fetchone()[0]
        if last is None:
            raise ArchiveRefused(f"no live entry is dated before {before}: nothing to archive")
        last_hash = conn.execute("SELECT hash FROM entries WHERE seq = ?", (last,)).fetchone()[0]
    return Plan(first, last, anchor, last_hash)


def _write_verified(log: CallLog, plan: Plan, dest: Path, step: Step) -> str:
    """Write the range to ``dest``.partial, fsync, verify it, link it to ``dest``; its sha256."""
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    with partial.open("x", encoding="utf-8") as out:
        log.export_evidence(out, plan.first_seq, plan.last_seq)
        out.flush()
        os.fsync(out.fileno())
    step("written")
    verdict = evidence.verify_file(partial, log.checkpoint_key())
    if (verdict.ok, verdict.first_seq, verdict.last_seq, verdict.anchor, verdict.head) != (
            True, plan.first_seq, plan.last_seq, plan.anchor, plan.last_hash):
        partial.unlink()
        raise ArchiveRefused(f"the archive did not verify as written, nothing was deleted: {verdict.message}")
    sha256 = file_sha256(partial)
    os.link(partial, dest)  # fails if dest appeared meanwhile: never overwritten
    partial.unlink()
    checkpoints.fsync_dir(dest.parent)
    step("renamed")
    return sha256


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_with_archives(log: CallLog, files: Sequence[str | Path], progress: Progress | None = None) -> VerifyResult:
    """The archive files and the live log as one chain (the module docstring says what is checked);
    ``progress`` hears the live walk."""
    key = log.checkpoint_key()
    found = log.archives()
    for f in files:
        if not Path(f).is_file():
            return VerifyResult(False, 0, None, f"{f}: no such archive file")
    by_sha = {file_sha256(Path(f)): Path(f) for f in files}
    anchor = GENESIS_HASH
    for marker in found:
        what = f"the archive of entries {marker.first_seq}-{marker.last_seq} ({marker.file})"
        path = by_sha.pop(marker.sha256, None)
        if path is None:
            return VerifyResult(False, marker.first_seq - 1, marker.first_seq,
                                f"{what}: none of the files given has the sha256 its marker records (missing, or "
                                "changed since it was archived)")
        verdict = evidence.verify_file(path, key)
        if not verdict.ok:
            return VerifyResult(False, marker.first_seq - 1, marker.first_seq, verdict.message)
        if (verdict.first_seq, verdict.last_seq, verdict.anchor, verdict.head) != (
                marker.first_seq, marker.last_seq, anchor, marker.last_hash):
            return VerifyResult(False, marker.first_seq - 1, marker.first_seq,
                                f"{path} does not hold {what} chained from the previous archive (or the genesis)")
        anchor = marker.last_hash
    if by_sha:
        return VerifyResult(False, 0, None, f"{', '.join(map(str, by_sha.values()))}: no archive marker records "
                                            "this file (a marker was deleted, or the file is not an archive of this log)")
    live = log.verify(progress)
    if not live.ok:
        return live
    archived = found[-1].last_seq if found else 0
    return VerifyResult(True, live.count, None, f"OK ({live.count} entries: 1-{archived} in {len(found)} archive "
                                                f"file(s), {archived + 1}-{live.count} live)",
                        tuple(n for n in live.notes if "verify --with-archives" not in n))
