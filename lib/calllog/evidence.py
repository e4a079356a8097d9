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

import itertools
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
    head: str | None = None  # entry last_seq's hash: what the next range chains from (when OK)


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


class _Mixed(ValueError):
    """An entry line that is not an object with the first entry's columns."""


def verify_file(path: str | Path, key: bytes | None = None) -> ExportVerdict:
    """Check an evidence file as its docstring says; ``key`` also checks checkpoint signatures.
    The entries are read as they are checked, never all held: an archive holds a year of them."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            header = json.loads(f.readline() or "null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                return ExportVerdict(False, f"{path} is not a call-log evidence file (its first line says what it is)")
            entries = (json.loads(line) for line in f if line.strip())
            first = next(entries, None)
            if not isinstance(first, dict) or not {"seq", "hash", "hash_version"} <= first.keys():
                what = "holds no entry" if first is None else "does not start with an entry"
                return ExportVerdict(False, f"{path} {what} (the range {header.get('first_seq')}-"
                                            f"{header.get('last_seq')} should)")
            return _verify_entries(path, header, first, entries, key)
    except _Mixed:
        return ExportVerdict(False, f"{path}: the entries do not all carry the same columns")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ExportVerdict(False, f"{path} cannot be read as an evidence file: {exc}")


def _verify_entries(path: str | Path, header: dict[str, Any], first_entry: dict[str, Any],
                    more: Iterator[Any], key: bytes | None) -> ExportVerdict:
    first, last = header.get("first_seq"), header.get("last_seq")
    anchor = first_entry.get("prev_hash")
    columns = tuple(first_entry.keys())
    newest: list[str] = []  # the last hash read: the range's head

    def rows() -> Iterator[list[Any]]:
        for entry in itertools.chain([first_entry], more):
            if not isinstance(entry, dict) or tuple(entry.keys()) != columns:
                raise _Mixed
            newest[:] = [entry["hash"]]
            yield [entry[c] for c in columns]

    heads: dict[int, str] = {}
    wanted = {cp.get("count") for cp in header.get("checkpoints", []) if isinstance(cp, dict)}
    start = first_entry["seq"]
    count, broken = verify_chain(columns, rows(), wanted, heads,
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
                         start, count, anchor, newest[0])
