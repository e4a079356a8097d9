"""JSON that keeps amounts exact: numbers parse to Decimal and Decimals print as JSON numbers.

The standard library can read decimals (``parse_float``) but cannot write a Decimal as a bare
JSON number. Money on the wire is at most 15 significant digits, where a float's shortest repr
is the same decimal string, so writing goes through float only after proving that round trip.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as a Decimal; NaN and Infinity are refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        as_float = float(value)
        if not value.is_finite() or Decimal(repr(as_float)) != value:
            raise ValueError(f"{value} cannot be written as an exact JSON number")
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else as_float
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dumps(value: Any, *, pretty: bool = False) -> str:
    """Serialise with Decimals as JSON numbers; ``pretty`` indents for people to read."""
    if pretty:
        return json.dumps(_plain(value), indent=2, ensure_ascii=False, sort_keys=False)
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
