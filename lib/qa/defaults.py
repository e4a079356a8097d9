"""The QA explorer's default model, read from the one field description (:mod:`lib.fields.schema`).

Every leaf of :func:`lib.fields.schema.leaves` is a dimension, and its default values come from
its JSON Schema alone: each enum value, both booleans, an amount's bounds and its currency's
decimals, a pattern's length bounds, a format's ``examples`` and ``x-invalid-examples``, and
*negative* values the API must refuse. A new field in the schema is a new dimension here without
further code, and a changed rule (a bound, a currency's decimals, a new example) changes the
values with it.

What is a choice of the QA explorer rather than a fact about a field is named here: which
dimensions start switched on, the base payload's order id and typical amount, and the unknown
enum value every model tries.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lib.fields import dotted
from lib.fields.schema import AMOUNT, CURRENCY, ORDER_ID, Leaf, currency_decimals, leaf, leaves
from lib.qa.constraints import Constraint, literal, restrict
from lib.qa.model import Dimension, Model
from lib.qa.values import BASE, NOT_SENT, Value

BASE_ORDER_ID = "qa-order"  # each case replaces it with ``qa-<seed>-<index>``
TYPICAL_AMOUNT = Decimal("15.02")  # cut to the base currency's decimals
UNKNOWN = "xxx"  # the unknown enum value / payment method every default model tries
# ^[class]{low,high}$ — the shape of every length-bounded pattern in the schema
_QUANTIFIED = re.compile(r"^\^\[(?P<cls>[^\]]+)\]\{(?P<low>\d+)(?:,(?P<high>\d+))?\}\$$")

Values = tuple[list[Any], list[Any]]  # (valid values, values the API must refuse)


def default_base() -> dict[str, Any]:
    """The valid payload every case starts from: the required transaction fields, in the form's
    default currency, with an amount that currency can carry."""
    currency = leaf(CURRENCY).schema["x-form-default"]
    base: dict[str, Any] = {}
    dotted.put(base, ORDER_ID, BASE_ORDER_ID)
    dotted.put(base, AMOUNT, TYPICAL_AMOUNT.quantize(_minor_unit(currency)))
    dotted.put(base, CURRENCY, currency)
    return base


def _minor_unit(currency: Any) -> Decimal:
    """The smallest step of an amount in ``currency`` (0.01 for GBP, 1 for JPY)."""
    return Decimal(1).scaleb(-currency_decimals(currency))


def _amount_values(field: Leaf, base: Mapping[str, Any]) -> Values:
    """Just inside the bounds and the base's amount; below the minimum, one decimal more than the
    base's currency has, and the amount as text."""
    unit = _minor_unit(dotted.lookup(base, CURRENCY))
    typical = Decimal(dotted.lookup(base, AMOUNT))
    low, high = field.schema.get("minimum"), field.schema.get("exclusiveMaximum")
    positives: list[Any] = [*([Decimal(low) + unit] if low is not None else []), typical,
                            *([Decimal(high) - unit] if high is not None else [])]
    below = [Decimal(low) - 1] if low is not None else []
    return positives, [*below, typical + unit / 2, str(typical)]


def _pattern_values(schema: Mapping[str, Any]) -> Values:
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


def _example_values(field: Leaf) -> Values:
    """A format has no shape to derive values from: the field's ``examples`` and
    ``x-invalid-examples`` are its values. An example the object's ``then`` refuses (http while
    3-D Secure requires https) is a negative: the API refuses it in the cases that matter most."""
    conditional = field.then.get("pattern")
    positives: list[Any] = []
    refused: list[Any] = []
    for example in field.schema.get("examples", []):
        (refused if conditional and not re.search(conditional, example) else positives).append(example)
    return positives, [*refused, *field.schema.get("x-invalid-examples", [])]


def _string_values(field: Leaf) -> Values:
    schema = field.schema
    if "pattern" in schema:
        return _pattern_values(schema)
    if "format" in schema and "examples" in schema:
        return _example_values(field)
    empty: list[Any] = [""] if schema.get("minLength") else []
    longest = schema.get("maxLength")
    if longest is None:
        return ["qa"], empty
    return ["qa", "x" * longest], [*empty, "x" * (longest + 1)]


def _list_values(field: Leaf) -> Values:
    """A few valid subsets of an enum list (one, all, all but the first), or one list per item example."""
    items = field.schema["items"]
    if "enum" in items:
        options = items["enum"]
        positives: list[Any] = [options[:1], options, options[1:]]
        negatives: list[Any] = [[UNKNOWN]]
    else:
        positives = [[example] for example in items.get("examples", [])]
        negatives = [[example] for example in items.get("x-invalid-examples", [])]
    if field.schema.get("minItems"):
        negatives.append([])
    if field.schema.get("uniqueItems"):
        negatives.append(positives[0] * 2)
    return positives, negatives


def default_values(field: Leaf, base: Mapping[str, Any]) -> list[Value]:
    """Values derived from the field's schema: valid ones first, then ``<not sent>``, then negatives.

    A string field the base payload sets keeps the base's value (``<base>``) as its valid
    example, so each case's generated order id stays unique and traceable. ``<not sent>`` is a
    negative where the field's object requires it.
    """
    kind = field.kind
    positives: list[Any]
    negatives: list[Any]
    if kind == "enum":
        options = field.schema["enum"]
        upper = str(field.schema.get("x-form-default", options[0])).upper()
        positives, negatives = list(options), [v for v in (upper, UNKNOWN) if v not in options]
    elif kind == "boolean":
        positives, negatives = [True, False], ["yes"]
    elif kind == "number":
        positives, negatives = _amount_values(field, base)
    elif kind == "list":
        positives, negatives = _list_values(field)
    else:
        positives, negatives = _string_values(field)
        if dotted.lookup(base, field.path) not in (dotted.MISSING, None):  # base sets this field
            positives = [BASE]
    (negatives if field.required_in_object else positives).append(NOT_SENT)
    return [Value(v) for v in positives] + [Value(v, negative=True) for v in negatives]


def _only_if(field: Leaf, dimensions: Mapping[str, Dimension]) -> list[Constraint]:
    """``x-only-if``: not sent while its object's condition fails (3-D Secure off: no challenge
    fields), one constraint per other valid value of the field the condition tests."""
    if not field.schema.get("x-only-if") or field.condition is None:
        return []
    switch, wanted = field.condition
    not_sent = literal(field.path, dimensions[field.path].values, Value(NOT_SENT))
    return [restrict(switch, literal(switch, dimensions[switch].values, value), field.path, [not_sent])
            for value in dimensions[switch].positives if value != Value(wanted)]


def default_model() -> Model:
    """Every field as a dimension, the usual ones on, and the fields that apply only under a
    condition (3-D Secure's challenge fields) sent only when it holds."""
    base = default_base()
    fields = list(leaves())
    dimensions = {f.path: Dimension(f.path, default_values(f, base), f.qa_default)
                  for f in fields}
    constraints = [constraint for f in fields for constraint in _only_if(f, dimensions)]
    return Model(list(dimensions.values()), constraints, base)
