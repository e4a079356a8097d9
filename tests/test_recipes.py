"""The fast hasher that ``verify`` walks the chain with hashes exactly the bytes of the reference recipe."""
from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lib.calllog.recipes import RECIPES, hasher, recipe_hash

ALL_COLUMNS = (*RECIPES[max(RECIPES)], "hash")
# Whatever SQLite can hand back: text (any unicode, quotes, controls), integers of any size, floats
# (non-finite ones too: json writes them its own way), null.
VALUES = st.one_of(st.none(), st.text(), st.integers(), st.integers(min_value=2**63, max_value=2**200),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans())


@given(st.sampled_from(sorted(RECIPES)), st.permutations(ALL_COLUMNS), st.data())
def test_the_fast_hasher_hashes_the_reference_bytes(version: int, columns: list[str], data: Any) -> None:
    values = [data.draw(VALUES, label=name) for name in columns]
    assert hasher(columns, version)(values) == recipe_hash(dict(zip(columns, values, strict=True)), version)
