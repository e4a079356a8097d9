"""The QA explorer's model: which request fields vary, over which values, under which constraints.

A model is plain data over :mod:`lib.qa.values`: dimensions (one per request field, switched on
or off), PICT constraints over them (:mod:`lib.qa.constraints`), sub-models (fields whose
combinations a suite covers at a strength of their own), and the valid payload every case starts
from. Where its values come from by default is :mod:`lib.qa.defaults`' business.
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
class SubModel:
    """Fields whose value combinations a suite covers at ``strength`` (None: the suite's own), on
    top of the suite's strength over every field: 3-way over the 3-D Secure fields, pairwise
    elsewhere. PICT spells it ``{A, B, C} @ 3``."""

    paths: tuple[str, ...]
    strength: int | None = None

    @property
    def pict(self) -> str:
        order = "" if self.strength is None else f" @ {self.strength}"
        return "{ " + ", ".join(self.paths) + " }" + order

    def strength_at(self, suite_strength: int) -> int:
        """The strength it is covered at inside a suite of ``suite_strength`` (never above its size)."""
        return min(len(self.paths), suite_strength if self.strength is None else self.strength)


def check_submodel(submodel: SubModel, enabled: Sequence[str]) -> None:
    """PICT's rules for a sub-model: at least two fields, each enabled and named once, an order
    between 1 and the number of its fields. ValueError with the reason."""
    if len(submodel.paths) < 2:
        raise ValueError("a sub-model groups at least two fields")
    for path in submodel.paths:
        if path not in enabled:
            raise ValueError(f"{path} is not an enabled field of the model")
    if len(set(submodel.paths)) != len(submodel.paths):
        raise ValueError("a sub-model names each field once")
    if submodel.strength is not None and not 1 <= submodel.strength <= len(submodel.paths):
        raise ValueError(f"its order must be between 1 and its {len(submodel.paths)} fields, not {submodel.strength}")


@dataclass(frozen=True)
class Model:
    """Dimensions (enabled or not), constraints, sub-models, and the valid payload every case starts from."""

    dimensions: list[Dimension]
    constraints: list[Constraint] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)
    submodels: list[SubModel] = field(default_factory=list)

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
            "submodels": [{"paths": list(m.paths), "strength": m.strength} for m in self.submodels],
            "base": self.base,
        })

    @classmethod
    def from_json(cls, text: str) -> Model:
        """Inverse of :meth:`to_json` (a model saved before sub-models has none); ValueError when
        the text is not such a model."""
        try:
            data = jsonutil.loads(text)
            dimensions = [Dimension(d["path"], [parse_label(label) for label in d["values"]], bool(d["enabled"]))
                          for d in data["dimensions"]]
            values = {d.path: d.values for d in dimensions}
            submodels = [SubModel(tuple(m["paths"]), m["strength"]) for m in data.get("submodels", [])]
            return cls(dimensions, [_saved_constraint(c, values) for c in data["constraints"]], data["base"], submodels)
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


def build_payload(base: Mapping[str, Any], *values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each dotted path set, one mapping after the other (one copy, however
    many); NOT_SENT removes the key, BASE keeps what is there (base's, or an earlier mapping's).

    Removing a key leaves its (possibly empty) parent object: "not sent" concerns the key only.
    """
    payload = copy.deepcopy(dict(base))
    for path, value in (item for mapping in values for item in mapping.items()):
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
