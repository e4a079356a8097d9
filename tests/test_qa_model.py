"""QA model: typed values and their labels, payload building, constraints, JSON and PICT round trips."""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.common import jsonutil
from lib.qa.constraints import RELATIONS, Constraint, Expr, Judge, Literal, Logic, Not, Term, literal, numeric
from lib.qa.defaults import default_model
from lib.qa.model import Dimension, Model, SubModel, build_payload
from lib.qa.pict import from_pict, to_pict
from lib.qa.pict_syntax import parse
from lib.qa.values import BASE, NOT_SENT, Value, parse_label, token

# ---- random models (shared with test_qa_generate) -------------------------------------------------

SIMPLE = st.integers(0, 9).map(Decimal) | st.sampled_from(["a", "b", "c", True, False, NOT_SENT])
TRICKY = (
    st.text(max_size=12)
    | st.sampled_from(['a,b', 'say "hi"', "~x", "<not sent>", "[1]", "{x}", "IF", "  pad ", "true", "1.50", "back\\slash", "é ✓"])
    | st.booleans() | st.none() | st.just(NOT_SENT) | st.just(BASE)
    | st.integers(-10**6, 10**6) | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.lists(st.text(max_size=5) | st.integers(), max_size=3)
)


def mixed(dimension: Dimension) -> bool:
    """Numbers for its valid values, a text among its negatives."""
    return numeric(dimension.path, dimension.positives) != numeric(dimension.path, dimension.values)


@st.composite
def expressions(draw: st.DrawFn, dimensions: list[Dimension], depth: int = 2) -> Expr:
    """A random PICT predicate over the dimensions: every relation, IN, LIKE, field to field, NOT, AND, OR."""
    if depth and draw(st.integers(0, 3)) == 0:
        return Not(draw(expressions(dimensions, depth - 1)))
    if depth and draw(st.integers(0, 2)) == 0:
        items = draw(st.lists(expressions(dimensions, depth - 1), min_size=2, max_size=3))
        return Logic(draw(st.sampled_from(["AND", "OR"])), tuple(items))
    dim = draw(st.sampled_from(dimensions))
    is_numeric = numeric(dim.path, dim.values)
    peers = [d for d in dimensions if d.path != dim.path and numeric(d.path, d.values) == is_numeric
             and not mixed(d)]
    op = draw(st.sampled_from([*RELATIONS, "IN", *(["LIKE"] if not is_numeric else []), *(["field"] if peers else [])]))
    if op == "field":
        return Term(dim.path, draw(st.sampled_from(RELATIONS)), draw(st.sampled_from(peers)).path)
    named = [literal(dim.path, dim.values, v) for v in dim.values]
    if op == "IN":
        return Term(dim.path, op, tuple(draw(st.lists(st.sampled_from(named), min_size=1, max_size=3))))
    if op == "LIKE":
        text = draw(st.sampled_from(named)).text
        return Term(dim.path, op, Literal(draw(st.sampled_from([text, text[:1] + "*", "?" + text[1:], "*"])), True))
    if op in ("=", "<>") or draw(st.booleans()):
        return Term(dim.path, op, draw(st.sampled_from(named)))
    return Term(dim.path, op, Literal(str(draw(st.integers(-3, 12))), False) if is_numeric
                else Literal(draw(st.text("abcxyz ", min_size=1, max_size=4)), True))


@st.composite
def models(draw: st.DrawFn, values: st.SearchStrategy = SIMPLE, max_dims: int = 5, all_enabled: bool = True,
           paths: Sequence[str] = ()) -> Model:
    """Small random models: 1-5 dimensions of 1-4 valid and 0-2 negative values, 0-3 constraints in PICT's
    grammar; the dimensions are ``qa.d0``… (no field type) or, given ``paths``, those fields (typed)."""
    dimensions = []
    names = draw(st.permutations(paths)) if paths else [f"qa.d{i}" for i in range(max_dims)]
    for i in range(draw(st.integers(1, min(max_dims, len(names))))):
        positives, negatives = draw(st.integers(1, 4)), draw(st.integers(0, 2))
        raw = draw(st.lists(values, min_size=positives + negatives, max_size=positives + negatives, unique_by=token))
        dimensions.append(Dimension(
            names[i], [Value(v, negative=j >= positives) for j, v in enumerate(raw)],
            all_enabled or draw(st.booleans()) or i == 0,
        ))
    constraints = []
    comparable = [d for d in dimensions if not mixed(d)]  # PICT compares a mixed field with nothing
    for _ in range(draw(st.integers(0, 3)) if comparable else 0):
        then = draw(expressions(comparable))
        when = draw(st.none() | expressions(comparable))
        constraints.append(Constraint(then, when, draw(st.none() | expressions(comparable)) if when else None))
    enabled = [d.path for d in dimensions if d.enabled]
    submodels = []
    for _ in range(draw(st.integers(0, 2)) if len(enabled) >= 2 else 0):
        paths = draw(st.lists(st.sampled_from(enabled), min_size=2, max_size=len(enabled), unique=True))
        submodels.append(SubModel(tuple(paths), draw(st.none() | st.integers(1, len(paths)))))
    return Model(dimensions, constraints, {"transaction": {"order_id": "qa", "amount": Decimal(1), "currency": "gbp"}},
                 submodels)


# ---- values, payloads, constraints ----------------------------------------------------------------

def test_values_are_typed_by_label() -> None:
    assert Value(1) != Value(True) and Value(Decimal("1.0")) != Value(1) and Value(1.5) == Value(Decimal("1.5"))
    assert Value("15.02").label == '"15.02"' and Value(15.02, negative=True).label == "~15.02"
    assert Value(["card"]).label == '["card"]' and Value(NOT_SENT).label == "<not sent>"
    assert parse_label("gbp") == Value("gbp") and parse_label("~ true") == Value(True, negative=True)
    with pytest.raises(ValueError):
        Value(float("nan"))


def test_build_payload_sets_removes_and_keeps() -> None:
    base = {"transaction": {"order_id": "qa-7", "amount": 1}, "tds": {"is_active": True}}
    payload = build_payload(base, {"transaction.order_id": BASE, "transaction.amount": NOT_SENT,
                                   "customer.billing.email": "a@b.co", "payment_methods": ("card",),
                                   "customer.dob": NOT_SENT})
    assert payload == {"transaction": {"order_id": "qa-7"}, "tds": {"is_active": True},
                       "customer": {"billing": {"email": "a@b.co"}}, "payment_methods": ["card"]}
    assert base["transaction"] == {"order_id": "qa-7", "amount": 1}


@pytest.mark.parametrize("base", [{"transaction": {"order_id": "qa-order", "amount": 1}}, {}, {"transaction": "x"}])
@pytest.mark.parametrize("order_id", [BASE, NOT_SENT, "a", None])
def test_build_payload_applies_several_mappings_as_one_after_the_other(base: dict, order_id: Any) -> None:
    """What a QA case does: its order id, then its values (<base>, <not sent> or another order id)."""
    first, then = {"transaction.order_id": "qa-0-1"}, {"transaction.order_id": order_id, "tds.is_active": True}
    payload = build_payload(base, first, then)
    assert payload == build_payload(build_payload(base, first), then)
    assert payload["transaction"].get("order_id", NOT_SENT) == ("qa-0-1" if order_id is BASE else order_id)


def test_constraints_hold_on_partial_cases_in_three_valued_logic() -> None:
    model = default_model()
    judge = Judge(model.constraints, {d.path: d.values for d in model.dimensions})
    off, on = Value(False), Value(True)
    assert judge.allows({"tds.is_active": off, "tds.challenge_preference": Value(NOT_SENT)})
    assert not judge.allows({"tds.is_active": off, "tds.challenge_preference": Value("no_preference")})
    assert judge.allows({"tds.is_active": on, "tds.challenge_preference": Value("no_preference")})
    assert judge.allows({"tds.is_active": Value("yes", True), "tds.challenge_preference": Value("no_preference")})
    assert judge.allows({"tds.is_active": off})  # the challenge fields not chosen yet: not false
    either = Constraint(Logic("OR", (Term("save_card", "=", Literal("true", True)),
                                     Term("transaction.moto", "=", Literal("true", True)))))
    three = Judge([either], {d.path: d.values for d in model.dimensions})
    assert three.verdict(either, {"save_card": off}.get) is None
    assert three.verdict(either, {"save_card": off, "transaction.moto": off}.get) is False
    assert three.verdict(either, {"transaction.moto": on}.get) is True


# ---- saving and PICT ------------------------------------------------------------------------------

def test_default_model_round_trips() -> None:
    model = default_model()
    assert Model.from_json(model.to_json()) == model
    assert from_pict(to_pict(model), model) == model


# fields of every kind: their values are spelled by type (true, 15.02, card+apple_pay, gbp), others explicitly
TYPED = ("save_card", "transaction.amount", "payment_methods", "transaction.currency", "customer.reference")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(values=TRICKY, all_enabled=False) | models(values=TRICKY, all_enabled=False, paths=TYPED))
def test_random_models_round_trip_through_pict_and_json(model: Model) -> None:
    text = to_pict(model)
    # PICT splits at commas: every value must stay one value (none holds a comma, an alias bar or a weight)
    assert [len(p.values) for p in parse(text).parameters] == [len(d.values) for d in model.enabled()]
    back = from_pict(text, base=model)
    assert back == model and back.to_json() == model.to_json()
    assert Model.from_json(model.to_json()).to_json() == model.to_json()


def test_hand_written_pict_reads_values_by_their_fields_type() -> None:
    model = from_pict("transaction.currency: gbp, usd, ~GBP\nsave_card: true, <not sent>\n"
                      "payment_methods: card, card+apple_pay, ~[]\ncustomer.reference: \"15\", json:15\n"
                      'IF [transaction.currency] = "usd" THEN [save_card] = "true";', default_model())
    assert [d.path for d in model.enabled()] == ["transaction.currency", "customer.reference", "save_card",
                                                 "payment_methods"]  # the field description's order
    assert model.dimension("transaction.currency").values == [Value("gbp"), Value("usd"), Value("GBP", True)]
    assert model.dimension("save_card").values == [Value(True), Value(NOT_SENT)]
    assert model.dimension("payment_methods").values == [Value(["card"]), Value(["card", "apple_pay"]), Value([], True)]
    # "15" is the text 15, json:15 the number (a deliberately wrong type); a string field writes the text bare
    assert model.dimension("customer.reference").values == [Value("15"), Value(Decimal(15))]
    assert from_pict("customer.reference: 15", default_model()).dimension("customer.reference").values == [Value("15")]
    assert not model.dimension("customer.ip").enabled
    assert to_pict(model).splitlines()[2:] == [
        "transaction.currency: gbp, usd, ~GBP", "customer.reference: 15, json:15", "save_card: true, <not sent>",
        "payment_methods: card, card+apple_pay, ~[]", "",
        'IF [transaction.currency] = "usd" THEN [save_card] = "true";']


@pytest.mark.parametrize(("line", "reason"), [
    ("transaction.amout: 1", "unknown field 'transaction.amout'"),
    ('transaction.amount: 1, "unterminated', "unreadable quoted string"),
    ("transaction.amount: 1, 1.0, ~1", "lists 1 twice"),
    ("transaction.amount: ~1", "at least one value that is not negative"),
    ("transaction.amount: 1,, 2", "an empty value"),
    ("save_card: true\nsave_card: false", "listed twice"),
    ("no colon here", "expected 'field: value"),
    ("payment_methods: card++apple_pay", "empty item"),
    ("customer.reference: json:abc", "after json: comes a number"),
    ('IF [save_card] = "maybe" THEN [tds.is_active] IN {"true"};', '"maybe" is not a value of save_card'),
    ("IF [save_card] = maybe THEN [tds.is_active] IN {\"true\"};", "its texts are quoted (\"maybe\")"),
    ('IF [save_card] = "true" THEN [nowhere] IN {"true"};', "unknown field 'nowhere'"),
    ('IF [save_card] = "true" THEN tds.is_active IN {"true"};', "its texts are quoted"),
    ('IF [save_card] = "true" THEN [tds.is_active] IN {"true";', "expected }, found ';'"),
    ('IF [save_card] = "true" THEN [tds.is_active] IN {"true"', "expected }, found the end"),
    ('IF [save_card] = "true" THEN [tds.is_active] IN {"true"} extra', "unexpected 'extra'"),
    ('IF [save_card] = "true" THEN [tds.is_active] = "true"', "expected ;, found the end"),
    ("IF [save_card] = 1 THEN [tds.is_active] = \"true\";", "[save_card] is a text field: compare it with a quoted"),
    ('IF [save_card] = [tds.is_active] THEN [save_card] = [save_card];', "[save_card] is compared with itself"),
])
def test_bad_pict_names_the_line_and_the_reason(line: str, reason: str) -> None:
    text = "# comment\n\n" + line
    with pytest.raises(ValueError) as caught:
        from_pict(text, default_model())
    assert str(caught.value).startswith(f"line {text.count(chr(10)) + 1}: ") and reason in str(caught.value)


def test_a_model_saved_before_pict_constraints_still_reads() -> None:
    """Runs saved earlier keep ``{if_path, if_value, then_path, then_values}`` with value labels."""
    saved = jsonutil.loads(default_model().to_json())
    saved["constraints"] = [{"if_path": "tds.is_active", "if_value": "false", "then_path": "tds.challenge_preference",
                             "then_values": ["<not sent>", '"no_preference"']}]
    model = Model.from_json(jsonutil.dumps(saved))
    assert [c.pict for c in model.constraints] == [
        'IF [tds.is_active] = "false" THEN [tds.challenge_preference] IN {"<not sent>", "no_preference"};']
