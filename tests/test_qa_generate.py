"""QA generation, checked against brute force on random models and against validate_create on the default one."""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from itertools import combinations, product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.fields.validation import validate_create
from lib.qa import space
from lib.qa.allpairs import Yardstick, allpairspy_suite, measure, positives_only
from lib.qa.constraints import Judge
from lib.qa.defaults import default_model
from lib.qa.generate import CONFIRM_ABOVE, FULL_LIMIT, PLACING, coverage_of, full_product_size, generate
from lib.qa.model import Dimension, Model
from lib.qa.negatives import NegativeRule
from lib.qa.suite import Suite, disagreements
from lib.qa.values import Value
from tests.test_qa_model import models

PROPERTIES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_cases(model: Model, negative: tuple[str, Value] | None = None) -> list[dict[str, Value]]:
    """Brute force: every complete case of non-negative values (one given negative) the constraints allow."""
    dims = model.enabled()
    options = [[negative[1]] if negative and d.path == negative[0] else d.positives for d in dims]
    cases = [dict(zip((d.path for d in dims), values, strict=True)) for values in product(*options)]
    return [case for case in cases if holds(model, case)]


def holds(model: Model, case: dict[str, Value]) -> bool:
    return Judge(model.constraints, {d.path: d.values for d in model.enabled()}).allows(case)


def covered_sets(model: Model, t: int) -> list[tuple[str, ...]]:
    """The field sets a suite of strength t covers: every t fields, and every s fields of a sub-model
    covered at s > t (a t-set inside one is covered with it, so not counted apart)."""
    paths = sorted(d.path for d in model.enabled())
    larger = {tuple(sorted(c)) for m in model.submodels if m.strength_at(t) > t
              for c in combinations(m.paths, m.strength_at(t))}
    return [c for c in combinations(paths, t) if not any(set(c) <= set(big) for big in larger)] + sorted(larger)


def allowed_tuples(model: Model, t: int) -> set[tuple[tuple[str, str], ...]]:
    """Brute force: the tuples of non-negative values of each covered set that some choice of the
    other constrained fields allows."""
    dims = {d.path: d for d in model.enabled()}
    constrained = {path for c in model.constraints if set(c.paths) <= set(dims) for path in c.paths}
    found = set()
    for paths in covered_sets(model, t):
        chosen = [dims[p] for p in paths]
        others = [d for d in dims.values() if d.path in constrained and d not in chosen]
        for values in product(*(d.positives for d in chosen)):
            fixed = {d.path: v for d, v in zip(chosen, values, strict=True)}
            if any(holds(model, {**fixed, **dict(zip((d.path for d in others), rest, strict=True))})
                   for rest in product(*(d.positives for d in others))):
                found.add(tuple(sorted((path, v.label) for path, v in fixed.items())))
    return found


def tuples(cases: list[dict[str, Value]], model: Model, t: int) -> set[tuple[tuple[str, str], ...]]:
    """The tuples of the covered sets in cases without a negative: a refused request exercises nothing else."""
    return {
        tuple((path, case[path].label) for path in paths)
        for case in cases for paths in covered_sets(model, t)
        if not any(value.negative for value in case.values())
    }


def allowed_negative_pairs(model: Model) -> set[tuple[str, str, str, str]]:
    """Brute force: each negative with each valid value of another field that some choice of the
    other constrained fields allows."""
    dims = model.enabled()
    enabled = {d.path for d in dims}
    constrained = {path for c in model.constraints if set(c.paths) <= enabled for path in c.paths}
    found = set()
    for d in dims:
        for other in (o for o in dims if o is not d):
            rest = [r for r in dims if r.path in constrained and r not in (d, other)]
            for negative, value in product(d.negatives, other.positives):
                fixed = {d.path: negative, other.path: value}
                if any(holds(model, {**fixed, **dict(zip((r.path for r in rest), values, strict=True))})
                       for values in product(*(r.positives for r in rest))):
                    found.add((d.path, negative.label, other.path, value.label))
    return found


def negative_pairs(cases: list[dict[str, Value]]) -> set[tuple[str, str, str, str]]:
    return {(path, value.label, other, partner.label) for case in cases for path, value in case.items() if value.negative
            for other, partner in case.items() if other != path}


def generable(model: Model) -> bool:
    """Whether some valid case exists and every negative fits into one."""
    return bool(valid_cases(model)) and all(
        valid_cases(model, (d.path, v)) for d in model.enabled() for v in d.negatives
    )


def check_suite(model: Model, suite: Suite, t: int, negative_rule: str = "smallest") -> None:
    """Constraints hold in every case, at most one negative each, every allowed t-tuple in a case
    without a negative, every negative somewhere (beside every allowed valid value under PICT's
    rule), and the coverage report says so."""
    cases = [case.values for case in suite.cases]
    for case in suite.cases:
        assert holds(model, case.values)
        negatives = [path for path, value in case.values.items() if value.negative]
        assert len(negatives) <= 1 and case.negative_path == (negatives[0] if negatives else None)
    allowed = allowed_tuples(model, t)
    assert tuples(cases, model, t) >= allowed
    assert suite.coverage is not None
    assert (suite.coverage.covered, suite.coverage.possible, suite.coverage.percent) == (len(allowed), len(allowed), 100.0)
    seen = {(path, value.label) for case in cases for path, value in case.items()}
    assert all((d.path, v.label) in seen for d in model.enabled() for v in d.negatives)
    wanted, held = allowed_negative_pairs(model), negative_pairs(cases)
    assert held <= wanted  # a case the constraints allow holds only allowed pairs
    if negative_rule == "pict":
        assert held == wanted
    assert (suite.coverage.negative_rule, suite.coverage.negative_pairs, suite.coverage.negative_pairs_possible) == (
        negative_rule, len(held), len(wanted))


@PROPERTIES
@given(models(), st.integers(0, 3))
def test_pairwise_on_random_models(model: Model, seed: int) -> None:
    if not generable(model):
        with pytest.raises(ValueError, match="constraints"):
            generate(model, seed=seed)
        return
    suite = generate(model, seed=seed)
    check_suite(model, suite, min(2, len(model.enabled())))
    again = generate(model, seed=seed)
    assert [c.values for c in again.cases] == [c.values for c in suite.cases]
    assert [c.payload for c in again.cases] == [c.payload for c in suite.cases]


@PROPERTIES
@given(models(), st.integers(0, 3))
def test_pict_negative_rule_on_random_models(model: Model, seed: int) -> None:
    if generable(model):
        check_suite(model, generate(model, seed=seed, negative_rule="pict"), min(2, len(model.enabled())), "pict")


@PROPERTIES
@given(models(), st.integers(0, 3), st.sampled_from(["smallest", "pict"]))
def test_single_values_on_random_models(model: Model, seed: int, rule: NegativeRule) -> None:
    """Strength 1 is covered column by column: as valid and as complete, and without constraints
    or sub-models exactly as many valid cases as the field with most valid values has."""
    if not generable(model):
        return
    suite = generate(model, strength=1, seed=seed, negative_rule=rule)
    check_suite(model, suite, 1, rule)
    valid = [c for c in suite.cases if c.negative_path is None]
    if not model.submodels and not any(set(c.paths) <= {d.path for d in model.enabled()} for c in model.constraints):
        assert len(valid) == max(len(d.positives) for d in model.enabled())


def test_progress_under_the_pict_rule_counts_every_case_once_in_order() -> None:
    """Each negative's rows are made apart, then joined: the count goes on from the rows before them."""
    seen: list[int] = []
    suite = generate(default_model(), negative_rule="pict",
                     progress=lambda what, done, total: seen.append(done) if what == PLACING else None)
    assert seen == sorted(seen) and 0 < seen[-1] < len(suite.cases)
    assert len(seen) > 30  # at least a step per negative


@PROPERTIES
@given(models(max_dims=4), st.integers(0, 3))
def test_three_way_on_random_models(model: Model, seed: int) -> None:
    if generable(model):
        check_suite(model, generate(model, strength=3, seed=seed), min(3, len(model.enabled())))
        pict = generate(model, strength=3, seed=seed, negative_rule="pict")
        check_suite(model, pict, min(3, len(model.enabled())), "pict")
        # PICT's rule at 3-way: each negative with every two valid values of other fields some case allows
        cases = [c.values for c in pict.cases]
        wanted = {(d.path, v.label, *sorted((p, w.label) for p, w in pair))
                  for d in model.enabled() for v in d.negatives for case in valid_cases(model, (d.path, v))
                  for pair in combinations([(p, w) for p, w in case.items() if p != d.path], 2)}
        held = {(path, value.label, *sorted((p, w.label) for p, w in pair))
                for case in cases for path, value in case.items() if value.negative
                for pair in combinations([(p, w) for p, w in case.items() if p != path], 2)}
        assert held == wanted


@PROPERTIES
@given(models(max_dims=4))
def test_full_product_on_random_models(model: Model) -> None:
    dims = model.enabled()
    expected = len(valid_cases(model)) + sum(len(valid_cases(model, (d.path, v))) for d in dims for v in d.negatives)
    assert full_product_size(model) >= expected
    if generable(model):
        suite = generate(model, strength="full")
        assert len(suite.cases) == expected  # every allowed combination with at most one negative, once
        check_suite(model, suite, min(2, len(dims)))


def wide_model(size: int, negatives: int = 0) -> Model:
    """Two unconstrained dimensions of ``size`` values (paths the API ignores, so validation is quick)."""
    return Model([
        Dimension(f"qa.{name}", [Value(i) for i in range(size)] + [Value(-1 - i, True) for i in range(negatives)], True)
        for name in ("a", "b")
    ], [], {})


def test_full_product_size_and_limits() -> None:
    assert full_product_size(wide_model(10, negatives=2)) == 10 * 10 + 2 * 2 * 10
    assert full_product_size(wide_model(10, negatives=2), ["qa.a"]) == 10 + 2
    big = wide_model(71)  # 5,041 cases
    with pytest.raises(ValueError, match="confirm"):
        generate(big, strength="full")
    assert len(generate(big, strength="full", confirm=True).cases) == 71 * 71
    with pytest.raises(ValueError, match="100,000"):
        generate(wide_model(317), strength="full", confirm=True)  # 100,489 cases
    assert CONFIRM_ABOVE == 5_000 and FULL_LIMIT == 100_000
    with pytest.raises(ValueError, match="not enabled"):
        full_product_size(default_model(), ["customer.ip"])
    with pytest.raises(ValueError, match="strength"):
        generate(big, strength=0)
    with pytest.raises(ValueError, match="negative_rule must be one of smallest, pict"):
        generate(big, negative_rule="all")  # type: ignore[arg-type]


def test_full_product_over_some_fields_keeps_the_rest_pairwise() -> None:
    model = default_model()
    suite = generate(model, strength="full", full_dims=["tds.is_active", "tds.challenge_preference"])
    combos = {(c.values["tds.is_active"].label, c.values["tds.challenge_preference"].label) for c in suite.cases}
    assert ("true", '"no_preference"') in combos and ("false", "<not sent>") in combos
    assert ('~"yes"', '"challenge_mandated"') in combos  # a negative with each valid partner
    assert ("false", '"no_preference"') not in combos  # the constraint
    check_suite(model, suite, 2)


# ---- the default model -----------------------------------------------------------------------------

def unconstrained_bound(model: Model) -> int:
    """No unconstrained pairwise suite with at most one negative per case is smaller: for any two fields
    each pair of their valid values needs a case without a negative, and each negative a case of its own
    (one negative per case, and a refused case covers no valid pair)."""
    return (max(len(a.positives) * len(b.positives) for a, b in combinations(model.enabled(), 2))
            + sum(len(d.negatives) for d in model.enabled()))


# The default model with its constraints (3-D Secure off: no challenge fields) needs at least 88
# cases without a negative: currency (14 valid) × challenge_window_size (5 sizes) is 70 cases; "off"
# with each currency is 14 more, all with both challenge fields <not sent>; <not sent> window with each
# of the 4 other preferences is 4 more. Each of the 30 negatives needs one more case.
DEFAULT_POSITIVE_BOUND = 88
DEFAULT_BOUND = DEFAULT_POSITIVE_BOUND + 30


def test_default_model_without_constraints_is_no_larger_than_allpairspy() -> None:
    model = dataclasses.replace(default_model(), constraints=[])
    same = positives_only(model)  # like for like: allpairspy never sends a negative
    ours, theirs = generate(same, seed=0), allpairspy_suite(same)
    their_coverage = coverage_of(same, theirs)
    full = generate(model, seed=0)
    floor = max(len(a.positives) * len(b.positives) for a, b in combinations(model.enabled(), 2))
    print(f"\ndefault model without constraints: ours {len(ours.cases)} cases ({ours.coverage.percent:.1f} %), "
          f"allpairspy {len(theirs)} ({their_coverage.percent:.1f} %), floor {floor}; with the "
          f"{sum(len(d.negatives) for d in model.enabled())} negatives riding along ours {len(full.cases)}, "
          f"bound {unconstrained_bound(model)}")
    assert ours.coverage is not None and ours.coverage.percent == their_coverage.percent == 100.0
    assert len(ours.cases) <= len(theirs)
    assert len(ours.cases) == floor  # the product of the two largest domains: no suite is smaller
    check_suite(model, full, 2)
    assert len(full.cases) == unconstrained_bound(model)  # negatives included, still the smallest possible


def test_default_model_pairwise_is_complete_and_beats_allpairspy_coverage() -> None:
    """(How long it takes is bench/qa_run.py's business.)"""
    model = default_model()
    suite = generate(model, seed=0)
    check_suite(model, suite, 2)
    theirs = allpairspy_suite(model)
    their_coverage = coverage_of(model, theirs)
    assert measure(model) == Yardstick(len(theirs), their_coverage)
    ours = [c.values for c in suite.cases]
    positive = generate(positives_only(model), seed=0)
    # allpairspy's filter sees prefixes only and it stops at the first case adding no pair, so under
    # constraints it quits early: compare case counts at its coverage, and report both in full.
    ours_at_theirs = next(k for k in range(1, len(ours) + 1) if coverage_of(model, ours[:k]).covered >= their_coverage.covered)
    print(f"\ndefault model, {len(model.enabled())} fields enabled: ours {len(suite.cases)} cases "
          f"({sum(1 for c in suite.cases if c.negative_path)} with a negative, bound {DEFAULT_BOUND}), "
          f"{suite.coverage.percent:.1f} % of {suite.coverage.possible} allowed pairs; "
          f"without negatives {len(positive.cases)} (bound {DEFAULT_POSITIVE_BOUND}); allpairspy {len(theirs)} "
          f"cases, {their_coverage.percent:.1f} %; ours reach that coverage in {ours_at_theirs} cases")
    assert suite.coverage is not None and suite.coverage.percent == 100.0
    assert their_coverage.percent < 100.0  # so its count is no yardstick here
    assert ours_at_theirs <= len(theirs)
    assert len(suite.cases) == DEFAULT_BOUND
    assert positive.coverage is not None and positive.coverage.percent == 100.0
    assert len(positive.cases) == DEFAULT_POSITIVE_BOUND


def test_default_model_cases_expect_the_testers_marks_beside_the_contract() -> None:
    suite = generate(default_model(), seed=7)
    order_ids = [c.payload["transaction"].get("order_id") for c in suite.cases if c.values["transaction.order_id"].label == "<base>"]
    assert order_ids == [f"qa-7-{c.index}" for c in suite.cases if c.values["transaction.order_id"].label == "<base>"]
    assert [c.index for c in suite.cases] == list(range(len(suite.cases)))
    for case in suite.cases:
        assert case.expected_paths == ((case.negative_path,) if case.negative_path else ())
        assert case.contract_paths == tuple(p["parameter"] for p in validate_create(case.payload))
        assert case.expected == ("refused: " + ", ".join(case.expected_paths) if case.expected_paths else "accepted")
        assert case.labels == {path: value.label for path, value in case.values.items()}
        if case.negative_path is None and case.values["transaction.currency"].label != '"jpy"':
            assert case.contract == "accepted", case.values  # valid values only: accepted, bar JPY's decimals
    # the only disagreements of the default model: JPY's decimals (also where a negative rides in a
    # JPY case: refused on its field and on the amount), http while 3-D Secure is off, and 3-D
    # Secure's switch <not sent> in a case that sends no other tds field (no tds object: no refusal)
    for d in disagreements(suite.cases):
        case = suite.cases[d.first_case]
        if (d.path, d.tester) not in {("transaction.amount", "positive"), ("tds.redirect_url", "negative"),
                                      ("tds.is_active", "negative")}:
            assert d.tester == "negative" and case.values["transaction.currency"].label == '"jpy"', d
            assert set(case.contract_paths) == {d.path, "transaction.amount"}, d


def only(model: Model, *paths: str) -> Model:
    """``model`` with only ``paths`` enabled."""
    return dataclasses.replace(model, dimensions=[dataclasses.replace(d, enabled=d.path in paths) for d in model.dimensions])


def test_http_redirect_is_refused_only_under_3ds() -> None:
    suite = generate(only(default_model(), "tds.is_active", "tds.redirect_url"), strength="full")
    by_values = {(c.values["tds.is_active"].label, c.values["tds.redirect_url"].label): c for c in suite.cases}
    assert by_values["false", '~"http://example.com/qa"'].contract_paths == ()
    assert by_values["true", '~"http://example.com/qa"'].contract_paths == ("tds.redirect_url",)
    assert {c.expected for c in suite.cases if c.negative_path == "tds.redirect_url"} == {"refused: tds.redirect_url"}
    # and the tds object left out altogether is no refusal of tds.is_active: both shown before a run
    assert [(d.path, d.label, d.tester, d.contract, d.cases) for d in disagreements(suite.cases)] == [
        ("tds.is_active", "~<not sent>", "negative", "accepted", 1),
        ("tds.redirect_url", '~"http://example.com/qa"', "negative", "accepted", 1)]


def test_three_way_on_the_default_model() -> None:
    suite = generate(default_model(), strength=3)
    assert suite.coverage is not None and suite.coverage.percent == 100.0
    print(f"\ndefault model 3-way: {len(suite.cases)} cases, {suite.coverage.possible} triples")


def test_models_that_cannot_be_generated_say_why() -> None:
    model = default_model()
    model = dataclasses.replace(model, dimensions=[
        dataclasses.replace(d, values=[Value("yes", negative=True)]) if d.path == "save_card" else d
        for d in model.dimensions])
    with pytest.raises(ValueError, match="save_card needs at least one value that is not negative"):
        generate(model)
    with pytest.raises(ValueError, match="no dimension"):
        generate(Model([Dimension("qa.a", [Value(1)], False)]))
    model = wide_model(2)
    model.dimensions[0].values.append(Value(Decimal("1.0")))
    model.dimensions[0].values.append(Value(Decimal("1.0"), negative=True))
    with pytest.raises(ValueError, match="lists 1.0 twice"):
        generate(model)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(), st.integers(0, 3))
def test_constraints_too_wide_to_tabulate_are_searched_row_by_row(model: Model, seed: int) -> None:
    """A model whose constrained fields have more combinations than a table holds is checked row by
    row (its values then all weigh the same): the suite is as valid and as complete."""
    if not generable(model):
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(space, "TABLE_LIMIT", 0)
        check_suite(model, generate(model, seed=seed), min(2, len(model.enabled())))
        check_suite(model, generate(model, seed=seed, negative_rule="pict"), min(2, len(model.enabled())), "pict")
        check_suite(model, generate(model, strength=1, seed=seed), 1)
