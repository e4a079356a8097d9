"""lib.qa.service without a run: the model table and texts read back, PICT, generation, and the texts the page shows."""
from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

import pytest

from lib.access.policy import ADMIN, QA, Identity
from lib.qa.service import (
    CaseDifference,
    CaseRow,
    FullProduct,
    Model,
    Outcome,
    QAError,
    QAService,
    RunProgress,
    RunSummary,
)
from lib.qa.suite import Coverage, coverage_text
from lib.sessions.service import SessionsService

SMALL = "transaction.currency: gbp, eur, ~xxx\nsave_card: true, false\n"


@pytest.fixture
def service(app_env: Path) -> QAService:
    """A service over a fresh database (nothing is sent: no sandbox behind it)."""
    return QAService.for_console(SessionsService("http://127.0.0.1:9", db_path=app_env / "ops.db"))


def records(service: QAService, model: Model, **cells: dict) -> list[dict]:
    """The table's records as the widget hands them back, with some cells changed."""
    return [{**asdict(row), **cells.get(row.path, {})} for row in service.editor_rows(model)]


def test_the_table_and_constraints_round_trip_to_the_same_model(service: QAService) -> None:
    model = service.default_model()
    again = service.edit_model(model, records(service, model), service.constraint_text(model))
    assert again.to_json() == model.to_json()


def test_editing_the_table_changes_values_and_switches(service: QAService) -> None:
    model = service.default_model()
    rows = records(service, model, **{"transaction.currency": {"values": 'gbp, "eur", ~xxx'},
                                      "save_card": {"enabled": False}})
    edited = service.edit_model(model, rows, "")
    assert [v.label for v in edited.dimension("transaction.currency").values] == ['"gbp"', '"eur"', '~"xxx"']
    assert not edited.dimension("save_card").enabled and edited.constraints == []


@pytest.mark.parametrize("values, message", [
    ("0.01, [1,", "transaction.amount: unreadable list"),
    ("1, 1", "transaction.amount lists 1 twice"),
    ("~1, ~2", "transaction.amount needs at least one value that is not negative"),
    ("", "transaction.amount: expected a value at column 1"),
    (None, "transaction.amount: expected a value at column 1"),  # an emptied cell
    (float("nan"), "transaction.amount: expected a value at column 1"),
])
def test_a_bad_cell_names_its_field(service: QAService, values: object, message: str) -> None:
    model = service.default_model()
    with pytest.raises(QAError, match=message.replace("[", r"\[")):
        service.edit_model(model, records(service, model, **{"transaction.amount": {"values": values}}), "")


@pytest.mark.parametrize("text, message", [
    ("save_card: true", "constraint line 1: unexpected 'save_card': a constraint starts with IF"),
    ('\nIF [tds.is_active] = "false" THEN [tds.redirect_url] IN {"nope"};',
     'constraint line 2: "nope" is not a value of tds.redirect_url'),
    ('IF [nope] = 1 THEN [save_card] = "true";', "constraint line 1: unknown field 'nope'"),
    ('IF [save_card] = "true"\n  THEN [tds.is_active] = "true"\n  ELSE [transaction.amount] > 5;',
     # the default amount: numbers for valid values, ~"15.02" among its negatives
     r"constraint line 1: \[transaction.amount\] has numbers for valid values and a text among its negatives"),
    ('IF [save_card] = "true" THEN [transaction.currency] > 5;',
     r"constraint line 1: \[transaction.currency\] is a text field: compare it with a quoted string"),
])
def test_a_bad_constraint_names_its_line(service: QAService, text: str, message: str) -> None:
    model = service.default_model()
    with pytest.raises(QAError, match=message):
        service.edit_model(model, records(service, model), text)


@pytest.mark.parametrize("text, message", [
    ("{ tds.is_active, tds.challenge_preference } @ 3",
     r"sub-model line 1: sub-model \{ tds.is_active, tds.challenge_preference \} @ 3: its order must be between 1"),
    ("\n{ tds.is_active, customer.reference }", "sub-model line 2: .* customer.reference is not an enabled field"),
    ("tds.is_active, tds.challenge_preference", "sub-model line 1: expected a sub-model"),
])
def test_a_bad_sub_model_names_its_line_and_a_good_one_is_kept(service: QAService, text: str, message: str) -> None:
    model = service.default_model()
    with pytest.raises(QAError, match=message):
        service.edit_model(model, records(service, model), "", text)
    good = "# 3-D Secure 3-way\n{ tds.is_active, tds.challenge_preference, tds.challenge_window_size } @ 3"
    edited = service.edit_model(model, records(service, model), "", good)
    assert service.submodel_text(edited) == "{ tds.is_active, tds.challenge_preference, tds.challenge_window_size } @ 3"
    assert service.import_pict(service.export_pict(edited), edited) == edited


def test_import_pict_names_the_line_and_export_reads_back(service: QAService) -> None:
    with pytest.raises(QAError, match="PICT line 2: unknown field 'nope'"):
        service.import_pict("save_card: true, false\nnope: 1\n", service.default_model())
    model = service.import_pict("save_card: true, false\n", service.default_model())
    assert [d.path for d in model.enabled()] == ["save_card"]
    assert service.import_pict(service.export_pict(model), model) == model


def test_generated_bundle_and_its_texts(service: QAService) -> None:
    model = service.import_pict(SMALL, service.default_model())
    generated = service.generate(model)
    assert generated.allpairspy.cases == 4 and generated.allpairspy.coverage.percent == 100.0
    assert generated.allpairspy_coverage_text.endswith("negatives beside valid values: 0 / 2")
    assert generated.matches(model) and "save_card: true, false" in generated.model_pict
    assert not generated.matches(dataclasses.replace(model, base={}))
    assert generated.coverage_text == ("pairs covered / possible after constraints: 4 / 4 (100 %) in cases without a "
                                       "negative; negatives beside valid values: 1 / 2 (smallest: each negative once)")
    pict = service.generate(model, negative_rule="pict")
    assert pict.coverage_text.endswith("negatives beside valid values: 2 / 2 (pict: each negative beside every valid "
                                       "value, every t-1 of them at strength t)")
    assert sorted(c.labels["save_card"] for c in pict.suite.cases if c.negative_path) == ["false", "true"]
    assert {c.expected for c in generated.suite.cases} == {"accepted", "refused: transaction.currency"}
    assert set(generated.suite.cases[0].labels) == {"transaction.currency", "save_card"}
    nothing_on = service.default_model()
    nothing_on = dataclasses.replace(nothing_on, dimensions=[dataclasses.replace(d, enabled=False)
                                                             for d in nothing_on.dimensions])
    with pytest.raises(QAError, match="no dimension is enabled"):
        service.generate(nothing_on)
    with pytest.raises(QAError, match="PICT line 1: no field is listed"):  # so a PICT text cannot switch all off
        service.import_pict("# nothing but a comment\n", service.default_model())


def test_full_product_sizes_and_their_limits(service: QAService) -> None:
    model = service.import_pict(SMALL, service.default_model())
    assert service.full_product(model, ["save_card"]) == FullProduct(2)
    small, big, huge = FullProduct(5_000), FullProduct(5_001), FullProduct(100_001)
    assert not small.needs_confirmation and not small.too_big
    assert big.needs_confirmation and not big.too_big
    assert huge.too_big and not huge.needs_confirmation


def test_targets_are_the_qa_environments_the_role_works_in(service: QAService) -> None:
    assert service.targets(Identity("t@qa.example.com", frozenset({QA}), local_mode=False)) == ["sandbox"]
    assert service.targets(Identity("fin@example.com", frozenset(), local_mode=False)) == []
    assert service.targets(Identity("boss@example.com", frozenset({ADMIN}), local_mode=False)) == ["sandbox"]


def test_coverage_and_progress_texts() -> None:
    assert coverage_text(Coverage(2, 1279, 1279, 100.0)) == "pairs covered / possible after constraints: 1,279 / 1,279 (100 %)"
    assert "triples" in coverage_text(Coverage(3, 1, 2, 50.0)) and "(50 %)" in coverage_text(Coverage(3, 1, 2, 50.0))
    assert coverage_text(None) == "coverage not measured"
    # cases made elsewhere (allpairspy's): no rule of ours placed their negatives, so none is named
    assert coverage_text(Coverage(2, 4, 4, 100.0, None, 0, 2)).endswith("negatives beside valid values: 0 / 2")
    running = RunProgress(done=30, total=90, surprises=2, rate_per_s=10.0, eta_s=6.0, status="running")
    assert running.text == "30 / 90 cases · 2 surprise(s) · 6 s left · running"
    assert running.fraction == pytest.approx(1 / 3)
    done = RunProgress(done=90, total=90, surprises=0, rate_per_s=10.0, eta_s=0.0, status="completed")
    assert done.text == "90 / 90 cases · 0 surprise(s) · completed" and done.finished


def test_case_summary_and_comparison_texts() -> None:
    case = CaseRow(index=3, labels={"transaction.amount": "999999.99"}, negative_path=None, expected_paths=(),
                   result="unexpected_refusal", payload={}, http_status=400,
                   problems=({"parameter": "transaction.amount", "reason": "too big"},), latency_ms=4.2, case_key="k")
    assert case.answer == "transaction.amount: too big" and case.expected == "accepted" and case.reasons == "too big"
    assert case.surprise and case.paths == ("transaction.amount",)
    assert dataclasses.replace(case, session_id="s-1").answer == "s-1"
    assert dataclasses.replace(case, problems=(), error="boom").answer == "boom"
    document = case.document()
    assert (list(document)[0], list(document)[-1], document["idx"], document["case_key"]) == ("idx", "expected", 3, "k")
    summary = RunSummary(cases=2, surprises=1, counts={"as_expected": 1, "server_error": 1, "network_error": 0},
                         mean_latency_ms=None, max_latency_ms=None)
    assert summary.seen == {"as_expected": 1, "server_error": 1}
    only_b = CaseDifference({"a": "1"}, None, Outcome(0, "as_expected", 400, ("a",)))
    assert (only_b.a_text, only_b.b_text) == ("—", "as_expected · HTTP 400 · a")
