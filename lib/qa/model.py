"""The QA explorer's model: which request fields vary, over which values, under which constraints.

Every leaf of :func:`lib.fields.schema.leaves` is a *dimension*; its default values are derived from the
field's JSON Schema (each enum value, both booleans, boundaries, and *negative* values the API
must refuse), so a new field in the schema is a new dimension here without further code.

A value's ``label`` is its typed text: JSON for ordinary values (``"gbp"``, ``15.02``, ``true``,
``["card"]``), ``<not sent>`` / ``<base>`` for the two markers, ``~`` in front of a negative. The
label is the one codec of the PICT text *and* of saved models, so typed values round-trip exactly,
and two values are the same value exactly when their labels match (``1`` ≠ ``1.0`` ≠ ``true``).
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fnmatch import fnmatch
from functools import cached_property
from typing import Any

from lib.fields import dotted
from lib.common import jsonutil
from lib.fields.schema import SESSION_SCHEMA, Leaf, leaves


class Marker(Enum):
    """Values that are not JSON: how a case treats the key rather than what it sends."""

    NOT_SENT = "<not sent>"  # the key is left out of the payload
    BASE = "<base>"  # the base payload's value is kept (e.g. the per-case unique order id)


NOT_SENT = Marker.NOT_SENT
BASE = Marker.BASE

UNKNOWN = "xxx"  # the unknown enum value / payment method every default model tries

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BARE = re.compile(r'[^\s,{}\[\];"]+')
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
# line breaks to str.splitlines that JSON leaves unescaped: a label must stay on its line
_LINE_BREAKS = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})


def normalise(value: Any) -> Any:
    """One representation per value: numbers as Decimal (never float), sequences as tuples.

    Tuples keep :class:`Value` immutable; :func:`build_payload` turns them back into lists.
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
    marker, or else a string (so hand-written PICT such as ``gbp, usd`` reads naturally).
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

    @property
    def label(self) -> str:
        """The PICT text: typed token, ``~`` in front when negative."""
        return ("~" if self.negative else "") + token(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Value) and self.label == other.label

    def __hash__(self) -> int:
        return hash(self.label)

    def __repr__(self) -> str:
        return f"Value({self.label})"


@dataclass
class Dimension:
    """A request field QA can switch on, and the values it takes in generated cases."""

    path: str
    values: list[Value]
    enabled: bool = False

    @property
    def positives(self) -> list[Value]:
        return [value for value in self.values if not value.negative]

    @property
    def negatives(self) -> list[Value]:
        return [value for value in self.values if value.negative]


@dataclass(frozen=True)
class Constraint:
    """PICT's ``IF [if_path] = if_value THEN [then_path] IN {then_values}``.

    A case that does not set one of the two paths satisfies it (partial cases are checked too).
    """

    if_path: str
    if_value: Any
    then_path: str
    then_values: list[Any]

    def __post_init__(self) -> None:
        unwrap = (lambda v: v.value if isinstance(v, Value) else v)
        object.__setattr__(self, "if_value", normalise(unwrap(self.if_value)))
        object.__setattr__(self, "then_values", [normalise(unwrap(v)) for v in self.then_values])

    @cached_property
    def _then_tokens(self) -> frozenset[str]:
        return frozenset(token(v) for v in self.then_values)

    def triggers(self, value: Any) -> bool:
        """Whether ``value`` of ``if_path`` puts the restriction in force."""
        return token(value) == token(self.if_value)

    def allows(self, value: Any) -> bool:
        """Whether ``value`` of ``then_path`` is allowed while the restriction is in force."""
        return token(value) in self._then_tokens

    def holds(self, assignment: Mapping[str, Any]) -> bool:
        """Whether path → value (raw or :class:`Value`) satisfies the constraint."""
        if self.if_path not in assignment or self.then_path not in assignment:
            return True
        raw = {path: v.value if isinstance(v, Value) else v for path, v in assignment.items()}
        return not self.triggers(raw[self.if_path]) or self.allows(raw[self.then_path])


@dataclass
class Model:
    """Dimensions (enabled or not), constraints, and the valid payload every case starts from."""

    dimensions: list[Dimension]
    constraints: list[Constraint] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)

    def enabled(self) -> list[Dimension]:
        return [dimension for dimension in self.dimensions if dimension.enabled]

    def dimension(self, path: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.path == path:
                return dimension
        raise KeyError(path)

    def to_json(self) -> str:
        """The whole model (disabled dimensions too) as JSON text, values as labels."""
        return jsonutil.dumps({
            "dimensions": [
                {"path": d.path, "enabled": d.enabled, "values": [v.label for v in d.values]} for d in self.dimensions
            ],
            "constraints": [
                {"if_path": c.if_path, "if_value": token(c.if_value), "then_path": c.then_path,
                 "then_values": [token(v) for v in c.then_values]}
                for c in self.constraints
            ],
            "base": self.base,
        })

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Inverse of :meth:`to_json`; ValueError when the text is not such a model."""
        try:
            data = jsonutil.loads(text)
            return cls(
                dimensions=[
                    Dimension(d["path"], [parse_label(label) for label in d["values"]], bool(d["enabled"]))
                    for d in data["dimensions"]
                ],
                constraints=[
                    Constraint(c["if_path"], parse_label(c["if_value"]), c["then_path"],
                               [parse_label(v) for v in c["then_values"]])
                    for c in data["constraints"]
                ],
                base=data["base"],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a saved QA model: {exc!r}") from None


def build_payload(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each dotted path set; NOT_SENT removes the key, BASE keeps base's.

    Removing a key leaves its (possibly empty) parent object: "not sent" concerns the key only.
    """
    payload = copy.deepcopy(dict(base))
    for path, value in values.items():
        if value is BASE:
            continue
        *parents, name = path.split(".")
        node = payload
        for parent in parents:
            if not isinstance(node.get(parent), dict):
                if value is NOT_SENT:
                    break
                node[parent] = {}
            node = node[parent]
        else:
            if value is NOT_SENT:
                node.pop(name, None)
            else:
                node[name] = _plain(value)
    return payload


def _plain(value: Any) -> Any:
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


# ---- the default model -------------------------------------------------------------------------

DEFAULT_ENABLED = (
    "transaction.*", "tds.is_active", "tds.challenge_preference", "tds.challenge_window_size",
    "tds.redirect_url", "payment_methods", "save_card",
)
AMOUNTS = ("0.01", "15.02", "999999.99")  # smallest, typical, largest with two decimals
BAD_AMOUNTS = ("1.234", )  # too many decimals; below the minimum and the wrong type are derived
HTTPS_EXAMPLE = "https://example.com/qa"
HTTP_EXAMPLE = "http://example.com/qa"
# format → (a valid example, values the format refuses)
FORMAT_EXAMPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "uri": (HTTPS_EXAMPLE, ("not a url", "https://example.com/" + "x" * 280)),
    "email": ("qa@example.com", ("not an email",)),
    "uuid-or-empty": ("3f2c8a4e-9b1d-4c7e-8a55-0d6b2e9f1a37", ("not-a-uuid",)),
    "date": ("1990-01-31", ("31/01/1990", "2999-01-01")),
    "base64": ("eyJyZWYiOiAxfQ==", ("not base64!",)),
    "ip-address": ("192.0.2.1", ("999.0.2.1",)),
}
# ^[class]{low,high}$ — the shape of every length-bounded pattern in the schema
_QUANTIFIED = re.compile(r"^\^\[(?P<cls>[^\]]+)\]\{(?P<low>\d+)(?:,(?P<high>\d+))?\}\$$")


def _parent_schema(path: str) -> dict[str, Any]:
    node = SESSION_SCHEMA
    for name in path.split(".")[:-1]:
        node = node["properties"][name]
    return node


def _https_only(leaf: Leaf) -> bool:
    """Whether the field must be https, always or conditionally (the tds ``then``)."""
    name = leaf.path.rsplit(".", 1)[-1]
    conditional = _parent_schema(leaf.path).get("then", {}).get("properties", {}).get(name, {})
    return "^https://" in (leaf.schema.get("pattern"), conditional.get("pattern"))


def _pattern_values(schema: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """A valid example and the refusals a ``^[class]{low,high}$`` pattern implies."""
    shape = _QUANTIFIED.match(schema["pattern"])
    examples = list(schema.get("examples", [])[:1])
    if shape is None:
        return examples, []
    allowed = re.compile(f"[{shape['cls']}]")
    low = int(shape["low"])
    high = int(shape["high"] or low)
    pad = next(c for c in "q1" if allowed.fullmatch(c))
    bad = next(c for c in " !" if not allowed.fullmatch(c))
    negatives: list[Any] = [""] if low else []
    if low >= 2:
        negatives.append(pad * (low - 1))
    negatives.append(pad * (high + 1))
    negatives.append((pad + bad + pad * high)[:min(max(low, 3), high)])
    return examples or [pad * min(high, max(low, 4))], negatives


def _string_values(leaf: Leaf) -> tuple[list[Any], list[Any]]:
    schema = leaf.schema
    if "pattern" in schema:
        return _pattern_values(schema)
    if schema.get("format") in FORMAT_EXAMPLES:
        example, negatives = FORMAT_EXAMPLES[schema["format"]]
        if schema["format"] != "uri":
            return [example], list(negatives)
        return ([example], [HTTP_EXAMPLE, *negatives]) if _https_only(leaf) else ([example, HTTP_EXAMPLE], list(negatives))
    empty: list[Any] = [""] if schema.get("minLength") else []
    longest = schema.get("maxLength")
    if longest is None:
        return ["qa"], empty
    return ["qa", "x" * longest], [*empty, "x" * (longest + 1)]


def _list_values(leaf: Leaf) -> tuple[list[Any], list[Any]]:
    """A few valid subsets of an enum list (one, all, all but the first), or one valid item."""
    items = leaf.schema["items"]
    if "enum" in items:
        options = items["enum"]
        positives: list[Any] = [options[:1], options, options[1:]]
        negatives: list[Any] = [[UNKNOWN]]
    else:
        positives, negatives = [[HTTPS_EXAMPLE]], ([[HTTP_EXAMPLE]] if items.get("pattern") == "^https://" else [])
    if leaf.schema.get("minItems"):
        negatives.append([])
    if leaf.schema.get("uniqueItems"):
        negatives.append(positives[0] * 2)
    return positives, negatives


def default_values(leaf: Leaf, base: Mapping[str, Any]) -> list[Value]:
    """Values derived from the field's schema: valid ones first, then ``<not sent>``, then negatives.

    A string field the base payload sets keeps the base's value (``<base>``) as its valid
    example, so each case's generated order id stays unique and traceable.
    """
    kind = leaf.kind
    if kind == "enum":
        options = leaf.schema["enum"]
        upper = str(leaf.schema.get("x-form-default", options[0])).upper()
        positives, negatives = list(options), [v for v in (upper, UNKNOWN) if v not in options]
    elif kind == "boolean":
        positives, negatives = [True, False], ["yes"]
    elif kind == "number":
        positives = [Decimal(a) for a in AMOUNTS]
        below = [Decimal(leaf.schema["minimum"]) - 1] if "minimum" in leaf.schema else []
        negatives = [*below, *(Decimal(a) for a in BAD_AMOUNTS), AMOUNTS[1]]
    elif kind == "list":
        positives, negatives = _list_values(leaf)
    else:
        positives, negatives = _string_values(leaf)
        if dotted.lookup(base, leaf.path) not in (dotted.MISSING, None):  # base sets this field
            positives = [BASE]
    name = leaf.path.rsplit(".", 1)[-1]
    required = name in _parent_schema(leaf.path).get("required", [])
    (negatives if required else positives).append(NOT_SENT)
    return [Value(v) for v in positives] + [Value(v, negative=True) for v in negatives]


def default_model() -> Model:
    """Every field as a dimension, the usual ones on, and 3-D Secure's challenge fields sent only when it is active."""
    base = {"transaction": {"order_id": "qa-order", "amount": Decimal(AMOUNTS[1]),
                            "currency": SESSION_SCHEMA["properties"]["transaction"]["properties"]["currency"]["x-form-default"]}}
    dimensions = [
        Dimension(leaf.path, default_values(leaf, base), any(fnmatch(leaf.path, p) for p in DEFAULT_ENABLED))
        for leaf in leaves()
    ]
    constraints = [
        Constraint("tds.is_active", False, f"tds.{name}", [NOT_SENT])
        for name in ("challenge_preference", "challenge_window_size")
    ]
    return Model(dimensions, constraints, base)


def duplicate(values: Sequence[Value]) -> Value | None:
    """The first value listed twice (a value and its negative count as the same), if any."""
    seen: set[str] = set()
    for value in values:
        if token(value.value) in seen:
            return value
        seen.add(token(value.value))
    return None
