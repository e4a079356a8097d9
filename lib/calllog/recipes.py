"""How a call-log entry's hash is computed: one numbered recipe per set of columns it covers.

Every entry names its recipe in its ``hash_version`` column, and ``verify`` recomputes each entry
with the recipe it names, so a migration may add columns (new entries cover them) while the
entries written before still verify as they were written. An auditor recomputes a hash by hand:

- Take the entry's values of the recipe's columns (below) as SQLite returns them: integers for
  ``seq``, ``http_status`` and ``hash_version``, a float for ``duration_ms``, text (or null) for
  the rest (``tags`` and ``detail`` are stored JSON text and hashed as that text).
- Canonical JSON: ``json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  of the object {column: value}, encoded as UTF-8.
- ``hash = sha256(canonical JSON).hexdigest()``; ``prev_hash`` is the previous entry's hash, 64
  zeros for entry 1.

Recipe 1 (every entry written before migration ``0002_entries_hash_version``; their
``hash_version`` reads 1): ``seq, ts, kind, operator, environment, tags, attempt_id, method,
endpoint, path, session_id, order_id, amount, currency, http_status, outcome, duration_ms,
detail, prev_hash``.

Recipe 2 (entries written since): recipe 1's columns and ``hash_version`` itself, that is every
column but ``hash``. Because the number is hashed, changing an entry's ``hash_version`` breaks its
hash whichever way it is changed: a later recipe cannot be downgraded to one that does not cover a
column, to change that column unseen.

Recipes may be mixed along the chain: a console process started before a migration still writes
entries by the recipe it knows (its INSERT leaves ``hash_version`` at its default, 1), and they
verify as what they are. Rewriting an entry with any recipe means recomputing its hash, which is the
attack the chain and the checkpoints already catch.
"""
from __future__ import annotations

import hashlib
import json
import json.encoder
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

RECIPE_1 = (
    "seq", "ts", "kind", "operator", "environment", "tags", "attempt_id", "method", "endpoint", "path",
    "session_id", "order_id", "amount", "currency", "http_status", "outcome", "duration_ms", "detail",
    "prev_hash",
)
RECIPES: dict[int, tuple[str, ...]] = {
    1: RECIPE_1,
    2: (*RECIPE_1, "hash_version"),
}
CURRENT = max(RECIPES)


def canonical(values: Mapping[str, Any]) -> bytes:
    """The canonical JSON of ``values``, UTF-8."""
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def recipe_hash(row: Mapping[str, Any], version: int) -> str:
    """The hash of the entry ``row`` (column -> value) by recipe ``version`` (KeyError if unknown)."""
    return hashlib.sha256(canonical({name: row[name] for name in RECIPES[version]})).hexdigest()


# One C encoder for every row (``json.dumps`` makes one per call): canonical JSON, keys already
# sorted by the caller. Without the C accelerator, the same encoder in Python.
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_ENCODE: Callable[[dict[str, Any], int], Iterable[str]] = (
    _C_ENCODER(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    if _C_ENCODER is not None
    else lambda row, _level: [json.dumps(row, separators=(",", ":"), ensure_ascii=False)]
)


def hasher(columns: Sequence[str], version: int) -> Callable[[Sequence[Any]], str]:
    """``recipe_hash`` of a row given as its values in ``columns`` order, made for walking a million
    rows: the recipe's columns are picked in sorted order once, and each row's dict is built once.
    The bytes hashed are ``canonical``'s (tests/test_recipes.py proves it for any values)."""
    names = tuple(sorted(RECIPES[version]))
    pick = itemgetter(*(columns.index(name) for name in names))
    sha256, join, encode = hashlib.sha256, "".join, _ENCODE

    def hash_row(values: Sequence[Any]) -> str:
        return sha256(join(encode(dict(zip(names, pick(values), strict=True)), 0)).encode("utf-8")).hexdigest()

    return hash_row
