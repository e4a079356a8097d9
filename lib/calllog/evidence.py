"""Entries of the call log as a file a third party verifies offline, without our database.

The file is JSON Lines, UTF-8. Line 1 describes it; each further line is one entry, in seq order,
with every stored column as SQLite holds it (``tags`` and ``detail`` as their stored JSON text:
the request and response bodies, redacted as stored), ``prev_hash``, ``hash_version`` and
``hash``. Two kinds of file, told apart by the header's ``version``:

- version 1, a **range** (``python -m lib.calllog export``)::

    {"format": "ops-calllog-evidence", "version": 1, "first_seq": N, "last_seq": M, "count": K,
     "recipes": {"1": [columns…], "2": [columns…]}, "checkpoints": [ … ]}

  entries N to M with none left out;
- version 2, a **selection** (the audit page's export of a filtered view)::

    {"format": "ops-calllog-evidence", "version": 2, "runs": [[N1, M1], [N2, M2], …], "count": K,
     "view": {the page's filters as URL parameters}, "recipes": {…}, "checkpoints": [ … ]}

  the entries the view matched, grouped in runs of consecutive seqs (N1 to M1, then N2 to M2…).

``checkpoints`` are the log's checkpoints whose head is an entry of the file, signed as they were
written. To verify by hand (``lib.calllog.recipes`` says the same):

1. for each entry, take the columns its ``hash_version`` names in ``recipes``, and compute
   ``sha256`` of ``json.dumps({column: value}, sort_keys=True, separators=(",", ":"),
   ensure_ascii=False)`` encoded as UTF-8: it must equal ``hash``;
2. within each run (a range is one run), seqs go up by one with no gap, and each ``prev_hash``
   is the previous line's ``hash`` (a run's first ``prev_hash`` is its anchor: the hash of the
   entry before it in the live log, 64 zeros for entry 1);
3. each checkpoint's ``head_hash`` is the ``hash`` of the entry at its ``count``; with the
   checkpoint key its ``signature`` can be checked too (HMAC-SHA256, ``lib.calllog.checkpoints``).

What that proves: step 1 shows each entry is exactly what was logged (any changed byte changes
its hash, and the hash covers ``prev_hash``, so an entry cannot be moved either); step 2 shows
nothing was removed or inserted inside a run. Only a range proves that nothing is missing between
its first and last entry; between the runs of a selection, entries the view did not match are
left out by design, so a selection proves its entries, not the completeness of the view (ask for
a range export for that). Either proves the log as a whole only up to the anchor, which the log
itself (``python -m lib.calllog verify``) or a checkpoint in the file vouches for.

``python -m lib.calllog verify-export FILE`` does exactly that.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lib.calllog import checkpoints
from lib.calllog.recipes import RECIPES
from lib.calllog.verification import GENESIS_HASH, verify_chain

FORMAT = "ops-calllog-evidence"
VERSION = 1  # a range: first_seq to last_seq, none left out
SELECTION = 2  # chosen entries, in runs of consecutive seqs


@dataclass(frozen=True)
class ExportVerdict:
    ok: bool
    message: str
    first_seq: int | None = None
    last_seq: int | None = None
    anchor: str | None = None  # entry first_seq's prev_hash: what the (first) run chains from
    head: str | None = None  # entry last_seq's hash: what the next range chains from (when OK)


def runs_of(seqs: Iterable[int]) -> list[list[int]]:
    """Ascending ``seqs`` as runs of consecutive numbers: 1, 2, 3, 7, 9, 10 → [1, 3], [7, 7], [9, 10]."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


def _write(out: IO[str], header: dict[str, Any], columns: Sequence[str], rows: Iterable[Sequence[Any]],
           found_checkpoints: Sequence[dict[str, Any]], held: Any) -> int:
    header = {"format": FORMAT, **header, "recipes": {str(n): list(cols) for n, cols in RECIPES.items()},
              "checkpoints": [cp for cp in found_checkpoints if cp["count"] in held]}
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    written = 0
    for values in rows:
        out.write(json.dumps(dict(zip(columns, values, strict=True)), ensure_ascii=False) + "\n")
        written += 1
    return written


def write(out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Any]], first_seq: int, last_seq: int,
          found_checkpoints: Sequence[dict[str, Any]]) -> int:
    """Write the range file of ``rows`` (values in ``columns`` order, seq ``first_seq`` to
    ``last_seq``) to ``out``; the number of entries written."""
    header = {"version": VERSION, "first_seq": first_seq, "last_seq": last_seq,
              "count": max(0, last_seq - first_seq + 1)}
    return _write(out, header, columns, rows, found_checkpoints, range(first_seq, last_seq + 1))


def write_selection(out: IO[str], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    found_checkpoints: Sequence[dict[str, Any]], view: Mapping[str, str]) -> int:
    """Write the selection file of ``rows`` (values in ``columns`` order, ascending seq), which a
    ``view`` (the filters that chose them, as URL parameters) matched; the number written."""
    seqs = [row[columns.index("seq")] for row in rows]
    header = {"version": SELECTION, "runs": runs_of(seqs), "count": len(seqs), "view": dict(view)}
    return _write(out, header, columns, rows, found_checkpoints, set(seqs))


def _runs(header: dict[str, Any]) -> list[tuple[int, int]] | None:
    """The runs a header announces (a range is one run); None when malformed."""
    found = [[header.get("first_seq"), header.get("last_seq")]] if header.get("version") == VERSION else header.get("runs")
    if header.get("version") not in (VERSION, SELECTION) or not isinstance(found, list) or not found:
        return None
    if not all(isinstance(r, list) and len(r) == 2 and all(type(n) is int for n in r) and r[0] <= r[1] for r in found):
        return None
    return [(first, last) for first, last in found]


class _Mixed(ValueError):
    """An entry line that is not an object with the first entry's columns."""


def verify_file(path: str | Path, key: bytes | None = None) -> ExportVerdict:
    """Check an evidence file as the module docstring says, reading it line by line (a year's
    archive need not fit in memory); the first problem found, or OK."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            header = json.loads(f.readline() or "null")
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                return ExportVerdict(False, f"{path} is not a call-log evidence file (its first line says what it is)")
            runs = _runs(header)
            if runs is None:
                return ExportVerdict(False, f"{path}: its header does not say which entries it holds (version "
                                           f"{header.get('version')!r}, first_seq/last_seq or runs)")
            entries = (json.loads(line) for line in f if line.strip())
            first = next(entries, None)
            if not isinstance(first, dict) or not {"seq", "hash", "hash_version", "prev_hash"} <= first.keys():
                what = "holds no entry" if first is None else "does not start with an entry"
                return ExportVerdict(False, f"{path} {what} (its header lists {header.get('count')})")
            return _verify_entries(path, header, runs, first, entries, key)
    except _Mixed:
        return ExportVerdict(False, f"{path}: the entries do not all carry the same columns")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ExportVerdict(False, f"{path} cannot be read as an evidence file: {exc}")


def _verify_entries(path: str | Path, header: dict[str, Any], runs: list[tuple[int, int]],
                    first_entry: dict[str, Any], more: Iterator[Any], key: bytes | None) -> ExportVerdict:
    anchor = first_entry["prev_hash"]
    columns = tuple(first_entry.keys())
    entries = itertools.chain([first_entry], more)
    newest: list[str] = []  # the last hash read: the file's head
    read = [0]

    def rows(n: int) -> Iterator[list[Any]]:
        for entry in itertools.islice(entries, n):
            if not isinstance(entry, dict) or tuple(entry.keys()) != columns:
                raise _Mixed
            newest[:] = [entry["hash"]]
            read[0] += 1
            yield [entry[c] for c in columns]

    first, last = runs[0][0], runs[-1][1]
    heads: dict[int, str] = {}
    wanted = {cp.get("count") for cp in header.get("checkpoints", []) if isinstance(cp, dict)}
    for start, end in runs:
        chunk = rows(end - start + 1)
        head = next(chunk, None)
        if head is None:
            return ExportVerdict(False, f"{path}: says entries {start}-{end} but holds none of them", first,
                                 None, anchor)
        run_anchor = head[columns.index("prev_hash")]
        count, broken = verify_chain(columns, itertools.chain([head], chunk), wanted, heads, first_seq=start,
                                     prev_hash=run_anchor if isinstance(run_anchor, str) else GENESIS_HASH)
        if broken:
            return ExportVerdict(False, f"{path}: {broken[1]}", first, count or None, anchor)
        if count != end:
            return ExportVerdict(False, f"{path}: says entries {start}-{end} but holds {start}-{count}", first, count,
                                 anchor)
    extra = sum(1 for _ in entries)
    if extra:
        return ExportVerdict(False, f"{path}: holds {extra} entries its header does not list", first, last, anchor)
    for cp in header.get("checkpoints", []):
        problem = None if key is None else checkpoints.signature_problem(cp, key)
        if problem or heads.get(cp.get("count")) != cp.get("head_hash"):
            why = problem or f"its head hash is not the hash of entry {cp.get('count')}"
            return ExportVerdict(False, f"{path}: the checkpoint of {cp.get('at')} {why}", first, last, anchor)
    pinned = len(header.get("checkpoints", []))
    agree = (f"{pinned} checkpoint(s) in {'range' if header['version'] == VERSION else 'the file'} agree"
             f"{'' if key or not pinned else ', signatures not checked: no key'}")
    if header["version"] == VERSION:
        return ExportVerdict(True, f"OK (entries {first}-{last}, chained from {anchor}; {agree})", first, last, anchor,
                             newest[0])
    return ExportVerdict(True, f"OK ({read[0]} entries in {len(runs)} run(s) of consecutive entries: each is exactly "
                               f"as logged and chained to the one before it in its run; a selection does not show "
                               f"that nothing is missing between runs, a range export does; {agree})",
                         first, last, anchor, newest[0])
