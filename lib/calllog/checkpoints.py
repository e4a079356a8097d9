"""Checkpoints of the call log: (entry count, head hash, time), outside the database, signed.

Why: a consistent rewrite of the whole chain verifies on its own, so ``checkpoint`` pins the head
in a file outside the database. But whoever can write the database can often write that file too,
edit a checkpoint to match a forged chain, or delete it. So:

- each checkpoint is signed with HMAC-SHA256 under a key that lives in neither the database nor the
  checkpoint file (``OPS_CHECKPOINT_KEY`` or ``[calllog] checkpoint_key``, like the other secrets);
  ``verify`` refuses a checkpoint whose signature does not match, and, once a key is configured,
  one that carries none;
- the same line can go to a second place (``OPS_CHECKPOINT_MIRROR``: another file, or ``-`` for
  stdout, which a log collector ships off the machine), so deleting the file is not enough.

A line is ``{"count", "head_hash", "at"}`` plus, when signed, ``key_id`` (a fingerprint telling
which key signed it, so a rotated key is named rather than reported as tampering) and
``signature`` (hex HMAC over the canonical JSON of the three fields).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

FIELDS = ("count", "head_hash", "at")
KEY_MIN_CHARS = 32
STDOUT = "-"


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (a hash of it, never the key)."""
    return hashlib.sha256(b"ops-console checkpoint key\0" + key).hexdigest()[:16]


def _signed_bytes(record: dict[str, Any], fields: Sequence[str]) -> bytes:
    return json.dumps({k: record[k] for k in fields}, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(record: dict[str, Any], key: bytes | None, fields: Sequence[str] = FIELDS) -> dict[str, Any]:
    """``record`` with its key id and signature over ``fields`` (unchanged when there is no key);
    archive markers are signed the same way (lib.calllog.archive)."""
    if key is None:
        return dict(record)
    signature = hmac.new(key, _signed_bytes(record, fields), hashlib.sha256).hexdigest()
    return {**record, "key_id": key_id(key), "signature": signature}


def parse(line: str) -> dict[str, Any] | None:
    """A checkpoint line, or None when it is not a well-formed one."""
    try:
        cp = json.loads(line)
    except ValueError:
        return None
    ok = (
        isinstance(cp, dict) and type(cp.get("count")) is int and cp["count"] >= 0
        and isinstance(cp.get("head_hash"), str) and isinstance(cp.get("at"), str)
        and all(isinstance(cp.get(k, ""), str) for k in ("key_id", "signature"))
    )
    return cp if ok else None


def is_signed(checkpoint: dict[str, Any]) -> bool:
    return "signature" in checkpoint


def signature_problem(checkpoint: dict[str, Any], key: bytes, fields: Sequence[str] = FIELDS,
                      kept_in: str = "the checkpoint file") -> str | None:
    """Why ``checkpoint`` cannot be trusted under ``key`` (None when its signature matches)."""
    if not is_signed(checkpoint):
        return f"is not signed, but a checkpoint key is configured: anyone who can write {kept_in} could have written it"
    expected = hmac.new(key, _signed_bytes(checkpoint, fields), hashlib.sha256).hexdigest()
    if hmac.compare_digest(str(checkpoint["signature"]), expected):
        return None
    signer = checkpoint.get("key_id")
    if signer and signer != key_id(key):
        return (f"was signed with another key (key id {signer}, the configured key is {key_id(key)}): configure "
                "that key to check it")
    return f"has a signature that does not match its content: {'the line' if fields == FIELDS else 'it'} was edited"


def append_line(path: Path, line: str) -> None:
    """Append one line and make it durable (the file, and the folder entry of a new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    if created:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a new (or renamed) file's folder entry durable, not only its content."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mirror_line(mirror: str, line: str, stdout: TextIO | None = None) -> None:
    """Write the same line to the second place: a file path, or ``-`` for stdout."""
    if mirror == STDOUT:
        out = stdout or sys.stdout
        out.write(line + "\n")
        out.flush()
    else:
        append_line(Path(mirror).expanduser().resolve(), line)
