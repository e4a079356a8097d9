"""How a QA value is spelled in PICT text, by its field's type, and read back the same way.

PICT sees a value as plain text: it splits a parameter line at commas, ``|`` separates aliases,
``(n)`` at the end is a weight, a leading ``~`` marks a negative, and ``<name>`` may refer to
another parameter. So a spelling never holds ``, | ( )``, line breaks or other unprintable
characters, never starts with ``~`` and never looks like ``<name>`` (bar our two markers). Its
type comes from the field description (:func:`kind_of`):

- ``true``/``false`` in a boolean field, a number in a number field, ``card+apple_pay`` in a
  list field (a list of one: ``card``), any other text in a string or enum field;
- ``<not sent>`` and ``<base>`` in any field;
- what the field's own spelling would misread is explicit: ``"..."`` is always a string (JSON,
  with the forbidden characters as ``\\u`` escapes), ``json:1`` / ``json:true`` / ``json:null``
  a number, boolean or null, and ``[a+json:1]`` (``[]`` empty) a list.

:func:`spell` checks each spelling by reading it back, so a value always comes back as itself.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from lib.fields.schema import leaves
from lib.qa.values import Marker, normalise, token

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# what std::stod, PICT's number test, reads as a whole number: decimal, hex, inf, nan
_PICT_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
    r"(?:[pP][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE)
_FORBIDDEN = ",|()"
_ESCAPED = _FORBIDDEN + "+[]"  # in a quoted string: also what splits a list's items
_JSON = "json:"
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


@cache
def _kinds() -> dict[str, str]:
    return {leaf.path: leaf.kind for leaf in leaves()}


def kind_of(path: str) -> str | None:
    """The field's kind in the field description (``boolean``, ``number``, ``list``, ``enum``,
    ``string``), None for a path it does not describe (read generically)."""
    return _kinds().get(path)


def is_pict_number(text: str) -> bool:
    """Whether PICT takes this value text for a number (a parameter all of whose values are is numeric)."""
    return _PICT_NUMBER.fullmatch(text) is not None


def _safe(text: str) -> bool:
    return (bool(text) and text == text.strip() and not text.startswith(("~", "#"))
            and not any(c in _FORBIDDEN or not c.isprintable() for c in text)
            and not (text.startswith("<") and text.endswith(">")))


def _quoted(text: str) -> str:
    def escape(c: str) -> str:
        if c in _ESCAPED or not c.isprintable():
            return json.dumps(c)[1:-1] if ord(c) > 0xFFFF else f"\\u{ord(c):04x}"
        return c

    return "".join(escape(c) for c in json.dumps(text, ensure_ascii=False)[1:-1]).join('""')


def _scalar(text: str) -> Any:
    """``json:`` + a JSON number, boolean or null."""
    body = text[len(_JSON):]
    if body in _WORDS:
        return _WORDS[body]
    if _NUMBER.fullmatch(body):
        return Decimal(body)
    raise ValueError(f"{text!r}: after json: comes a number, true, false or null")


def _string(text: str) -> str:
    try:
        value, end = _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"unreadable quoted string {text!r}: {exc.msg}") from None
    if end != len(text) or not isinstance(value, str):
        raise ValueError(f"{text!r} is not one quoted string")
    return value


def _item(text: str) -> Any:
    if not text:
        raise ValueError("a list has an empty item (two '+' in a row?)")
    if text.startswith('"'):
        return _string(text)
    return _scalar(text) if text.startswith(_JSON) else text


def _items(text: str) -> tuple[Any, ...]:
    return tuple(_item(item) for item in text.split("+")) if text else ()


def read(text: str, kind: str | None) -> Any:
    """The value a spelling stands for in a field of ``kind`` (ValueError when it is malformed)."""
    for marker in Marker:
        if text == marker.value:
            return marker
    if text.startswith('"'):
        return _string(text)
    if text.startswith(_JSON):
        return _scalar(text)
    if text.startswith("[") and text.endswith("]"):
        return _items(text[1:-1])
    if kind == "list":
        return _items(text)
    if kind in ("boolean", None) and text in ("true", "false"):
        return _WORDS[text]
    if kind is None and text == "null":
        return None
    if kind in ("number", None) and _NUMBER.fullmatch(text):
        return Decimal(text)
    return text


def _reads_as(text: str, value: Any, reader: Callable[[str], Any]) -> bool:
    """Whether ``text`` is a spelling PICT leaves alone that reads back as ``value``."""
    try:
        return _safe(text) and token(reader(text)) == token(value)
    except ValueError:
        return False


def _spell_item(item: Any) -> str:
    if isinstance(item, tuple):
        raise ValueError("a list inside a list has no PICT spelling")
    if isinstance(item, str):
        return item if not any(c in "+[]" for c in item) and _reads_as(item, item, _item) else _quoted(item)
    return _JSON + token(item)


def spell(value: Any, kind: str | None) -> str:
    """The PICT text of a (normalised) value in a field of ``kind``: the field's own spelling when
    it reads back as the same value, else the explicit one."""
    value = normalise(value)
    if isinstance(value, Marker):
        return value.value
    if isinstance(value, tuple):
        items = "+".join(_spell_item(item) for item in value)
        return items if kind == "list" and _reads_as(items, value, lambda text: read(text, kind)) else f"[{items}]"
    natural = value if isinstance(value, str) else token(value)
    if _reads_as(natural, value, lambda text: read(text, kind)):
        return natural
    return _quoted(value) if isinstance(value, str) else _JSON + token(value)
