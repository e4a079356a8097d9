"""QA values and their labels: the one codec of the model table, of saved models and of stored cases
(PICT text spells values by their field's type instead: :mod:`lib.qa.spelling`).

A value's ``label`` is its typed text: JSON for ordinary values (``"gbp"``, ``15.02``, ``true``,
``["card"]``), ``<not sent>`` / ``<base>`` for the two markers, ``~`` in front of a negative. So
typed values round-trip exactly, and two values are the same value exactly when their labels
match (``1`` ≠ ``1.0`` ≠ ``true``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import cached_property
from typing import Any


class Marker(Enum):
    """Values that are not JSON: how a case treats the key rather than what it sends."""

    NOT_SENT = "<not sent>"  # the key is left out of the payload
    BASE = "<base>"  # the base payload's value is kept (e.g. the per-case unique order id)


NOT_SENT = Marker.NOT_SENT
BASE = Marker.BASE

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BARE = re.compile(r'[^\s,{}\[\];"]+')
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
# line breaks to str.splitlines that JSON leaves unescaped: a label must stay on its line
_LINE_BREAKS = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})


def normalise(value: Any) -> Any:
    """One representation per value: numbers as Decimal (never float), sequences as tuples.

    Tuples keep :class:`Value` immutable; :func:`lib.qa.model.build_payload` turns them back into lists.
    """
    if isinstance(value, (Marker, str, bool)) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a JSON number")
        return number
    if isinstance(value, (list, tuple)):
        items = tuple(normalise(item) for item in value)
        if any(isinstance(item, Marker) for item in items):
            raise ValueError(f"{value!r}: {NOT_SENT.value} and {BASE.value} cannot be list items")
        return items
    raise TypeError(f"a QA value must be JSON-like, not {type(value).__name__}")


def token(value: Any) -> str:
    """The canonical text of a (normalised) value; equal tokens mean the same value."""
    value = normalise(value)
    if isinstance(value, Marker):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(token(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False).translate(_LINE_BREAKS)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def read_value(text: str, pos: int = 0) -> tuple[Value, int]:
    """Read one label at ``pos``: ``(value, position after it)``; ValueError says what is wrong.

    Quoted strings and lists are JSON; a bare word is ``true``/``false``/``null``, a number, a
    marker, or else a string (so a table cell such as ``gbp, usd`` reads naturally).
    """
    pos = _skip_space(text, pos)
    negative = text.startswith("~", pos)
    if negative:
        pos = _skip_space(text, pos + 1)
    for marker in Marker:
        if text.startswith(marker.value, pos):
            return Value(marker, negative), pos + len(marker.value)
    if text.startswith(('"', "["), pos):
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            what = "list" if text[pos] == "[" else "string"
            raise ValueError(f"unreadable {what} at column {pos + 1}: {exc.msg}") from None
        return Value(value, negative), end
    bare = _BARE.match(text, pos)
    if bare is None:
        raise ValueError(f"expected a value at column {pos + 1}")
    word = bare.group()
    if word in _WORDS:
        return Value(_WORDS[word], negative), bare.end()
    return Value(Decimal(word) if _NUMBER.fullmatch(word) else word, negative), bare.end()


def read_values(text: str, pos: int = 0, close: str = "") -> tuple[list[Value], int]:
    """Comma-separated labels up to the end of ``text`` or the ``close`` character (consumed)."""
    values: list[Value] = []
    while True:
        value, pos = read_value(text, pos)
        values.append(value)
        pos = _skip_space(text, pos)
        if close and text.startswith(close, pos):
            return values, pos + len(close)
        if pos == len(text):
            if close:
                raise ValueError(f"missing {close!r}")
            return values, pos
        if text[pos] != ",":
            expected = f"',' or {close!r}" if close else "','"
            raise ValueError(f"expected {expected} at column {pos + 1}, found {text[pos]!r}")
        pos += 1


def parse_label(label: str) -> Value:
    """The value a whole label stands for (inverse of :attr:`Value.label`)."""
    value, end = read_value(label)
    if _skip_space(label, end) != len(label):
        raise ValueError(f"unexpected text after the value at column {end + 1}: {label!r}")
    return value


@dataclass(frozen=True, eq=False)
class Value:
    """One value of a dimension; a negative one is a value the API is expected to refuse."""

    value: Any
    negative: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise(self.value))

    @cached_property
    def label(self) -> str:
        """The typed token, ``~`` in front when negative (how the table, saved models and runs show it).
        Kept once made: the value never changes, and a QA run reads every case's labels (~1.4 us a token)."""
        return ("~" if self.negative else "") + token(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and self.label == other.label

    def __hash__(self) -> int:
        return hash(self.label)

    def __repr__(self) -> str:
        return f"Value({self.label})"

