"""The model as the explorer's table, constraint and sub-model texts, and read back from what a person typed.

Every problem comes out as one ValueError naming the field (``transaction.amount: …``), the
constraint line (``constraint line 2: …``) or the sub-model line (``sub-model line 1: …``), so
the page shows it and keeps what was typed.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lib.qa.model import Dimension, Model, check_values
from lib.qa.pict import read_constraints, read_submodels
from lib.qa.values import Value, read_values


@dataclass(frozen=True)
class DimensionRow:
    """One row of the model table: the field, whether it is on, its values as comma-separated labels."""

    path: str
    enabled: bool
    values: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> DimensionRow:
        """A row as the table widget hands it back (an emptied cell may come back as None or NaN)."""
        values = record.get("values")
        empty = values is None or (isinstance(values, float) and math.isnan(values))
        return cls(str(record["path"]), bool(record["enabled"]), "" if empty else str(values))


def dimension_rows(model: Model) -> list[DimensionRow]:
    return [DimensionRow(d.path, d.enabled, ", ".join(v.label for v in d.values)) for d in model.dimensions]


def constraint_text(model: Model) -> str:
    """The model's constraints as PICT lines (the PICT export's constraint part)."""
    return "\n".join(c.pict for c in model.constraints)


def submodel_text(model: Model) -> str:
    """The model's sub-models as PICT lines (the PICT export's sub-model part)."""
    return "\n".join(m.pict for m in model.submodels)


def read_cell(path: str, text: str) -> list[Value]:
    """A dimension's values from its table cell; ValueError names the field."""
    try:
        values, _ = read_values(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    check_values(path, values)
    return values


def model_from_editor(base: Model, rows: Iterable[DimensionRow], constraints: str, submodels: str = "") -> Model:
    """The model the table, the constraint lines and the sub-model lines describe, over ``base``'s
    fields and payload."""
    edited = {row.path: row for row in rows}
    dimensions = [
        Dimension(d.path, read_cell(d.path, edited[d.path].values), edited[d.path].enabled) if d.path in edited else d
        for d in base.dimensions
    ]
    model = Model(dimensions, [], base.base)
    try:
        model = replace(model, constraints=read_constraints(constraints, model))
    except ValueError as exc:
        raise ValueError(f"constraint {exc}") from None
    try:
        return replace(model, submodels=read_submodels(submodels, model))
    except ValueError as exc:
        raise ValueError(f"sub-model {exc}") from None
