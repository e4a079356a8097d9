"""lib.qa.view: the QA explorer's table and texts read back into a model, and its rows."""
from __future__ import annotations

import pytest

from lib.qa import view
from lib.qa.generate import Coverage, generate
from lib.qa.defaults import default_model
from lib.qa.store import Progress


def test_the_table_and_constraints_round_trip_to_the_same_model() -> None:
    model = default_model()
    again = view.model_from_editor(model, view.dimension_rows(model), view.constraint_text(model))
    assert again.to_json() == model.to_json()


def test_editing_the_table_changes_values_and_switches() -> None:
    model = default_model()
    rows = view.dimension_rows(model)
    for row in rows:
        if row["path"] == "transaction.currency":
            row["values"] = 'gbp, "eur", ~xxx'
        if row["path"] == "save_card":
            row["enabled"] = False
    edited = view.model_from_editor(model, rows, "")
    assert [v.label for v in edited.dimension("transaction.currency").values] == ['"gbp"', '"eur"', '~"xxx"']
    assert not edited.dimension("save_card").enabled and edited.constraints == []


@pytest.mark.parametrize("values, message", [
    ("0.01, [1,", "transaction.amount: unreadable list"),
    ("1, 1", "transaction.amount lists 1 twice"),
    ("~1, ~2", "transaction.amount needs at least one value that is not negative"),
    ("", "transaction.amount: expected a value at column 1"),
])
def test_a_bad_cell_names_its_field(values: str, message: str) -> None:
    model = default_model()
    rows = [{**r, "values": values} if r["path"] == "transaction.amount" else r for r in view.dimension_rows(model)]
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        view.model_from_editor(model, rows, "")


@pytest.mark.parametrize("text, message", [
    ("save_card: true", "constraint line 1: expected 'IF"),
    ("\nIF [tds.is_active] = false THEN [tds.redirect_url] IN {nope};", "constraint line 2: \"nope\" is not a value of tds.redirect_url"),
    ("IF [nope] = 1 THEN [save_card] = true", "constraint line 1: unknown field 'nope'"),
])
def test_a_bad_constraint_names_its_line(text: str, message: str) -> None:
    model = default_model()
    with pytest.raises(ValueError, match=message):
        view.model_from_editor(model, view.dimension_rows(model), text)


def test_apply_pict_names_the_line() -> None:
    with pytest.raises(ValueError, match="PICT line 2: unknown field 'nope'"):
        view.apply_pict("save_card: true, false\nnope: 1\n", default_model())
    assert [d.path for d in view.apply_pict("save_card: true, false\n", default_model()).enabled()] == ["save_card"]


def test_generated_bundle_and_rows() -> None:
    model = view.apply_pict('transaction.currency: gbp, eur, ~xxx\nsave_card: true, false\n', default_model())
    generated = view.compare_with_allpairspy(model, generate(model))
    assert generated.allpairspy_cases == 4 and generated.allpairspy_coverage.percent == 100.0
    assert generated.model_json == model.to_json() and "save_card: true, false" in generated.model_pict
    rows = view.case_rows(generated.suite.cases)
    assert {r["expected"] for r in rows} == {"accepted", "refused: transaction.currency"}
    assert set(rows[0]) == {"#", "expected", "transaction.currency", "save_card"}


def test_coverage_and_progress_texts() -> None:
    assert view.coverage_line(Coverage(2, 1279, 1279, 100.0)) == \
        "pairs covered / possible after constraints: 1,279 / 1,279 (100 %)"
    assert "triples" in view.coverage_line(Coverage(3, 1, 2, 50.0)) and "(50 %)" in view.coverage_line(Coverage(3, 1, 2, 50.0))
    running = Progress(done=30, total=90, surprises=2, rate_per_s=10.0, eta_s=6.0, status="running")
    assert view.progress_text(running) == "30 / 90 cases · 2 surprise(s) · 6 s left · running"
    assert view.progress_fraction(running) == pytest.approx(1 / 3)
    done = Progress(done=90, total=90, surprises=0, rate_per_s=10.0, eta_s=0.0, status="completed")
    assert view.progress_text(done) == "90 / 90 cases · 0 surprise(s) · completed"


def test_result_culprit_and_compare_rows() -> None:
    case = {"idx": 3, "surprise": True, "result": "unexpected_refusal", "expected": "accepted", "http_status": 400,
            "session_id": None, "problems": [{"parameter": "transaction.amount", "reason": "too big"}], "error": None,
            "latency_ms": 4.2, "labels": {"transaction.amount": "999999.99"}}
    row = view.result_rows([case])[0]
    assert row["surprise"] == view.SURPRISE and row["session id / refusal"] == "transaction.amount: too big"
    assert row["transaction.amount"] == "999999.99"
    assert view.answer_text({"session_id": "s-1"}) == "s-1" and view.answer_text({"error": "boom"}) == "boom"
    rates = [{"path": "a", "label": "1", "cases": 2, "surprises": 2, "rate": 1.0},
             {"path": "a", "label": "2", "cases": 2, "surprises": 0, "rate": 0.0}]
    assert [r["value"] for r in view.culprit_rows(rates)] == ["1"]
    diff = {"change": "only_in_b", "labels": {"a": "1"}, "a_index": None, "a_result": None, "a_http_status": None,
            "a_paths": None, "b_index": 0, "b_result": "as_expected", "b_http_status": 400, "b_paths": ["a"]}
    assert view.compare_rows([diff]) == [{"change": "only in b", "A": "—", "B": "as_expected · HTTP 400 · a", "a": "1"}]
