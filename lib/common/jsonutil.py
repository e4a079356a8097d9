"""JSON that keeps numbers exact and never loses what an API answered.

Why it is built this way:
- Amounts are money: numbers parse to Decimal (integers of more digits than Python converts
  parse to Decimal too), and a Decimal is written as its own exact digits, never through a float.
  The standard library cannot write a Decimal as a bare JSON number, so ``dumps`` is a small
  writer of its own; its output matches ``json.dumps`` for everything else.
- Whatever is read or written is bounded in depth (``MAX_DEPTH``): every consumer of the values
  (redaction, merging, validation) recurses, and a hostile body of 10,000 levels must be refused
  with a ``ValueError`` like any other bad JSON, not crash with a ``RecursionError``.
- What is written must be storable text: a lone surrogate (``"\\ud800"`` is valid JSON) cannot be
  encoded as UTF-8, so ``dumps`` refuses it rather than let SQLite or a hash fail later.
- An answer of the API is evidence even when it is not JSON we can keep: ``read_answer`` keeps its
  raw text under a marker, and still reads the top-level members it can (the session id).
"""
from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

# json's own string scanner (the C one where built), which typeshed does not declare.
from json.decoder import scanstring  # type: ignore[attr-defined]
from json.encoder import encode_basestring
from math import isfinite
from typing import Any, cast

MAX_DEPTH = 100
# Bodies from outside (requests to the sandbox, answers of the API) are wrapped in envelopes
# later (log details, sandbox views), so they get a lower bound that leaves room for those.
BODY_MAX_DEPTH = 32
# Python refuses to convert integers longer than this (CVE-2020-10735 limit is 4300 digits).
_INT_DIGITS = 4000
UNPARSED = "unparsed_body"
UNPARSED_BASE64 = "unparsed_body_base64"
_WHITESPACE = " \t\n\r"


class TooDeep(ValueError):
    """Nested deeper than allowed (a ValueError, like any other JSON that cannot be used)."""


class LoneSurrogate(ValueError):
    """A string with a lone surrogate: valid JSON escapes, but not Unicode text UTF-8 can carry."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond what Decimal holds (1e99999999999999999999)
        raise ValueError(f"{text[:40]} is not a number that can be kept exactly") from None


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text) <= _INT_DIGITS else _decimal(text)


def depth(value: Any) -> int:
    """How many containers are nested in ``value`` (a scalar is 0, ``{"a": []}`` is 2); iterative."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON with every non-integer number as a Decimal; NaN and Infinity are refused, and so
    is anything nested deeper than ``max_depth`` (ValueError in every case)."""
    try:
        value = json.loads(text, parse_float=_decimal, parse_int=_integer, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep(f"nested more than {max_depth} levels deep") from None
    if depth(value) > max_depth:
        raise TooDeep(f"nested more than {max_depth} levels deep")
    return value


def inexact_numbers(value: Any) -> list[str]:
    """The dotted paths of the numbers in ``value`` a float (an IEEE double) does not carry
    exactly: what an API that parses numbers as doubles would misread. Iterative, like ``depth``;
    a list item is reported at its list's path."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}" if path else str(key), sub) for key, sub in item.items())
        elif isinstance(item, list):
            stack.extend((path, sub) for sub in item)
        elif isinstance(item, Decimal) and (
                not item.is_finite() or not isfinite(float(item)) or Decimal(repr(float(item))) != item):
            found.append(path or "body")
    return sorted(set(found))


def number_text(value: Decimal) -> str:
    """A Decimal as an exact JSON number (``str`` of a finite Decimal always is one)."""
    if not value.is_finite():
        raise ValueError(f"{value} cannot be written as a JSON number")
    return str(value)


def _write(value: Any, out: list[str], indent: str | None, level: int) -> None:
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        out.append(number_text(value))
    elif isinstance(value, float):
        if not isfinite(value):
            raise ValueError(f"{value} is not a JSON number")
        out.append(float.__repr__(value))
    elif (mapping := type(value) is dict or isinstance(value, Mapping)) or isinstance(value, (list, tuple)):
        if level >= MAX_DEPTH:
            raise TooDeep(f"nested more than {MAX_DEPTH} levels deep")
        items: Collection[Any] = cast(Mapping[Any, Any], value).items() if mapping else value
        if not items:
            out.append("{}" if mapping else "[]")
            return
        inner = None if indent is None else "\n" + indent * (level + 1)
        out.append("{" if mapping else "[")
        for n, item in enumerate(items):
            if n:
                out.append(",")
            if inner is not None:
                out.append(inner)
            if mapping:
                key, item = item
                if not isinstance(key, str):
                    raise TypeError(f"keys must be str, not {type(key).__name__}")
                out.append(encode_basestring(key))
                out.append(":" if indent is None else ": ")
            _write(item, out, indent, level + 1)
        if indent is not None:
            out.append("\n" + indent * level)
        out.append("}" if mapping else "]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, pretty: bool = False) -> str:
    """Serialise with Decimals as their exact digits; ``pretty`` indents for people to read.

    ValueError for what JSON text cannot carry faithfully: NaN or infinities, nesting deeper than
    ``MAX_DEPTH``, a string with a lone surrogate (not encodable as UTF-8).
    """
    out: list[str] = []
    _write(value, out, "  " if pretty else None, 0)
    text = "".join(out)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LoneSurrogate(f"contains a lone surrogate (U+{ord(text[exc.start]):04X}), which UTF-8 cannot carry") \
                from None
    return text


@dataclass(frozen=True)
class Answer:
    """A body as it can be recorded, and what could be read from it.

    ``recorded`` is the JSON value when it can be written back exactly, else a marker
    ``{"unparsed_body": raw text, "reason": ...}`` (``unparsed_body_base64`` when the bytes are not
    UTF-8). ``members`` are the top-level members of an object body that could be read exactly,
    even when others could not (so a session id is never lost to a hostile neighbour).
    """

    recorded: Any
    members: dict[str, Any] = field(default_factory=dict)
    unparsed_reason: str | None = None  # why the body is kept as raw text (None: it was parsed)


def read_answer(raw: bytes, *, max_depth: int = BODY_MAX_DEPTH) -> Answer:
    """What to record of a body received from outside, never raising (see :class:`Answer`)."""
    if not raw:
        return Answer(None)
    try:
        text = raw.decode("utf-8")  # JSON on the wire is UTF-8 (RFC 8259)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        # Members read from a lossy decoding are kept only where the loss did not touch them.
        members = salvage_members(raw.decode("utf-8", "replace"), max_depth)
        members = {k: v for k, v in members.items() if "\ufffd" not in dumps({k: v})}
        return Answer({UNPARSED_BASE64: base64.b64encode(raw).decode("ascii"), "reason": reason}, members, reason)
    try:
        value = loads(text, max_depth=max_depth)
        dumps(value)
    except ValueError as exc:
        reason = f"not JSON that can be kept exactly: {exc}"
        return Answer({UNPARSED: text, "reason": reason}, salvage_members(text, max_depth), reason)
    return Answer(value, value if isinstance(value, dict) else {})


def salvage_members(text: str, max_depth: int = BODY_MAX_DEPTH) -> dict[str, Any]:
    """The top-level members of a JSON object text whose values read and write back exactly.

    Members that do not (too deep, a lone surrogate, a malformed value) are stepped over without
    being parsed, so one hostile value costs only itself; reading stops at the first break in the
    object's own syntax, keeping what came before it.
    """
    members: dict[str, Any] = {}
    i = _skip_space(text, 0)
    if text.startswith("\ufeff", i):
        i = _skip_space(text, i + 1)
    if not text.startswith("{", i):
        return members
    i += 1
    while True:
        i = _skip_space(text, i)
        if not text.startswith('"', i):
            return members
        try:
            key, i = scanstring(text, i + 1)
        except ValueError:
            return members
        i = _skip_space(text, i)
        if not text.startswith(":", i):
            return members
        start = _skip_space(text, i + 1)
        end = _value_end(text, start)
        if end is None:
            return members
        try:
            value = loads(text[start:end], max_depth=max_depth)
            dumps({key: value})
        except ValueError:
            pass
        else:
            members[key] = value
        i = _skip_space(text, end)
        if not text.startswith(",", i):
            return members
        i += 1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _value_end(text: str, i: int) -> int | None:
    """Where the JSON value starting at ``i`` ends, found without parsing it (brackets counted,
    strings skipped); None when the text ends first."""
    level = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            try:
                _, i = scanstring(text, i + 1)
            except ValueError:
                return None
            if level == 0:
                return i
            continue
        if ch in "[{":
            level += 1
        elif ch in "]}":
            if level == 0:
                return i
            level -= 1
            if level == 0:
                return i + 1
        elif level == 0 and (ch == "," or ch in _WHITESPACE):
            return i
        i += 1
    return None if level else i
