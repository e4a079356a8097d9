"""The model as PICT model text and back, so QA can keep, diff and hand-edit it, and PICT itself reads it.

Parameter lines list the enabled dimensions, each value spelled by its field's type
(:mod:`lib.qa.spelling`: ``card+apple_pay`` is a list in ``payment_methods``, ``true`` a boolean
in ``save_card``); the sub-models follow (``{A, B, C} @ 3``), then the constraints in PICT's
grammar (:mod:`lib.qa.constraints`). Reading
takes what PICT takes (:mod:`lib.qa.pict_syntax`) and refuses, with the line and the reason, what
the model cannot hold or PICT would refuse: an unknown field, a value its field cannot read, a
number compared with a text field, a constraint naming a value its field does not have, a
sub-model naming a field the text does not list or an order above its number of fields. Fields a
text leaves out keep the base model's values, switched off.
"""
from __future__ import annotations

import copy

from lib.qa.constraints import Constraint, Judge, Literal
from lib.qa.model import Dimension, Model, SubModel, check_submodel, check_values
from lib.qa.pict_syntax import Parameter, PictError, RawSubModel, parse, parse_constraints, parse_submodel
from lib.qa.spelling import kind_of, read, spell
from lib.qa.values import Value

HEADER = ("# QA model for PICT (compare as pict /c does: letter case counts). Values are spelled by their "
          "field's type:\n# card+apple_pay is a list, \"...\" always a string, json:1 a number, "
          "<not sent> leaves the key out, <base> keeps the base payload's, ~ marks a value that must be refused.")


def to_pict(model: Model) -> str:
    """Enabled dimensions, the sub-models, then every constraint."""
    lines = [HEADER]
    lines += [f"{d.path}: {', '.join(spelled(d.path, v) for v in d.values)}" for d in model.enabled()]
    if model.submodels:
        lines.append("")
    lines += [m.pict for m in model.submodels]
    if model.constraints:
        lines.append("")
    lines += [c.pict for c in model.constraints]
    return "\n".join(lines) + "\n"


def spelled(path: str, value: Value) -> str:
    """A value as its field's PICT parameter line lists it."""
    return ("~" if value.negative else "") + spell(value.value, kind_of(path))


def from_pict(text: str, base: Model) -> Model:
    """The model ``text`` describes, over ``base``'s fields and payload; ValueError ``line N: reason``."""
    document = parse(text)
    known = {d.path for d in base.dimensions}
    listed: dict[str, list[Value]] = {}
    for parameter in document.parameters:
        if parameter.name not in known:
            raise PictError(parameter.line, f"unknown field {parameter.name!r}")
        if parameter.name in listed:
            raise PictError(parameter.line, f"{parameter.name} is listed twice")
        listed[parameter.name] = _values(parameter)
    dimensions = [Dimension(d.path, listed.get(d.path, list(d.values)), d.path in listed) for d in base.dimensions]
    model = Model(dimensions, [], copy.deepcopy(base.base))
    model = Model(dimensions, checked(document.constraints, model), model.base,
                  checked_submodels(document.submodels, model))
    if not listed:  # every field would be switched off; PICT too refuses a model without parameters
        raise PictError(1, "no field is listed: a PICT model has lines like 'field: value, value, ...'")
    return model


def read_constraints(text: str, model: Model) -> list[Constraint]:
    """Constraint lines alone (the editor's box), checked against ``model``'s fields and values."""
    return checked(parse_constraints(text), model)


def read_submodels(text: str, model: Model) -> list[SubModel]:
    """Sub-model lines alone (the editor's box), one per line, checked against ``model``'s enabled fields."""
    lines = [(number, line.strip()) for number, line in enumerate(text.split("\n"), start=1)]
    return checked_submodels([parse_submodel(number, line) for number, line in lines
                              if line and not line.startswith("#")], model)


def checked_submodels(raw: list[RawSubModel], model: Model) -> list[SubModel]:
    """The sub-models, once each groups enabled fields as PICT allows."""
    enabled = [d.path for d in model.enabled()]
    found = []
    for written in raw:
        submodel = SubModel(written.names, written.order)
        try:
            check_submodel(submodel, enabled)
        except ValueError as exc:
            raise PictError(written.line, f"sub-model {submodel.pict}: {exc}") from None
        found.append(submodel)
    return found


def _values(parameter: Parameter) -> list[Value]:
    kind = kind_of(parameter.name)
    try:
        values = [Value(read(raw.text, kind), raw.negative) for raw in parameter.values]
    except ValueError as exc:
        raise PictError(parameter.line, f"{parameter.name}: {exc}") from None
    try:
        check_values(parameter.name, values)
    except ValueError as exc:
        raise PictError(parameter.line, str(exc)) from None
    return values


def checked(constraints: list[tuple[int, Constraint]], model: Model) -> list[Constraint]:
    """The constraints, once each names known fields and compares them as PICT allows."""
    judge = Judge([], {d.path: d.values for d in model.dimensions})
    known = {d.path for d in model.dimensions}
    for line, constraint in constraints:
        for term in constraint.terms():
            for path in term.paths:
                if path not in known:
                    raise PictError(line, f"unknown field {path!r}")
            reason = _refusal(judge, term.path, term.op, term.operand)
            if reason:
                raise PictError(line, reason)
    return [constraint for _, constraint in constraints]


def _refusal(judge: Judge, path: str, op: str, operand: Literal | tuple[Literal, ...] | str) -> str | None:
    numeric = judge.is_numeric(path)
    kind = "numeric (all its values are numbers)" if numeric else "a text field"
    for field in (path, *([operand] if isinstance(operand, str) else [])):
        if judge.is_mixed(field):
            return (f"[{field}] has numbers for valid values and a text among its negatives: PICT reads a model "
                    "with and without its negatives and compares such a field with nothing (spell its negatives "
                    "as numbers, or leave it out of constraints)")
    if isinstance(operand, str):
        if operand == path:
            return f"[{path}] is compared with itself"
        if judge.is_numeric(operand) != numeric:
            return f"[{path}] is {kind} and [{operand}] is not: PICT compares only fields of one type"
        return None
    if op == "LIKE" and numeric:
        return f"[{path}] is {kind}: LIKE matches texts only"
    for item in operand if isinstance(operand, tuple) else (operand,):
        if item.quoted == numeric:
            wanted = "a number" if numeric else f"a quoted string (\"{item.text}\")"
            return f"[{path}] is {kind}: compare it with {wanted}, not {item.pict}"
        if op in ("=", "<>", "IN") and not judge.names_a_value(path, item):
            return f"{item.pict} is not a value of {path} (letter case counts)"
    return None
