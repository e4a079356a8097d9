"""The QA explorer's model: which request fields vary, over which values, under which constraints.

A model is plain data over :mod:`lib.qa.values`: dimensions (one per request field, switched on
or off), PICT constraints over them (:mod:`lib.qa.constraints`), and the valid payload every case
starts from. Where its values come from by default is :mod:`lib.qa.defaults`' business.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.common import jsonutil
from lib.qa.constraints import Constraint, literal, restrict
from lib.qa.pict_syntax import parse_constraints
from lib.qa.values import BASE, NOT_SENT, Value, parse_label, token


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
            "constraints": [c.pict for c in self.constraints],
            "base": self.base,
        })

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Inverse of :meth:`to_json`; ValueError when the text is not such a model."""
        try:
            data = jsonutil.loads(text)
            dimensions = [Dimension(d["path"], [parse_label(label) for label in d["values"]], bool(d["enabled"]))
                          for d in data["dimensions"]]
            values = {d.path: d.values for d in dimensions}
            return cls(dimensions, [_saved_constraint(c, values) for c in data["constraints"]], data["base"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a saved QA model: {exc!r}") from None


def _saved_constraint(saved: Any, values: Mapping[str, list[Value]]) -> Constraint:
    """A constraint as saved: its PICT text, or (runs saved before constraints were PICT's whole
    grammar) ``{if_path, if_value, then_path, then_values}`` with value labels."""
    if isinstance(saved, str):
        return parse_constraints(saved)[0][1]

    def named(path: str, label: str) -> Any:
        return literal(path, values[path], parse_label(label))

    return restrict(saved["if_path"], named(saved["if_path"], saved["if_value"]), saved["then_path"],
                    [named(saved["then_path"], label) for label in saved["then_values"]])


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
