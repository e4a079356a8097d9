"""What ``CallLog.verify`` decides, apart from reading: the chain walk and the checkpoint checks.

The chain: seqs contiguous from 1, each ``prev_hash`` the previous entry's hash, each hash
recomputed with the recipe the entry names (``lib.calllog.recipes``).
The checkpoints: each well-formed, signed when a key is configured, and each checkpointed head
still present with the same hash.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.calllog import checkpoints
from lib.calllog.recipes import RECIPES, recipe_hash

GENESIS_HASH = "0" * 64
PROGRESS_EVERY = 50_000  # entries between two progress reports of a chain walk


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None
    message: str
    # What the verdict rests on that a reader should know (unsigned or unchecked checkpoints, none at all).
    notes: tuple[str, ...] = ()


def verify_chain(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], wanted: set[Any], heads: dict[int, str], *,
    first_seq: int = 1, prev_hash: str = GENESIS_HASH, progress: Callable[[int, int], None] | None = None,
    total: int = 0,
) -> tuple[int, tuple[int, str] | None]:
    """Walk the rows (values in ``columns`` order, by seq) from ``first_seq``, whose ``prev_hash``
    must be the one given (the genesis for the whole log; an exported range's own anchor); return
    (last seq seen, first break as (seq, message) or None). Records into ``heads`` the hash at
    every seq in ``wanted``; tells ``progress`` (seq reached, ``total``) every ``PROGRESS_EVERY``
    entries and once at the end."""
    count, broken = _walk(columns, rows, wanted, heads, first_seq, prev_hash, progress, total)
    if progress is not None:
        progress(count, total)
    return count, broken


def _walk(columns: Sequence[str], rows: Iterable[Sequence[Any]], wanted: set[Any], heads: dict[int, str],
          first_seq: int, prev_hash: str, progress: Callable[[int, int], None] | None, total: int,
          ) -> tuple[int, tuple[int, str] | None]:
    count = first_seq - 1
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        seq, recipe, stored_hash = row["seq"], row["hash_version"], row["hash"]
        if seq != count + 1:
            gap = f"entry {count + 1} is" if seq == count + 2 else f"entries {count + 1}-{seq - 1} are"
            where = f"jumps from {count} to {seq}" if count else f"starts at {seq}"
            return count, (count + 1, f"{gap} missing (sequence {where})")
        if row["prev_hash"] != prev_hash:
            return count, (seq, f"entry {seq}: its prev_hash does not match entry {seq - 1}'s hash")
        if recipe not in RECIPES:
            return count, (seq, f"entry {seq}: names hash recipe {recipe!r}, which does not exist")
        if recipe_hash(row, recipe) != stored_hash:
            return count, (seq, f"entry {seq}: hash does not match its content")
        count, prev_hash = seq, stored_hash
        if seq in wanted:
            heads[seq] = stored_hash
        if progress is not None and seq % PROGRESS_EVERY == 0:
            progress(seq, total)
    return count, None


def check_checkpoints(
    found: list[tuple[int, dict[str, Any] | None]], count: int, heads: dict[int, str], key: bytes | None,
    where: Path,
) -> VerifyResult | None:
    """The first checkpoint in ``found`` (line, checkpoint) the chain of ``count`` entries
    contradicts, as a failed result; None when all agree."""
    for line, cp in found:
        if cp is None:
            return VerifyResult(False, count, None, f"{where} line {line} is not a checkpoint")
        at, cp_count = cp["at"], cp["count"]
        problem = None if key is None else checkpoints.signature_problem(cp, key)
        if problem:
            return VerifyResult(False, count, None, f"checkpoint of {at} ({where} line {line}) {problem}")
        if cp_count > count:
            missing = f"entry {count + 1}" if cp_count == count + 1 else f"entries {count + 1}-{cp_count}"
            return VerifyResult(
                False, count, count + 1,
                f"checkpoint of {at}: {cp_count} entries were recorded but only {count} remain ({missing} missing)",
            )
        if heads[cp_count] != cp["head_hash"]:
            return VerifyResult(
                False, count, cp_count or None,
                f"checkpoint of {at}: the head hash at entry {cp_count} differs (the chain was rewritten up to there)",
            )
    return None


def checkpoint_notes(found: list[dict[str, Any]], key: bytes | None, where: Path) -> tuple[str, ...]:
    """What a reader of an OK verdict should know about the checkpoints it rests on."""
    if not found:
        return ((f"no checkpoint in {where}: the chain is only consistent with itself "
                 "(python -m lib.calllog checkpoint pins its head)"),)
    if key is not None:
        return ()
    signed = sum(1 for cp in found if checkpoints.is_signed(cp))
    notes = []
    if signed:
        notes.append(f"{signed} signed checkpoint(s) not checked: no checkpoint key is configured "
                     "(OPS_CHECKPOINT_KEY or [calllog] checkpoint_key)")
    if len(found) - signed:
        notes.append(f"{len(found) - signed} checkpoint(s) unsigned: they prove the head only to whoever trusts "
                     f"{where} (configure a checkpoint key to sign new ones)")
    return tuple(notes)
