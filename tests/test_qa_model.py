"""QA model: typed values and their labels, payload building, constraints, JSON and PICT round trips."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.qa.defaults import default_model
from lib.qa.model import Constraint, Dimension, Model, build_payload
from lib.qa.pict import from_pict, to_pict
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


@st.composite
def models(draw: st.DrawFn, values: st.SearchStrategy = SIMPLE, max_dims: int = 5, all_enabled: bool = True) -> Model:
    """Small random models: 1-5 dimensions of 1-4 valid and 0-2 negative values, 0-3 constraints."""
    dimensions = []
    for i in range(draw(st.integers(1, max_dims))):
        positives, negatives = draw(st.integers(1, 4)), draw(st.integers(0, 2))
        raw = draw(st.lists(values, min_size=positives + negatives, max_size=positives + negatives, unique_by=token))
        dimensions.append(Dimension(
            f"qa.d{i}", [Value(v, negative=j >= positives) for j, v in enumerate(raw)],
            all_enabled or draw(st.booleans()) or i == 0,
        ))
    constraints = []
    for _ in range(draw(st.integers(0, 3)) if len(dimensions) > 1 else 0):
        a, b = draw(st.lists(st.sampled_from(dimensions), min_size=2, max_size=2, unique_by=lambda d: d.path))
        then = draw(st.lists(st.sampled_from(b.values), min_size=1, max_size=len(b.values), unique_by=lambda v: v.label))
        constraints.append(Constraint(a.path, draw(st.sampled_from(a.values)), b.path, then))
    return Model(dimensions, constraints, {"transaction": {"order_id": "qa", "amount": Decimal(1), "currency": "gbp"}})


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


def test_constraint_holds_on_partial_and_typed_assignments() -> None:
    rule = Constraint("tds.is_active", Value(False), "tds.challenge_preference", [NOT_SENT])
    assert rule.holds({"tds.is_active": Value(False), "tds.challenge_preference": Value(NOT_SENT)})
    assert not rule.holds({"tds.is_active": False, "tds.challenge_preference": "no_preference"})
    assert rule.holds({"tds.is_active": True, "tds.challenge_preference": "no_preference"})
    assert rule.holds({"tds.is_active": Value(0), "tds.challenge_preference": "no_preference"})  # 0 is not false
    assert rule.holds({"tds.is_active": False})


# ---- saving and PICT ------------------------------------------------------------------------------

def test_default_model_round_trips() -> None:
    model = default_model()
    assert Model.from_json(model.to_json()) == model
    assert from_pict(to_pict(model), model) == model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(values=TRICKY, all_enabled=False))
def test_random_models_round_trip_through_pict_and_json(model: Model) -> None:
    back = from_pict(to_pict(model), base=model)
    assert back == model and back.to_json() == model.to_json()
    assert Model.from_json(model.to_json()).to_json() == model.to_json()


def test_hand_written_pict_reads_bare_words() -> None:
    model = from_pict("transaction.currency: gbp, usd, ~GBP\nsave_card: true, <not sent>\n"
                      "IF [transaction.currency] = usd THEN [save_card] = true", default_model())
    assert [d.path for d in model.enabled()] == ["transaction.currency", "save_card"]
    assert model.dimension("transaction.currency").values == [Value("gbp"), Value("usd"), Value("GBP", True)]
    assert model.constraints == [Constraint("transaction.currency", "usd", "save_card", [True])]
    assert not model.dimension("customer.ip").enabled


@pytest.mark.parametrize(("line", "reason"), [
    ("transaction.amout: 1", "unknown field 'transaction.amout'"),
    ('transaction.amount: 1, "unterminated', "unreadable string"),
    ("transaction.amount: 1 2", "expected ','"),
    ("transaction.amount: 1, 1.0, ~1", "lists 1 twice"),
    ("transaction.amount: ~1", "at least one value that is not negative"),
    ("save_card: true\nsave_card: false", "listed twice"),
    ("no colon here", "expected 'field: value"),
    ("IF [save_card] = maybe THEN [tds.is_active] IN {true};", '"maybe" is not a value of save_card'),
    ("IF [save_card] = true THEN [nowhere] IN {true};", "unknown field 'nowhere'"),
    ("IF [save_card] = true THEN tds.is_active IN {true};", "expected [field]"),
    ("IF [save_card] = true THEN [tds.is_active] IN {true;", "expected ',' or '}'"),
    ("IF [save_card] = true THEN [tds.is_active] IN {true", "missing '}'"),
    ("IF [save_card] = true THEN [tds.is_active] IN {true} extra", "unexpected 'extra'"),
])
def test_bad_pict_names_the_line_and_the_reason(line: str, reason: str) -> None:
    text = "# comment\n\n" + line
    with pytest.raises(ValueError) as caught:
        from_pict(text, default_model())
    assert str(caught.value).startswith(f"line {text.count(chr(10)) + 1}: ") and reason in str(caught.value)
