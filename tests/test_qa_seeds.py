"""Required rows (PICT's seeding file) and extending a saved suite: every seed is in the suite, completed,
and the suite stays complete; what the model does not have is refused with its line."""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lib.qa.defaults import default_model
from lib.qa.generate import generate
from lib.qa.model import Dimension, Model
from lib.qa.pict import spelled
from lib.qa.seeds import read_seeds, saved_seeds
from lib.qa.service import Generated, QAError, QAService
from lib.qa.space import Space
from lib.qa.store import CaseResult, RunStore
from lib.qa.values import Value
from lib.sessions.service import SessionsService
from tests.test_qa_generate import PROPERTIES, check_suite, generable
from tests.test_qa_model import models


@st.composite
def seeded_models(draw: st.DrawFn) -> tuple[Model, list[dict[str, Value]]]:
    """A generable random model and 0-3 partial rows of its values, each with at most one negative
    and allowed by its constraints."""
    model = draw(models().filter(generable))
    space = Space(model)
    seeds = []
    for _ in range(draw(st.integers(0, 3))):
        dims = draw(st.lists(st.sampled_from(model.enabled()), unique_by=lambda d: d.path, max_size=3))
        seed = {d.path: draw(st.sampled_from(d.values)) for d in dims}
        if sum(v.negative for v in seed.values()) <= 1 and space.completable(space.row(seed)):
            seeds.append(seed)
    return model, seeds


def contains(cases: list[dict[str, Value]], seed: dict[str, Value]) -> bool:
    return any(all(case[path] == value for path, value in seed.items()) for case in cases)


def _four_fields() -> Model:
    return Model([Dimension(f"qa.d{i}", [Value(Decimal(v)) for v in range(n)], enabled=True)
                  for i, n in enumerate((2, 2, 2, 3))],
                 [], {"transaction": {"order_id": "qa", "amount": Decimal(1), "currency": "gbp"}})


@PROPERTIES
@given(seeded_models(), st.sampled_from(["smallest", "pict"]))
# Found by hypothesis: a later patch for coverage changed the required value of a seeded row.
@example((_four_fields(), [{"qa.d1": Value(Decimal(0))}, {}]), "smallest")
def test_every_seed_is_in_the_suite_and_the_suite_stays_complete(drawn: tuple[Model, list[dict[str, Value]]],
                                                                 rule: str) -> None:
    model, seeds = drawn
    suite = generate(model, seeds=seeds, negative_rule=rule)  # type: ignore[arg-type]
    cases = [case.values for case in suite.cases]
    assert all(contains(cases[:len(seeds)], seed) for seed in seeds)  # seeds first, each completed
    check_suite(model, suite, min(2, len(model.enabled())), rule)


def tsv(*rows: list[str]) -> str:
    return "\n".join("\t".join(row) for row in rows) + "\n"


def test_a_seeding_text_reads_by_field_type_and_its_rows_come_first() -> None:
    model = default_model()
    text = tsv(["transaction.currency", "tds.is_active", "payment_methods"],
               ["jpy", "false", "card+apple_pay+google_pay"], ["", "true"], ["~xxx"], ["GBP"])
    seeds = read_seeds(text, model)
    assert seeds == [
        {"transaction.currency": Value("jpy"), "tds.is_active": Value(False),
         "payment_methods": Value(["card", "apple_pay", "google_pay"])},
        {"tds.is_active": Value(True)}, {"transaction.currency": Value("xxx", negative=True)},
        {"transaction.currency": Value("GBP", negative=True)}]  # a negative named without its ~ too
    suite = generate(model, seeds=seeds)
    first = suite.cases[0].values
    assert first["transaction.currency"] == Value("jpy") and first["tds.challenge_preference"] == spelled_value(
        model, "tds.challenge_preference", "<not sent>")  # completed under the constraints
    assert suite.cases[2].negative_path == "transaction.currency"
    assert suite.coverage is not None and suite.coverage.percent == 100.0


def spelled_value(model: Model, path: str, text: str) -> Value:
    return next(v for v in model.dimension(path).values if spelled(path, v) == text)


@pytest.mark.parametrize(("text", "reason"), [
    (tsv(["transaction.currency", "nope"]), "line 1: 'nope' is not an enabled field of the model"),
    (tsv(["customer.ip"]), "line 1: 'customer.ip' is not an enabled field"),  # switched off in the default model
    (tsv(["save_card", "save_card"]), "line 1: a field is named twice"),
    (tsv(["transaction.currency"], ["gbp"], ["GBX"]), "line 3: GBX is not a value of transaction.currency"),
    (tsv(["transaction.currency"], ["~gbp"]), "line 2: ~gbp: transaction.currency's value is not marked negative"),
    (tsv(["transaction.currency", "save_card"], ["gbp", "true", "x"]), "line 2: 3 values for 2 fields"),
    (tsv(["transaction.currency", "save_card"], ["~xxx", "~yes"]), "line 2: more than one negative value"),
    (tsv(["tds.is_active", "tds.challenge_preference"], ["false", "no_preference"]),
     "line 2: the constraints allow no case holding these values"),
    (tsv(["payment_methods"], ["card++apple_pay"]), "line 2: payment_methods: "),
])
def test_a_seed_the_model_cannot_hold_is_refused_with_its_line(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_seeds(text, default_model())
    assert str(caught.value).startswith(reason), str(caught.value)


def test_saved_cases_as_seeds_keep_what_the_model_still_has() -> None:
    model = default_model()
    cut = dataclasses.replace(model, dimensions=[dataclasses.replace(d, enabled=d.enabled and d.path != "save_card")
                                                 for d in model.dimensions])
    labels = [{"transaction.currency": '"gbp"', "save_card": "true", "transaction.moto": '"removed"'},
              {"tds.is_active": "false", "tds.challenge_preference": '"no_preference"'}]  # no longer allowed
    assert saved_seeds(labels, cut) == [{"transaction.currency": Value("gbp")}]


@pytest.fixture
def service(app_env: Path) -> QAService:
    return QAService.for_console(SessionsService("http://127.0.0.1:9", db_path=app_env / "ops.db"))


def saved_run(service: QAService) -> tuple[Generated, Model]:
    """A small model's suite saved as run ``r1``, and the same model with one more currency."""
    small = service.import_pict("transaction.currency: gbp, eur, ~xxx\nsave_card: true, false\n", service.default_model())
    first = service.generate(small)
    store = RunStore(service.db_path)
    store.create_run(run_id="r1", operator="t@qa.example.com", environment="sandbox", total=len(first.suite.cases),
                     concurrency=1, seed=0, strength=2)
    for case in first.suite.cases:
        store.record_case("r1", CaseResult(case.index, case.labels, case.negative_path, case.expected_paths,
                                           "as_expected", case.payload))
    return first, service.import_pict("transaction.currency: gbp, eur, usd, ~xxx\nsave_card: true, false\n", small)


def test_extending_a_saved_suite_keeps_its_cases_and_adds_only_what_new_values_need(service: QAService) -> None:
    first, wider = saved_run(service)
    extended = service.extend("r1", wider)
    old = [case.labels for case in first.suite.cases]
    assert [case.labels for case in extended.suite.cases[:len(old)]] == old  # kept, in order
    assert len(extended.suite.cases) == len(old) + 2  # usd with each save_card value, nothing more
    assert extended.suite.coverage is not None and extended.suite.coverage.percent == 100.0
    with pytest.raises(QAError, match="no saved cases"):
        service.extend("nope", wider)
    with pytest.raises(QAError, match="required rows line 2: GBX is not a value"):
        service.read_seeds("transaction.currency\nGBX\n", wider)


def test_extending_runs_as_a_background_job_too(service: QAService) -> None:
    _, wider = saved_run(service)
    job = service.start_extension("r1", wider, negative_rule="pict")
    assert job.wait(60) and job.state == "completed" and job.result is not None
    assert [c.labels for c in job.result.suite.cases] == [c.labels for c in service.extend("r1", wider, negative_rule="pict").suite.cases]
    with pytest.raises(QAError, match="no saved cases"):  # refused before any job starts
        service.start_extension("nope", wider)
