"""``python -m lib.calllog``: verify, checkpoint, back up, export and archive the call log from a shell."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from tqdm import tqdm

from lib import settings
from lib.access.operator_name import local_operator
from lib.calllog import checkpoints, evidence, summaries
from lib.calllog.archive import ArchiveRefused, archive, verify_with_archives
from lib.calllog.failures import CallLogUnavailable
from lib.calllog.log import CallLog
from lib.calllog.progress import Progress
from lib.storage.db import connect, immediate


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lib.calllog {verify [--since-checkpoint|--with-archives FILE ...],checkpoint [--mirror PATH|-],
    backup DEST,export FILE,verify-export FILE,archive --before DATE DEST,summaries [--rebuild]}``.

    Exit status: 0 OK, 1 the log does not verify (or is missing), 2 it cannot be used (explained).
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="database file (default: $OPS_DB_PATH or data/ops.db)")
    common.add_argument("--checkpoints", help="checkpoint file (default: $OPS_CHECKPOINT_PATH or <db>.checkpoints.jsonl)")
    parser = argparse.ArgumentParser(prog="python -m lib.calllog", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", parents=[common], help="recompute the hash chain and check the checkpoints")
    how = verify.add_mutually_exclusive_group()
    how.add_argument("--since-checkpoint", action="store_true",
                     help="check only what was appended since the newest checkpoint (a nightly run)")
    how.add_argument("--with-archives", nargs="+", metavar="FILE",
                     help="also check these archive files and that they and the live log form one chain")
    checkpoint = commands.add_parser("checkpoint", parents=[common],
                                     help="record the current head outside the database (signed when a key is set)")
    checkpoint.add_argument("--mirror", help="also write it here: a file, or - for stdout "
                                             "(default: $OPS_CHECKPOINT_MIRROR or [calllog] checkpoint_mirror)")
    backup = commands.add_parser("backup", parents=[common], help="copy the database, then verify the copy")
    backup.add_argument("dest")
    export = commands.add_parser("export", parents=[common],
                                 help="write entries (all, or a range) as an evidence file verifiable offline")
    export.add_argument("file")
    export.add_argument("--from-seq", type=int, default=1)
    export.add_argument("--to-seq", type=int, help="default: the newest entry")
    verify_export = commands.add_parser("verify-export", help="verify an evidence file, without the database "
                                        "(checkpoint signatures too when a checkpoint key is configured)")
    verify_export.add_argument("file")
    archive = commands.add_parser("archive", parents=[common], help="move the entries dated before DATE to an "
                                  "archive file DEST (verified), leaving a signed marker in the log")
    archive.add_argument("--before", required=True, type=date.fromisoformat, metavar="DATE",
                         help="a UTC date before today, e.g. 2026-01-01 (entries before its midnight UTC)")
    archive.add_argument("dest")
    recount = commands.add_parser("summaries", parents=[common],
                                  help="compare the audit page's summary tables with a recount of the log")
    recount.add_argument("--rebuild", action="store_true", help="recount them first (one write transaction)")
    args = parser.parse_args(argv)
    if args.command == "verify-export":
        try:
            verdict = evidence.verify_file(args.file, settings.checkpoint_key())
        except settings.ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(verdict.message, file=sys.stdout if verdict.ok else sys.stderr)
        return 0 if verdict.ok else 1

    db_path = Path(args.db or settings.ops_db_path())
    if not db_path.exists():  # opening it would create an empty, "valid" log
        print(f"no call log at {db_path}", file=sys.stderr)
        return 1
    try:
        return _run(args, db_path)
    except (CallLogUnavailable, settings.ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, db_path: Path) -> int:
    log = CallLog(db_path, args.checkpoints)
    if args.command == "checkpoint":
        mirror = args.mirror or settings.checkpoint_mirror()
        record = log.checkpoint(mirror)
        # With the mirror on stdout, stdout carries only the checkpoint line (for a log collector).
        print(f"checkpoint appended to {log.checkpoint_path}{f' and {mirror}' if mirror and mirror != '-' else ''}: "
              f"{json.dumps(record)}", file=sys.stderr if mirror == checkpoints.STDOUT else sys.stdout)
        return 0
    if args.command == "export":
        try:
            with Path(args.file).open("x", encoding="utf-8") as out:  # never overwrites an earlier file
                written = log.export_evidence(out, args.from_seq, args.to_seq)
        except (ValueError, FileExistsError) as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"{written} entries written to {args.file}; check it with: python -m lib.calllog verify-export "
              f"{args.file}")
        return 0
    if args.command == "archive":
        return _archive(log, args.before, args.dest)
    if args.command == "summaries":
        db = connect(log.db_path)
        if args.rebuild:
            with immediate(db):
                summaries.rebuild(db.conn)
        differ = summaries.check(db.conn)
        print("; ".join(f"{table}: {n} rows differ from a recount" for table, n in differ.items()))
        return 1 if any(differ.values()) else 0
    if args.command == "backup":
        copy = log.backup(args.dest)
        print(f"backup written to {copy}")
        log = CallLog(copy, log.checkpoint_path)
    with _progress_bar() as progress:
        if getattr(args, "with_archives", None):
            result = verify_with_archives(log, args.with_archives, progress)
        elif getattr(args, "since_checkpoint", False):
            result = log.verify_since_checkpoint(progress)
        else:
            result = log.verify(progress)
    print(result.message if args.command == "verify" else f"backup verifies: {result.message}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0 if result.ok else 1



def _archive(log: CallLog, before: date, dest: str) -> int:
    try:
        marker = archive(log, before, dest, operator=local_operator())
    except (ArchiveRefused, FileExistsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"entries {marker.first_seq}-{marker.last_seq} ({marker.count}, before {marker.before}) archived to "
          f"{marker.file} (sha256 {marker.sha256}); keep that file: python -m lib.calllog verify --with-archives "
          f"{marker.file} ... checks it with the live log")
    if marker.signature is None:
        print("note: the archive marker is unsigned: no checkpoint key is configured", file=sys.stderr)
    return 0


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A bar on stderr while verify walks the chain, only when a person watches (a terminal)."""
    if not sys.stderr.isatty():
        yield None
        return
    # Redrawn at each report (every 50,000 entries), not throttled by time: the reports are the pace.
    with tqdm(unit=" entries", unit_scale=True, file=sys.stderr, leave=False, mininterval=0) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress
