"""CreateValidator: exactly validate_create on any sequence of bodies, whatever it remembers between them."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.fields.parts import ANNOTATIONS
from lib.fields.schema import SESSION_SCHEMA, Leaf
from lib.fields.validation import (
    _FORMATS,
    _SESSION,
    CreateValidator,
    _problems,
    _under,
    _Validator,
    validate_create,
)
from tests.test_validation import LEAVES, invalid_value, valid_value

WRONG = [None, "", 12345, True, "yes", [], {}, 1.5, Decimal("1.23456789"), "x" * 300, "http://example.com/x",
         "http://example.com/" + "x" * 300]  # the last: too long, and not https where 3-D Secure is on
AMOUNTS = [Decimal("15"), Decimal("15.5"), Decimal("15.02"), Decimal("15.000001"), Decimal("-1"), Decimal("1E+12"),
           0, 15, 15.02, Decimal("0.10"), Decimal("0.1")]


def leaf_values(leaf: Leaf) -> st.SearchStrategy[Any]:
    """A valid value, one the schema lists (``examples``, ``x-invalid-examples``, its enum), or a wrong one."""
    listed = [*leaf.schema.get("examples", []), *leaf.schema.get("x-invalid-examples", []),
              *leaf.schema.get("enum", []), invalid_value(leaf)]
    extra = AMOUNTS if leaf.path == "transaction.amount" else ["jpy"] if leaf.path == "transaction.currency" else []
    return st.one_of(valid_value(leaf), st.sampled_from(listed + extra + WRONG))


def put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """A realistic body, mutated: leaves set or not (required ones mostly), 3-D Secure on or off with its
    challenge fields, unknown keys, an object replaced by a non-object, now and then no object at all."""
    body: dict[str, Any] = {}
    for leaf in LEAVES:
        if draw(st.integers(0, 9)) < (8 if leaf.required or leaf.path.startswith("tds.") else 2):
            put(body, leaf.path, draw(leaf_values(leaf)))
    if "tds" in body and draw(st.booleans()):
        body["tds"]["is_active"] = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.sampled_from([body, *(v for v in body.values() if isinstance(v, dict))]))
        where[draw(st.sampled_from(["unknown", "extra_1"]))] = draw(st.sampled_from(WRONG))
    if body and draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(sorted(body)))] = draw(st.sampled_from(WRONG))
    return body if draw(st.integers(0, 19)) else draw(st.sampled_from([[], "body", None, 7]))


@st.composite
def mixed(draw: st.DrawFn, pool: list[Any], depth: int = 2) -> Any:
    """One of ``pool``, or (objects) each key's value taken from one of them: bodies sharing parts."""
    dicts = [value for value in pool if isinstance(value, dict)]
    if depth == 0 or not dicts or draw(st.booleans()):
        return draw(st.sampled_from(pool))
    keys = list(dict.fromkeys(key for value in dicts for key in value))
    return {key: draw(mixed([value[key] for value in dicts if key in value], depth - 1))
            for key in keys if draw(st.integers(0, 5))}


@st.composite
def sequences(draw: st.DrawFn) -> list[Any]:
    """Bodies mixed from a few, some with a fresh order id as in a QA suite: parts repeat, wholes rarely."""
    pool = draw(st.lists(bodies(), min_size=1, max_size=4))
    sequence = []
    for index in range(draw(st.integers(1, 12))):
        body = draw(mixed(pool))
        if isinstance(body, dict) and isinstance(body.get("transaction"), dict) and draw(st.booleans()):
            body["transaction"] = {**body["transaction"], "order_id": f"qa-0-{index}"}
        sequence.append(body)
    return sequence


def test_one_validator_over_any_sequence_is_exactly_validate_create() -> None:
    hits = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(sequences())
    def check(sequence: list[Any]) -> None:
        validator = CreateValidator()
        for body in sequence:
            assert validator(body) == validate_create(body)
        hits.append(validator.hits)

    check()
    assert sum(hits) > 0


def test_a_suite_of_bodies_sharing_parts_is_answered_from_memory() -> None:
    body = {"transaction": {"order_id": "qa-0-0", "amount": Decimal("15.5"), "currency": "jpy"},
            "tds": {"is_active": True, "redirect_url": "http://example.com/back"}, "payment_methods": ["card"]}
    validator = CreateValidator()
    first = validator(body)
    again = validator({**body, "transaction": {**body["transaction"], "order_id": "qa-0-1"}})
    assert [p["parameter"] for p in first] == [p["parameter"] for p in again] == ["transaction.amount", "tds.redirect_url"]
    assert validator.hits == 4  # amount, currency, tds, payment_methods; the new order id is checked


# A body's ``obj`` and ``ok`` hold the same properties; ``ok``'s schema checks property by property.
PROPERTIES = {"a": {"type": "string", "maxLength": 2}, "b": {"type": "string"}}
OK = {"type": "object", "properties": PROPERTIES}
CHECKED_WHOLE = {
    "additionalProperties": {**OK, "additionalProperties": False},
    "patternProperties": {**OK, "patternProperties": {"^c": {"type": "string"}}},
    "dependentRequired": {**OK, "dependentRequired": {"a": ["b"]}},
    "allOf": {**OK, "allOf": [{"required": ["b"]}]},
    "$ref": {**OK, "$ref": "#/properties/ok"},
    "unknown keyword": {**OK, "x-new-rule": True},
    "if, properties, then": {"type": "object", "if": {"required": ["a"]}, "properties": PROPERTIES,
                             "then": {"required": ["b"]}},
}


@pytest.mark.parametrize("obj", CHECKED_WHOLE.values(), ids=CHECKED_WHOLE.keys())
def test_an_object_with_another_keyword_is_checked_whole(obj: dict[str, Any]) -> None:
    schema = {"type": "object", "required": ["obj"], "properties": {"obj": obj, "ok": OK}}
    jsonschema = _Validator(schema, format_checker=_FORMATS)
    validator = CreateValidator(schema)
    for b in ["1", "2", 3, "1"]:
        for body in [{"obj": {"a": "xyz", "b": b, "c": 1}, "ok": {"a": "xyz", "b": b}}, {"ok": {"a": "xyz"}}]:
            assert validator(body) == _problems(_under((), jsonschema.iter_errors(body)), schema)
    assert validator.hits == 8  # ok.a or a whole ok 7 times, the whole obj once: never obj.a on its own


def test_the_create_schema_is_checked_property_by_property() -> None:
    """Else a QA suite's check is slow again: a keyword added to one of these objects belongs in a list."""
    assert _SESSION.properties is not None
    assert [name for name, part in _SESSION.properties.items() if part.properties is not None] == [
        "transaction", "tds", "customer", "payment"]
    assert not ANNOTATIONS & set(_Validator.VALIDATORS)
    assert set(SESSION_SCHEMA) <= ANNOTATIONS | {"type", "required", "properties"}
