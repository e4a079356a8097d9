"""AppTest of the QA explorer: the model table, PICT import and its errors, generation and its
report, a run against the app's sandbox (polled to its end), comparing runs, the target choice,
and the confirmation a large full product needs.

Fragments never tick under AppTest: a run is awaited with ``runner.wait`` and the page redrawn
with ``at.run()``. The export downloads' callables never run under AppTest (tested in the store).
"""
from __future__ import annotations

from lib.qa import runner
from tests.page_support import errors

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


def generate(at, seed: int = 0):  # type: ignore[no-untyped-def]
    at.number_input(key="qa_seed").set_value(seed)
    return button(at, "Generate").click().run()


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
    second = run_to_end(generate(at, seed=7))
    at.selectbox(key="qa_compare_a").select(first)
    at.selectbox(key="qa_compare_b").select(second).run()
    grid = table(at, "who")
    assert set(grid["run"]) == {first, second} and set(grid["status"]) == {"completed"}
    summary = next(m.value for m in at.markdown if "whose outcome differs" in m.value)
    differences = table(at, "change")
    assert summary.startswith(f"**{len(differences)} case(s)") and len(differences) > 0
    assert set(differences["change"]) <= {"only in a", "only in b", "differs"}
    at.selectbox(key="qa_compare_b").select(first).run()
    assert "Pick two different runs." in [i.value for i in at.info]


def test_acquired_live_is_never_a_target(open_page, signed_in, configure_environment) -> None:
    for name in ("acquired-test", "acquired-live"):
        configure_environment(name, app_id="id", app_key="key")
    at = open_page(PAGE, user=signed_in["admin"])  # live is never offered in local mode: an admin signs in
    at.selectbox(key="environment_picker").select("acquired-live").run()
    assert at.selectbox(key="qa_target").options == ["sandbox", "acquired-test"]


def test_a_full_product_over_5000_needs_confirmation_and_over_100000_is_refused(open_page) -> None:
    values = lambda prefix, n: ", ".join(f"{prefix}{i}" for i in range(n))  # noqa: E731
    at = apply_pict(open_page(PAGE), f"transaction.custom1: {values('a', 80)}\ntransaction.custom2: {values('b', 70)}\n")
    at.radio(key="qa_strength").set_value("full product").run()
    at.multiselect(key="qa_full_dims").set_value(["transaction.custom1", "transaction.custom2"]).run()
    assert any("**5,600 cases**" in m.value for m in at.markdown)
    assert at.checkbox(key="qa_confirm").label.startswith("Yes, generate all 5,600 cases")
    at = button(at, "Generate").click().run()
    assert any("confirm" in e for e in errors(at)) and not at.success
    at.checkbox(key="qa_confirm").check()
    at = button(at, "Generate").click().run()
    assert not errors(at) and len(table(at, "expected")) == 5600

    at = apply_pict(at, f"transaction.custom1: {values('a', 400)}\ntransaction.custom2: {values('b', 300)}\n")
    at.multiselect(key="qa_full_dims").set_value(["transaction.custom1", "transaction.custom2"]).run()
    assert any("120,000 cases is more than the 100,000 allowed" in e for e in errors(at))
    assert button(at, "Generate").disabled
