"""The default QA model, read from the field description alone: each value is what the schema says."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from lib.fields.schema import AMOUNT, CURRENCY, SESSION_SCHEMA, currency_decimals, leaf, leaves
from lib.fields.validation import validate_create
from lib.qa import defaults
from lib.qa.defaults import default_base, default_model, default_values
from lib.qa.model import Dimension, build_payload
from lib.qa.values import parse_label

VALID_BASE = {"transaction": {"order_id": "qa-1", "amount": Decimal(15), "currency": "gbp"}, "tds": {"is_active": True}}


def labels(path: str) -> tuple[set[str], set[str]]:
    dim = default_model().dimension(path)
    return {v.label for v in dim.positives}, {v.label.lstrip("~") for v in dim.negatives}


def test_every_field_is_a_dimension_and_the_usual_ones_are_on() -> None:
    model = default_model()
    assert [d.path for d in model.dimensions] == [f.path for f in leaves()]
    enabled = {d.path for d in model.enabled()}
    assert {"transaction.order_id", "transaction.amount", "transaction.currency", "tds.is_active",
            "tds.challenge_preference", "tds.challenge_window_size", "tds.redirect_url", "payment_methods",
            "save_card"} <= enabled
    assert "customer.first_name" not in enabled and "company_domains" not in enabled
    enabled = {f.path for f in leaves() if f.qa_default}  # the description's x-qa-default: a usual session's fields
    assert {d.path for d in default_model().enabled()} == enabled
    assert {"transaction.amount", "tds.is_active", "tds.redirect_url", "payment_methods", "save_card"} <= enabled


def test_default_values_cover_the_brief() -> None:
    positives, negatives = labels("transaction.currency")
    assert len(positives) == 14 and {'"GBP"', '"xxx"'} <= negatives
    _, negatives = labels("transaction.order_id")
    assert {len(parse_label(n).value) for n in negatives if n.startswith('"')} >= {0, 1, 51}
    assert any(" " in parse_label(n).value for n in negatives if n.startswith('"'))
    positives, negatives = labels("tds.redirect_url")
    assert '"http://example.com/qa"' in negatives and '"not a url"' in negatives
    assert any(len(str(parse_label(n).value)) == 300 for n in negatives)
    assert labels("tds.is_active")[0] == {"true", "false"} and '"yes"' in labels("tds.is_active")[1]
    assert '["xxx"]' in labels("payment_methods")[1] and len(labels("payment_methods")[0]) >= 3
    assert labels("company_domains")[1] == {'["http://example.com/qa"]'}
    assert '"http://example.com/qa"' in labels("webhook_url")[0]  # https is only required under 3-D Secure


def test_amounts_follow_the_currency_decimals_and_the_bounds() -> None:
    schema = leaf(AMOUNT).schema
    positives, negatives = labels(AMOUNT)
    assert positives == {"0.01", "15.02", str(schema["exclusiveMaximum"] - Decimal("0.01"))}
    assert negatives == {"-1", "15.025", '"15.02"', "<not sent>"}  # below the minimum, 3 decimals, text, missing


@pytest.mark.parametrize("currency", ["jpy", "gbp"])
def test_a_base_in_another_currency_derives_its_amounts_from_that_currency(currency: str) -> None:
    base = copy.deepcopy(default_base())
    base["transaction"] |= {"currency": currency, "amount": Decimal(15)}
    values = default_values(leaf(AMOUNT), base)
    unit = Decimal(1).scaleb(-currency_decimals(currency))
    assert values[0].value == unit and values[2].value == Decimal(10**12) - unit
    too_precise = next(v for v in values if v.negative and isinstance(v.value, Decimal) and v.value > 0)
    assert -too_precise.value.as_tuple().exponent == currency_decimals(currency) + 1
    for value in values:  # each is accepted or refused on the amount alone, as it claims
        problems = validate_create(build_payload(base, {AMOUNT: value.value}))
        assert [p["parameter"] for p in problems] == ([AMOUNT] if value.negative else []), value.label


def test_the_base_is_the_forms_default_currency_and_a_typical_amount() -> None:
    base = default_base()
    assert base["transaction"]["currency"] == leaf(CURRENCY).schema["x-form-default"]
    assert base["transaction"]["amount"] == defaults.TYPICAL_AMOUNT and validate_create(base) == []


def test_format_values_are_the_fields_examples() -> None:
    """The values of a format field are its schema's ``examples`` and ``x-invalid-examples``, nothing else."""
    for f in leaves():
        if "format" in f.schema and "examples" in f.schema and "pattern" not in f.schema:
            positives, negatives = labels(f.path)
            examples = {f'"{e}"' for e in f.schema["examples"]} | {f'"{e}"' for e in f.schema["x-invalid-examples"]}
            assert (positives | negatives) - {"<not sent>"} == examples, f.path


def test_conditional_fields_are_left_out_when_their_condition_fails() -> None:
    """``x-only-if`` on the challenge fields and the tds object's ``if`` give the default constraints."""
    tds = SESSION_SCHEMA["properties"]["tds"]
    only_if = [f"tds.{name}" for name, sub in tds["properties"].items() if sub.get("x-only-if")]
    assert only_if == ["tds.challenge_preference", "tds.challenge_window_size"]
    assert [c.pict for c in default_model().constraints] == [
        f'IF [tds.is_active] = "false" THEN [{path}] = "<not sent>";' for path in only_if]


@pytest.mark.parametrize("dim", default_model().dimensions, ids=lambda d: d.path)
def test_each_default_value_alone_is_accepted_or_refused_on_its_own_path(dim: Dimension) -> None:
    """Derived negatives really break the rule they aim at, and only that; valid values really are."""
    for value in dim.values:
        problems = validate_create(build_payload(VALID_BASE, {dim.path: value.value}))
        assert [p["parameter"] for p in problems] == ([dim.path] if value.negative else []), value.label
