"""The fast hasher that ``verify`` walks the chain with hashes exactly the bytes of the reference recipe."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lib.calllog.log import COLUMNS, CallLog
from lib.calllog.recipes import RECIPES, hasher, recipe_hash
from lib.storage.db import connect

ALL_COLUMNS = (*RECIPES[max(RECIPES)], "hash")
# Whatever SQLite can hand back: text (any unicode, quotes, controls), integers of any size, floats
# (non-finite ones too: json writes them its own way), null.
VALUES = st.one_of(st.none(), st.text(), st.integers(), st.integers(min_value=2**63, max_value=2**200),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@given(st.sampled_from(sorted(RECIPES)), st.permutations(ALL_COLUMNS), st.data())
def test_the_fast_hasher_hashes_the_reference_bytes(version: int, columns: list[str], data: Any) -> None:
    values = [data.draw(VALUES, label=name) for name in columns]
    assert hasher(columns, version)(values) == recipe_hash(dict(zip(columns, values, strict=True)), version)


def test_appended_entries_carry_the_reference_hash(tmp_path: Path) -> None:
    """``CallLog.append`` hashes with the fast hasher: each stored hash is the reference recipe's."""
    log = CallLog(tmp_path / "ops.db", synchronous="NORMAL")
    log.append("api_request", operator="ann é", environment="sandbox", tags=("qa-run:x",), attempt_id="a",
               amount=Decimal("1.50"), detail={"body": {"amount": Decimal("0.01"), "note": "\u2603 \"quoted\"\n"}})
    log.append("api_result", operator="ann", environment="sandbox", attempt_id="a", http_status=201, outcome="ok",
               duration_ms=3.25, detail={"body": None})
    for seq in (1, 2):
        stored = connect(log.db_path).conn.execute(f"SELECT {', '.join(COLUMNS)} FROM entries WHERE seq = ?",
                                                    (seq,)).fetchone()
        row = dict(zip(COLUMNS, stored, strict=True))
        assert row["hash"] == recipe_hash(row, row["hash_version"])
