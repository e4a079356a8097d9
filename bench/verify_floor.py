"""How close ``verify`` is to the floor: reading and hashing the same rows (a script, not a test).

    .venv/bin/python bench/verify_floor.py                       # 1,000,000 entries, a temporary file
    .venv/bin/python bench/verify_floor.py --entries 100000      # a quick try
    .venv/bin/python bench/verify_floor.py --db /tmp/big.db      # fill it once, reuse it the next runs

The floor is one pass of the simplest code that does the unavoidable work: SELECT every column of
every row, build each row's canonical JSON with ``json.dumps`` and sha256 it. ``verify`` must stay
within 1.5x of it. ``verify --since-checkpoint`` is measured from a checkpoint one day (1/30 of the
entries, as ``audit_scale.fill`` spreads them over 30 days) before the head. All in the same run,
and the ratio is of CPU seconds (``time.process_time``; everything runs in this one process): on a
machine shared with others the wall-clock times swing with their load, the CPU time much less.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audit_scale import DAYS, fill
from lib.calllog import checkpoints
from lib.calllog.log import COLUMNS, HASHED_COLUMNS, CallLog


def floor(db_path: Path) -> int:
    """Read every row and hash its canonical JSON, nothing else; the rows read."""
    conn = sqlite3.connect(db_path)
    rows = 0
    for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM entries ORDER BY seq"):
        body = json.dumps(dict(zip(HASHED_COLUMNS, row[:-1], strict=True)), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        hashlib.sha256(body.encode("utf-8")).hexdigest()
        rows += 1
    conn.close()
    return rows


def timed(run: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """((wall seconds, CPU seconds), what ``run`` returned)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to write (default 1,000,000)")
    parser.add_argument("--db", type=Path, help="database file (filled when it does not exist, else reused)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = (args.db or Path(tmp) / "verify_floor.db").resolve()
        if not db_path.exists():
            seconds, _ = timed(lambda: fill(db_path, args.entries, datetime.now(UTC)))
            print(f"filled {args.entries:,} entries in {seconds[0]:.1f} s")
        cp_path = Path(tmp) / "checkpoints.jsonl"
        log = CallLog(db_path, cp_path, checkpoint_key=None)
        total = log.count()
        at = total - total // DAYS
        head = log.entry(at)
        assert head is not None
        checkpoints.append_line(cp_path, json.dumps({"count": at, "head_hash": head["hash"], "at": head["ts"]}))
        floor_s, rows = timed(lambda: floor(db_path))
        verify_s, result = timed(log.verify)
        since_s, since = timed(log.verify_since_checkpoint)
        assert rows == total and result.ok and since.ok, (result.message, since.message)
        ratio = verify_s[1] / floor_s[1]
        print(f"{total:,} entries (wall s / CPU s)")
        print(f"  floor (read + json.dumps + sha256)        {floor_s[0]:7.2f} / {floor_s[1]:7.2f}")
        print(f"  verify                                    {verify_s[0]:7.2f} / {verify_s[1]:7.2f}   "
              f"CPU ratio {ratio:.2f} (target <= 1.5)")
        print(f"  verify --since-checkpoint ({total - at:,} entries)  {since_s[0]:7.2f} / {since_s[1]:7.2f}")
        print(json.dumps({"entries": total, "floor_s": [round(x, 2) for x in floor_s],
                          "verify_s": [round(x, 2) for x in verify_s],
                          "since_checkpoint_s": [round(x, 2) for x in since_s], "ratio": round(ratio, 2)}))
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
