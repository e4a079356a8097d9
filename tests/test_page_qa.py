"""AppTest of the QA explorer: the model table, PICT import and its errors, generation in the
background (its progress, cancel) and its report, a run against the app's sandbox (polled to its end), a case opened with its request and
answer, reruns of a saved run, comparing runs in three groups, the target choice, and the
confirmation a large full product needs.

Fragments never tick under AppTest: a run is awaited with ``runner.wait``, a generation with its
job's ``wait``, and the page redrawn with ``at.run()``; a generation is held at a step (``hold``)
to see the page while it runs. The export downloads' callables never run under AppTest (tested in the store).
"""
from __future__ import annotations

import json

from lib.qa import runner
from lib.qa.defaults import default_model
from lib.qa.generate import CHECKING
from lib.qa.results import RunReader
from lib.qa.store import RunStore
from tests.generation_support import WAIT_S, Hold
from tests.page_support import errors, seen
from tests.test_qa_after_run import write_run

PAGE = "pages/qa_explorer.py"


def button(at, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label.startswith(label))


def captions(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.value for c in at.caption]


def table(at, column: str):  # type: ignore[no-untyped-def]
    """The first grid with this column, as a DataFrame (plain st.dataframe carries no key under AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def enabled_caption(at) -> str:  # type: ignore[no-untyped-def]
    return next(c for c in captions(at) if "fields enabled" in c)


def edit_rows(at, edits: dict[str, dict]):  # type: ignore[no-untyped-def]
    """Seed the model table's edit state (AppTest cannot type into a data editor), then rerun."""
    editor = at.data_editor[0]
    paths = list(editor.value["path"])
    at.session_state[editor.key] = {"edited_rows": {paths.index(p): cells for p, cells in edits.items()},
                                    "added_rows": [], "deleted_rows": []}
    return at.run()


def apply_pict(at, text: str):  # type: ignore[no-untyped-def]
    at.text_area(key="qa_pict_text").input(text)
    return button(at, "Apply PICT").click().run()


JOB = "qa_generation_job"


def generated(at):  # type: ignore[no-untyped-def]
    """Wait for the generation the Generate button started in the background, then redraw the page."""
    if JOB in at.session_state:
        assert at.session_state[JOB].wait(WAIT_S)
        at.run()
    assert JOB not in at.session_state or at.session_state[JOB].state == "cancelled"
    return at


def generate(at, seed: int = 0):  # type: ignore[no-untyped-def]
    at.number_input(key="qa_seed").set_value(seed)
    return generated(button(at, "Generate").click().run())


def progress_texts(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [bar.proto.text for bar in at.get("progress")]


def run_to_end(at) -> str:  # type: ignore[no-untyped-def]
    """Start the generated suite with the page's button and wait for the server-side run."""
    button(at, "Run ").click().run()
    assert not errors(at), errors(at)
    run_id = at.session_state["qa_run"]
    assert at.query_params["run"] == run_id
    assert runner.wait(run_id, 60)
    at.run()
    return run_id


SMALL = "transaction.currency: gbp, eur, ~xxx\ntransaction.amount: 0.01, 15.02, ~-1\nsave_card: true, false\n"


def test_the_model_table_switches_dimensions_on_and_off(open_page) -> None:
    at = open_page(PAGE)
    assert enabled_caption(at).startswith("14 of 47 fields enabled")
    at = edit_rows(at, {"save_card": {"enabled": False}, "customer.first_name": {"enabled": True}})
    assert not errors(at)
    assert enabled_caption(at).startswith("14 of 47")
    at = edit_rows(at, {"save_card": {"enabled": False}})
    assert enabled_caption(at).startswith("13 of 47")
    generate(at)
    preview = table(at, "expected")
    assert "save_card" not in preview.columns and "transaction.currency" in preview.columns


def test_a_bad_value_names_its_field_and_keeps_the_edit(open_page) -> None:
    at = open_page(PAGE)
    at = edit_rows(at, {"transaction.amount": {"values": "0.01, [1,"}})
    assert any("transaction.amount" in e for e in errors(at)), errors(at)
    assert not at.exception
    assert at.session_state[at.data_editor[0].key]["edited_rows"]  # the edit is still there
    assert button(at, "Run").disabled


def test_apply_pict_replaces_the_model_and_a_bad_line_is_named(open_page) -> None:
    at = open_page(PAGE)
    at = apply_pict(at, SMALL)
    assert not errors(at)
    assert enabled_caption(at).startswith("3 of 47 fields enabled · 0 constraint(s)")
    table = at.data_editor[0].value.set_index("path")
    assert table.loc["transaction.currency", "values"] == '"gbp", "eur", ~"xxx"'
    assert not table.loc["transaction.moto", "enabled"]

    bad = SMALL + "nope.field: 1, 2\n"
    at = apply_pict(at, bad)
    assert any("line 4" in e and "nope.field" in e for e in errors(at)), errors(at)
    assert at.text_area(key="qa_pict_text").value == bad  # nothing lost
    assert enabled_caption(at).startswith("3 of 47")  # the model is unchanged


def test_a_bad_constraint_line_is_named(open_page) -> None:
    at = open_page(PAGE)
    at.text_area(key="qa_constraints").input('IF [tds.is_active] = "false" THEN [tds.redirect_url] IN {"nope"};').run()
    assert any("constraint line 1" in e and "tds.redirect_url" in e for e in errors(at)), errors(at)


def test_generate_shows_full_coverage_and_both_counts(open_page) -> None:
    at = generate(open_page(PAGE))
    assert any("pairs covered / possible after constraints" in s.value and "(100 %)" in s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    cases = int(metrics["Cases (ours)"].replace(",", ""))
    assert cases == len(table(at, "expected"))
    assert int(metrics["Cases (allpairspy, pairwise)"]) > 0
    assert any("allpairspy" in c and "below 100 %" in c for c in captions(at))
    assert set(table(at, "expected")["expected"]) >= {"accepted"}


def test_pict_negatives_and_required_rows_from_the_generate_tab(open_page) -> None:
    at = apply_pict(open_page(PAGE), SMALL)
    at.radio(key="qa_negatives").set_value("PICT's (each negative beside every valid value)")
    at.text_area(key="qa_seeds").input("transaction.currency\tsave_card\neur\tfalse\n")
    at = button(at, "Generate").click().run()
    assert not errors(at), errors(at)
    assert any("pict: each negative beside every valid value" in s.value for s in at.success)
    first = table(at, "expected").iloc[0]
    assert (first["transaction.currency"], first["save_card"]) == ('"eur"', "false")  # the required row first
    at.text_area(key="qa_seeds").input("transaction.currency\nGBX\n")
    at = button(at, "Generate").click().run()
    assert any("required rows line 2: GBX is not a value of transaction.currency" in e for e in errors(at)), errors(at)


def test_a_run_against_the_sandbox_meets_the_surprises_announced_before_it(open_page) -> None:
    """The sandbox follows the contract: its surprises are the cases where the marks and the contract
    disagree, which the generate tab listed before anything was sent."""
    at = generate(open_page(PAGE))
    preview = table(at, "contract")
    total, announced = len(preview), set(preview["#"][preview["expected"] != preview["contract"]])
    assert announced and any("your marks" in w.value for w in at.warning)
    assert any("your `~` marks and the contract disagree" in c for c in captions(at))
    assert set(table(at, "you marked")["you marked"]) <= {"negative", "positive"}
    run_id = run_to_end(at)
    bar = at.get("progress")[0]
    assert f"{total} / {total} cases · {len(announced)} surprise(s)" in bar.proto.text and "completed" in bar.proto.text
    results = table(at, "session id / refusal")
    assert len(results) == total and set(results["#"][results["surprise"] != ""]) == announced
    assert "accepted" in set(results["expected"]) and results["HTTP status"].notna().all()
    counts = table(at, "cases")
    assert counts["cases"].sum() == total

    # The same run from the URL, as another tab or a reload sees it.
    other = open_page(PAGE, run=run_id)
    assert len(table(other, "session id / refusal")) == total


def test_two_runs_compared(open_page) -> None:
    at = apply_pict(open_page(PAGE), SMALL)
    first = run_to_end(generate(at, seed=0))
    assert "Pick two different runs." in [i.value for i in at.info]  # one run: A and B both it
    second = run_to_end(generate(at, seed=7))
    # a newer run moves the pickers on: B the newest, A the one before (not the choice left from one run)
    assert (at.selectbox(key="qa_compare_a").value, at.selectbox(key="qa_compare_b").value) == (first, second)
    grid = table(at, "who")
    assert set(grid["run"]) == {first, second} and set(grid["status"]) == {"completed"}
    assert any(m.value.startswith("Cases matched by their values") for m in at.markdown)
    groups = compare_groups(at)
    assert set(groups) == {"Differ", "Only in A", "Only in B"} and sum(len(rows) for rows in groups.values()) > 0
    at.selectbox(key="qa_compare_b").select(first).run()
    assert "Pick two different runs." in [i.value for i in at.info]


def compare_groups(at) -> dict:  # type: ignore[no-untyped-def]
    """The comparison's tabs: group name → its grid (empty when the tab says "None.")."""
    found = {}
    for tab in at.tabs:
        name, _, count = tab.label.rpartition(" (")
        if name in ("Differ", "Only in A", "Only in B"):
            grids = [d.value for d in tab.dataframe]
            found[name] = grids[0] if grids else []
            assert len(found[name]) == int(count.rstrip(")").replace(",", ""))
    return found


def test_a_comparison_shows_only_in_a_only_in_b_and_differs_apart(open_page, app_env) -> None:
    """Runs written straight into the app's database: two keys in both (one alike, one not), one in each alone."""
    store = RunStore(app_env / "ops.db")
    ok, refused, failed = ("as_expected", 201, ()), ("as_expected", 400, ("a",)), ("server_error", 500, ())
    run_a = write_run(store, [("p", ok), ("q", ok), ("r", refused)])
    run_b = write_run(store, [("s", ok), ("q", failed), ("p", ok)])
    at = open_page(PAGE)
    at.selectbox(key="qa_compare_a").select(run_a)
    at.selectbox(key="qa_compare_b").select(run_b).run()
    summary = next(m.value for m in at.markdown if m.value.startswith("Cases matched by their values"))
    assert summary.endswith("**1 differ** · 1 only in A · 1 only in B · 1 alike")
    groups = compare_groups(at)
    assert list(groups["Differ"]["k"]) == ["q"] and list(groups["Only in A"]["k"]) == ["r"]
    assert list(groups["Differ"].columns[:2]) == ["A", "B"]
    assert groups["Differ"]["B"][0] == "server_error · HTTP 500"
    assert list(groups["Only in A"].columns[:1]) == ["A"] and "B" not in groups["Only in A"].columns
    assert len(groups["Only in A"]) == 1 and len(groups["Only in B"]) == 1


def open_case(at, row: int):  # type: ignore[no-untyped-def]
    """Select a row of the results grid (AppTest cannot click one: its selection state is seeded)."""
    at.session_state["qa_results"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_an_opened_case_shows_its_request_and_the_answer(open_page, app_env) -> None:
    at = apply_pict(open_page(PAGE), SMALL)
    run_id = run_to_end(generate(at))
    assert any("Select a case" in c for c in captions(at))
    results = table(at, "session id / refusal")
    row = int(results.index[results["HTTP status"] == 400][0])
    at = open_case(at, row)
    assert not errors(at) and not at.exception
    index = int(results["#"][row])
    codes = [c.value for c in at.code]
    assert "POST /v1/payment-sessions" in codes
    sent = json.loads(next(c for c in codes if '"order_id"' in c))
    assert sent["transaction"]["order_id"] == f"qa-0-{index}"
    assert json.loads(next(c for c in codes if "[REDACTED]" in c))["Authorization"] == "[REDACTED]"
    assert "invalid_parameters" in json.loads(next(c for c in codes if "invalid_parameters" in c))
    assert any(m.value.startswith(f"**Case #{index}**") for m in at.markdown)
    assert any(m.value.startswith("HTTP 400") for m in at.markdown)
    seq = RunReader(RunStore(app_env / "ops.db")).case(run_id, index).entry_seq
    link = at.get("page_link")[0].proto  # the local operator is an admin: the Audit log is open to them
    assert (link.page, link.query_string) == ("audit_log", f"entry={seq}")
    at.toggle(key="qa_only_surprises").set_value(True).run()  # the rows change: the opened case closes
    assert not at.exception and not any(m.value.startswith("**Case #") for m in at.markdown)
    audit = open_page("pages/audit_log.py", entry=str(seq))
    assert any(h.value == f"Entry #{seq}" for h in audit.subheader)


def test_qa_sees_an_opened_case_masked_and_no_audit_link(open_page, signed_in) -> None:
    email = "ann.smith@example.com"
    at = apply_pict(open_page(PAGE, user=signed_in["qa"]), f'customer.billing.email: "{email}"\nsave_card: true, false\n')
    run_to_end(generate(at))
    at = open_case(at, 0)
    codes = [c.value for c in at.code]
    assert codes and not any(email in c for c in codes) and any("a***@example.com" in c for c in codes)
    assert not at.get("page_link") or all(link.proto.page != "audit_log" for link in at.get("page_link"))
    assert any("not open to your role" in c for c in captions(at))


SURPRISE_PICT = "transaction.custom1: qa, ~ok\nsave_card: true, false\n"


def test_rerun_failed_and_surprising_cases_is_a_new_run_of_exactly_those(open_page) -> None:
    """``~ok`` is accepted by the sandbox (a surprise); one click reruns those cases, naming the run they came from."""
    at = apply_pict(open_page(PAGE), SURPRISE_PICT)
    origin = run_to_end(generate(at))
    first = table(at, "session id / refusal")
    surprising = first[first["surprise"] != ""]
    assert 0 < len(surprising) < len(first)
    at.selectbox(key="qa_saved_pick").select(origin)
    at = button(at, "Rerun failed and surprising cases").click().run()
    rerun = at.session_state["qa_run"]
    assert rerun != origin and at.query_params["run"] == rerun
    assert any(f"Run {rerun} started" in seen(s.value) for s in at.success)
    assert runner.wait(rerun, 60)
    at.run()
    assert any(c.endswith(f"rerun of {origin} (surprises)") for c in captions(at))
    again = table(at, "session id / refusal")
    assert list(again["#"]) == list(surprising["#"])
    assert again[["transaction.custom1", "save_card"]].values.tolist() == \
        surprising[["transaction.custom1", "save_card"]].values.tolist()
    assert table(at, "who").set_index("run").loc[rerun, "origin"] == f"rerun of {origin} (surprises)"
    # compare the rerun with the run it reran, without picking either
    assert (at.selectbox(key="qa_compare_a").value, at.selectbox(key="qa_compare_b").value) == (origin, rerun)

    at = button(at, "Rerun this run").click().run()  # the picker still names the origin: all its cases
    assert runner.wait(at.session_state["qa_run"], 60)
    assert len(table(at.run(), "session id / refusal")) == len(first)


def test_acquired_live_is_never_a_target(open_page, signed_in, configure_environment) -> None:
    for name in ("acquired-test", "acquired-live"):
        configure_environment(name, app_id="id", app_key="key")
    at = open_page(PAGE, user=signed_in["admin"])  # live is never offered in local mode: an admin signs in
    at.selectbox(key="environment_picker").select("acquired-live").run()
    assert at.selectbox(key="qa_target").options == ["sandbox", "acquired-test"]


def test_a_full_product_over_5000_needs_confirmation_and_over_100000_is_refused(open_page, hold: Hold) -> None:
    values = lambda prefix, n: ", ".join(f"{prefix}{i}" for i in range(n))  # noqa: E731
    at = apply_pict(open_page(PAGE), f"transaction.custom1: {values('a', 80)}\ntransaction.custom2: {values('b', 70)}\n")
    at.radio(key="qa_strength").set_value("full product").run()
    at.multiselect(key="qa_full_dims").set_value(["transaction.custom1", "transaction.custom2"]).run()
    assert any("**5,600 cases**" in m.value for m in at.markdown)
    assert at.checkbox(key="qa_confirm").label.startswith("Yes, generate all 5,600 cases")
    at = generated(button(at, "Generate").click().run())
    assert any("confirm" in e for e in errors(at)) and not at.success
    at.checkbox(key="qa_confirm").check()
    at = button(at, "Generate").click().run()  # the job is held at its first check: the page answers meanwhile
    assert hold.reached.wait(WAIT_S)
    assert progress_texts(at.run()) == [f"Generating… {CHECKING}: 0 of 5,600"]
    assert button(at, "Generate").disabled and button(at, "Run").disabled
    hold.release.set()
    at = generated(at)
    assert not errors(at) and not at.get("progress") and len(table(at, "expected")) == 5600

    at = apply_pict(at, f"transaction.custom1: {values('a', 400)}\ntransaction.custom2: {values('b', 300)}\n")
    at.multiselect(key="qa_full_dims").set_value(["transaction.custom1", "transaction.custom2"]).run()
    assert any("120,000 cases is more than the 100,000 allowed" in e for e in errors(at))
    assert button(at, "Generate").disabled


def test_generation_shows_its_progress_then_the_suite(open_page, hold: Hold) -> None:
    at = apply_pict(open_page(PAGE), SMALL)
    at = button(at, "Generate").click().run()
    assert hold.reached.wait(WAIT_S)
    [shown] = progress_texts(at.run())
    assert shown.startswith(f"Generating… {CHECKING}: 0 of ")
    assert button(at, "Cancel generation") and not at.metric and not at.success
    hold.release.set()
    at = generated(at)
    assert not at.get("progress") and not errors(at)
    cases = int(next(m.value for m in at.metric if m.label == "Cases (ours)"))
    assert shown.endswith(f" of {cases}") and len(table(at, "expected")) == cases
    assert not button(at, "Run ").disabled


def test_a_cancelled_generation_says_so_and_offers_no_suite(open_page, hold: Hold) -> None:
    hold.armed = False
    at = generate(apply_pict(open_page(PAGE), SMALL))  # a suite from before: cancelling the next one drops it too
    hold.armed = True
    at = button(at, "Generate").click().run()
    assert hold.reached.wait(WAIT_S)
    at = button(at.run(), "Cancel generation").click().run()
    assert progress_texts(at)[0].startswith(f"Cancelling… {CHECKING}: 0 of ") and button(at, "Cancel generation").disabled
    hold.release.set()
    at = generated(at)
    assert "Generation cancelled: no suite was made." in [i.value for i in at.info]
    assert not at.get("progress") and not at.metric and button(at, "Run").disabled
    at = generate(at)  # and generating again works
    assert "Generation cancelled: no suite was made." not in [i.value for i in at.info] and at.metric


def test_a_sub_model_is_covered_at_its_own_strength(open_page) -> None:
    at = open_page(PAGE)
    submodel = "{ tds.is_active, tds.challenge_preference, transaction.currency } @ 3"
    at.text_area(key="qa_submodels").input(submodel).run()
    assert not errors(at), errors(at)
    at = generate(at)
    text = next(s.value for s in at.success if "covered / possible" in s.value)
    assert text.startswith("pairs, triples within { tds.is_active, tds.challenge_preference, transaction.currency } "
                           "covered / possible after constraints") and "(100 %)" in text, text
    cases = table(at, "expected")
    valid = cases[cases["expected"] == "accepted"]
    triples = {tuple(row) for row in valid[["tds.is_active", "tds.challenge_preference", "transaction.currency"]].values}
    model = default_model()
    preferences, currencies = ([v.label for v in model.dimension(path).positives]
                               for path in ("tds.challenge_preference", "transaction.currency"))
    # the constraints: 3-D Secure off sends no challenge preference; on, any preference
    assert triples == ({("true", p, c) for p in preferences for c in currencies}
                       | {("false", "<not sent>", c) for c in currencies})
    at.text_area(key="qa_submodels").input("{ tds.is_active, nope } @ 2").run()
    assert any("sub-model line 1" in e and "nope" in e for e in errors(at)), errors(at)
