"""The QA explorer's model: which request fields vary, over which values, under which constraints.

A model is plain data over :mod:`lib.qa.values`: dimensions (one per request field, switched on
or off), PICT-style constraints between two of them, and the valid payload every case starts
from. Where its values come from by default is :mod:`lib.qa.defaults`' business.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lib.common import jsonutil
from lib.qa.values import BASE, NOT_SENT, Value, normalise, parse_label, token


@dataclass(frozen=True)
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


def check_values(path: str, values: Sequence[Value]) -> None:
    """The two rules every dimension's values keep, wherever they come from (the table, a PICT
    line, a model built in code): no value twice, and at least one that is not negative."""
    twice = duplicate(values)
    if twice is not None:
        raise ValueError(f"{path} lists {token(twice.value)} twice")
    if all(v.negative for v in values):
        raise ValueError(f"{path} needs at least one value that is not negative (without ~)")


def duplicate(values: Sequence[Value]) -> Value | None:
    """The first value listed twice (a value and its negative count as the same), if any."""
    seen: set[str] = set()
    for value in values:
        if token(value.value) in seen:
            return value
        seen.add(token(value.value))
    return None


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
        def unwrap(v: Any) -> Any:
            return v.value if isinstance(v, Value) else v

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


@dataclass(frozen=True)
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
