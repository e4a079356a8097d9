"""A range of the call log as a file a third party verifies offline, without our database.

The file is JSON Lines, UTF-8. Line 1 describes it::

    {"format": "ops-calllog-evidence", "version": 1, "first_seq": N, "last_seq": M, "count": K,
     "recipes": {"1": [columns…], "2": [columns…]}, "checkpoints": [ … ]}

Each further line is one entry, seq N to M in order, with every stored column as SQLite holds it
(``tags`` and ``detail`` as their stored JSON text, redacted as stored), ``hash_version`` and
``hash``. ``checkpoints`` are the log's checkpoints whose head lies in the range, signed as they
were written. To verify by hand (``lib.calllog.recipes`` says the same):

1. for each entry, take the columns its ``hash_version`` names in ``recipes``, and compute
   ``sha256`` of ``json.dumps({column: value}, sort_keys=True, separators=(",", ":"),
   ensure_ascii=False)`` encoded as UTF-8: it must equal ``hash``;
2. seqs run N, N+1, … M with no gap, and each ``prev_hash`` is the previous line's ``hash``
   (entry N's ``prev_hash`` is the anchor: the hash of entry N-1 in the live log, or 64 zeros
   when N is 1);
3. each checkpoint's ``head_hash`` is the ``hash`` of the entry at its ``count``; with the
   checkpoint key its ``signature`` can be checked too (HMAC-SHA256, ``lib.calllog.checkpoints``).

``python -m lib.calllog verify-export FILE`` does exactly that.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lib.calllog import checkpoints
from lib.calllog.recipes import RECIPES
from lib.calllog.verification import GENESIS_HASH, verify_chain

FORMAT = "ops-calllog-evidence"
VERSION = 1


@dataclass(frozen=True)
class ExportVerdict:
    ok: bool
    message: str
    first_seq: int | None = None
    last_seq: int | None = None
    anchor: str | None = None  # entry first_seq's prev_hash: what the range chains from


def write(out: IO[str], columns: Sequence[str], rows: Iterator[Sequence[Any]], first_seq: int, last_seq: int,
          found_checkpoints: Sequence[dict[str, Any]]) -> int:
    """Write the evidence file of ``rows`` (values in ``columns`` order, seq ``first_seq`` to
    ``last_seq``) to ``out``; the number of entries written."""
    header = {"format": FORMAT, "version": VERSION, "first_seq": first_seq, "last_seq": last_seq,
              "count": max(0, last_seq - first_seq + 1),
              "recipes": {str(n): list(cols) for n, cols in RECIPES.items()},
              "checkpoints": [cp for cp in found_checkpoints if first_seq <= cp["count"] <= last_seq]}
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    written = 0
    for values in rows:
        out.write(json.dumps(dict(zip(columns, values, strict=True)), ensure_ascii=False) + "\n")
        written += 1
    return written


def verify_file(path: str | Path, key: bytes | None = None) -> ExportVerdict:
    """Check an evidence file as its docstring says; ``key`` also checks checkpoint signatures."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            header = json.loads(f.readline() or "null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                return ExportVerdict(False, f"{path} is not a call-log evidence file (its first line says what it is)")
            entries = [json.loads(line) for line in f if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ExportVerdict(False, f"{path} cannot be read as an evidence file: {exc}")
    first, last = header.get("first_seq"), header.get("last_seq")
    if not entries:
        return ExportVerdict(False, f"{path} holds no entry (the range {first}-{last} should)")
    anchor = entries[0].get("prev_hash")
    columns = tuple(entries[0].keys())
    if any(tuple(e.keys()) != columns for e in entries) or not {"seq", "hash", "hash_version"} <= set(columns):
        return ExportVerdict(False, f"{path}: the entries do not all carry the same columns")
    heads: dict[int, str] = {}
    wanted = {cp.get("count") for cp in header.get("checkpoints", []) if isinstance(cp, dict)}
    start = entries[0]["seq"]
    count, broken = verify_chain(columns, ([e[c] for c in columns] for e in entries), wanted, heads,
                                 first_seq=start, prev_hash=anchor if isinstance(anchor, str) else GENESIS_HASH)
    if broken:
        return ExportVerdict(False, f"{path}: {broken[1]}", start, count or None, anchor)
    if (start, count) != (first, last):
        return ExportVerdict(False, f"{path}: says entries {first}-{last} but holds {start}-{count}", start, count,
                             anchor)
    for cp in header.get("checkpoints", []):
        problem = None if key is None else checkpoints.signature_problem(cp, key)
        if problem or heads.get(cp.get("count")) != cp.get("head_hash"):
            why = problem or f"its head hash is not the hash of entry {cp.get('count')}"
            return ExportVerdict(False, f"{path}: the checkpoint of {cp.get('at')} {why}", start, count, anchor)
    pinned = len(header.get("checkpoints", []))
    return ExportVerdict(True, f"OK (entries {start}-{count}, chained from {anchor}; {pinned} checkpoint(s) in "
                               f"range agree{'' if key or not pinned else ', signatures not checked: no key'})",
                         start, count, anchor)
