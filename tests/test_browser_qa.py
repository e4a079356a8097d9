"""In a real browser, a QA person's whole path on the QA explorer, as tests/test_page_qa.py drives it
step by step under AppTest: paste a PICT model (a misspelt field is named by its line first), add a
3-way sub-model, generate a pairwise suite and read the disagreements between the `~` marks and the
contract before anything is sent, run it against the local sandbox (the page polls itself to the
end), open the surprising case's request and answer, rerun the failed and surprising cases in one
click, and compare the two saved runs. AppTest never clicks a grid's row, never types into a text
area as a person does and never lets a fragment tick: this walks those through chromium. Each main
step leaves a screenshot under tests/artifacts/; every wait is Playwright's ``expect`` (a poll with
a deadline), never a fixed sleep.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # require_playwright() skips (or fails under CI=true) with the reason
    expect = None  # type: ignore[assignment]

from tests.browser_support import AppServer, browser_app, goto, records, shot, wait_for_run
from tests.test_browser import main

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

OPERATOR = "qa-path@example.com"
# The tester believes the largest amount is out of bounds and marks it `~` (must be refused); the
# contract's maximum is inclusive, so the sandbox accepts it: the run's one surprise.
BELIEVED_NEGATIVE = "~999999999999.99"
MODEL = f"""# Checkout with 3-D Secure, two currencies
transaction.currency: gbp, eur, ~xxx
transaction.amount: 0.01, 15.02, {BELIEVED_NEGATIVE}, ~-1
save_card: true, false
tds.is_active: true, false
tds.challenge_preference: challenge_mandated, no_preference, <not sent>

IF [tds.is_active] = "false" THEN [tds.challenge_preference] = "<not sent>";
"""
MISSPELT = MODEL.replace("tds.challenge_preference:", "tds.challenge_prefrence:")
SUBMODEL = "{ tds.is_active, tds.challenge_preference, transaction.currency } @ 3"
RUN_ID = re.compile(r"^Run (\S+)$")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with browser_app(tmp_path_factory.mktemp("browser-qa-path"), operator=OPERATOR,
                     log_name="streamlit-qa-path") as server:
        yield server


def tab(page: Any, name: str) -> Any:
    """Click one of the page's tabs (or a comparison's) and return its panel."""
    button = main(page).get_by_role("tab", name=re.compile(re.escape(name))).first
    button.click()
    panel = main(page).get_by_role("tabpanel", name=re.compile(re.escape(name))).first
    expect(panel).to_be_visible()
    return panel


def type_text(page: Any, name: str, text: str) -> None:
    """Type into a text area and commit it (Ctrl+Enter), as a person does before clicking elsewhere."""
    box = main(page).get_by_role("textbox", name=name)
    box.fill(text)
    box.press("Control+Enter")
    wait_for_run(page)


def grid(page: Any, column: str) -> Any:
    """The dataframe with a column headed ``column`` (a plain st.dataframe's key is not in the DOM)."""
    header = page.locator("[role=columnheader]").filter(has_text=re.compile(rf"^{re.escape(column)}$"))
    return main(page).locator("[data-testid=stDataFrame]").filter(has=header)


def run_heading(page: Any) -> str:
    heading = main(page).locator("h3").filter(has_text=RUN_ID).first
    expect(heading).to_be_visible()
    found = RUN_ID.match(heading.inner_text().strip())
    assert found, heading.inner_text()
    return found.group(1)


def test_qa_path_model_generate_run_open_rerun_compare(app: AppServer, page: Any) -> None:
    goto(page, f"{app.url}/qa_explorer")

    # 1. Model: a misspelt field is named by its line, nothing typed is lost; the corrected text applies.
    tab(page, "Model")
    main(page).get_by_text("PICT model text: import / export").click()
    type_text(page, "PICT model", MISSPELT)
    main(page).get_by_role("button", name=re.compile("Apply PICT")).click()
    wait_for_run(page)
    error = main(page).locator("[data-testid=stAlertContentError]")
    expect(error).to_contain_text("PICT line 6: unknown field 'tds.challenge_prefrence'")
    expect(main(page).get_by_role("textbox", name="PICT model")).to_have_value(MISSPELT)
    expect(main(page).get_by_text(re.compile(r"^14 of 47 fields enabled"))).to_be_visible()  # still the default
    shot(page, "qa-path-1a-misspelt-field")
    main(page).get_by_role("textbox", name="PICT model").fill(MODEL)  # pasted, then straight to the button
    main(page).get_by_role("button", name=re.compile("Apply PICT")).click()
    wait_for_run(page)
    expect(error).to_have_count(0)
    expect(main(page).get_by_text("5 of 47 fields enabled · 1 constraint(s) · 0 sub-model(s)")).to_be_visible()
    expect(main(page).get_by_role("textbox", name="Constraints (PICT lines)")).to_have_value(
        'IF [tds.is_active] = "false" THEN [tds.challenge_preference] = "<not sent>";')
    type_text(page, "Sub-models (PICT lines)", SUBMODEL)
    expect(main(page).get_by_text("5 of 47 fields enabled · 1 constraint(s) · 1 sub-model(s)")).to_be_visible()
    shot(page, "qa-path-1b-model-applied")

    # 2. Generate: pairwise, 100 % of the pairs and the sub-model's triples; the value marked `~`
    # that the contract accepts is listed before anything is sent.
    tab(page, "Generate")
    main(page).get_by_role("button", name=re.compile("Generate$")).click()
    success = main(page).locator("[data-testid=stAlertContentSuccess]")
    expect(success).to_contain_text(re.compile(
        r"pairs, triples within \{ tds\.is_active, tds\.challenge_preference, transaction\.currency \} "
        r"covered / possible after constraints: (\d+) / \1 \(100 %\)"), timeout=30_000)
    ours = main(page).locator("[data-testid=stMetric]").filter(has_text="Cases (ours)")
    expect(ours.locator("[data-testid=stMetricValue]")).to_have_text(re.compile(r"^\d+$"))
    cases = int(ours.locator("[data-testid=stMetricValue]").inner_text())
    warning = main(page).locator("[data-testid=stAlertContentWarning]")
    expect(warning).to_contain_text("1 value(s) where your marks (~ = must be refused on its field) and the contract")
    disagreements = grid(page, "contract says")
    expect(disagreements.locator("[role=gridcell]", has_text=BELIEVED_NEGATIVE)).to_have_count(1)
    [announced] = records(disagreements)
    assert announced == {"field": "transaction.amount", "value": BELIEVED_NEGATIVE, "you marked": "negative",
                         "contract says": "accepted", "in cases": "1", "first case": announced["first case"]}
    shot(page, "qa-path-2-generated")

    # 3. Run against the local sandbox (the default target); the page polls itself to the end.
    tab(page, "Run")
    expect(main(page).get_by_role("combobox", name="Target")).to_have_value("sandbox")
    main(page).get_by_role("button", name=f"Run {cases} cases").click()
    bar = main(page).locator("[data-testid=stProgress]")
    expect(bar).to_contain_text(f"{cases} / {cases} cases · 1 surprise(s) · completed", timeout=60_000)
    first_run = run_heading(page)
    results = grid(page, "session id / refusal")
    expect(results.locator("tbody [role=row]")).to_have_count(cases)
    flagged = [r for r in records(results) if r["surprise"]]
    assert [(r["#"], r["surprise"], r["transaction.amount"], r["HTTP status"]) for r in flagged] == [
        (announced["first case"], "⚠ surprise", BELIEVED_NEGATIVE, "201")], flagged  # the case announced
    counts = grid(page, "cases").filter(has_not=page.locator("[role=columnheader]", has_text="surprises"))
    expect(counts.locator("tbody [role=row]")).to_have_count(2)
    assert {r["result"]: r["cases"] for r in records(counts)} == {
        "as_expected": str(cases - 1), "unexpected_accept": "1"}, records(counts)
    culprits = grid(page, "failure rate")
    expect(culprits.locator("[role=gridcell]", has_text=BELIEVED_NEGATIVE)).to_have_count(1)
    worst = records(culprits)[0]  # worst first: the value in every surprising case and in no other
    assert (worst["field"], worst["value"], worst["cases"], worst["surprises"]) == (
        "transaction.amount", BELIEVED_NEGATIVE, "1", "1"), records(culprits)
    shot(page, "qa-path-3-run-finished")

    # 4. Only the surprises, and open the one case: its request and the sandbox's answer, as text.
    main(page).get_by_text("Only surprises").click()
    wait_for_run(page)
    expect(results.locator("tbody [role=row]")).to_have_count(1)
    expect(main(page).get_by_text("Select a case to see its request and the API's answer.")).to_be_visible()
    [surprise] = records(results)
    assert (surprise["#"], surprise["result"]) == (announced["first case"], "unexpected_accept"), surprise
    surface = results.locator(".dvn-scroller")  # over the canvas: it takes the clicks
    box = surface.bounding_box()
    assert box, "the results grid is not on screen"
    surface.click(position={"x": 16, "y": box["height"] * 3 / 4})  # the row marker of the one row
    wait_for_run(page)
    index = surprise["#"]
    expect(main(page).get_by_text(
        f"Case #{index} · unexpected_accept · expected refused: transaction.amount", exact=True)).to_be_visible()
    codes = main(page).locator("[data-testid=stCode]")
    expect(codes.filter(has_text=re.compile(r"^POST /v1/payment-sessions$"))).to_have_count(1)
    expect(codes.filter(has_text='"Authorization": "[REDACTED]"')).to_have_count(1)
    sent = codes.filter(has_text='"order_id"')
    expect(sent).to_contain_text(f'"order_id": "qa-0-{index}"')
    expect(sent).to_contain_text('"amount": 999999999999.99')
    expect(main(page).get_by_text(re.compile(r"^HTTP 201 · ✅ ok · \d+ ms$"))).to_be_visible()
    expect(codes.filter(has_text='"session_id"')).to_contain_text(surprise["session id / refusal"])
    expect(main(page).get_by_role("link", name=re.compile(r"Open entry #\d+ in the Audit log"))).to_be_visible()
    shot(page, "qa-path-4-opened-case")

    # 5. Saved runs: the failed and surprising cases again, in one click: a new run of exactly those.
    saved = tab(page, "Saved runs")
    expect(saved.get_by_role("combobox", name="Run", exact=True)).to_have_value(re.compile(f"^{first_run} · sandbox"))
    saved.get_by_role("button", name=re.compile("Rerun failed and surprising cases")).click()
    wait_for_run(page)
    notice = saved.locator("[data-testid=stAlertContentSuccess]")
    expect(notice).to_contain_text(re.compile(rf"Run (\S+) started \(rerun of {first_run}\): it shows on the Run tab\."))
    rerun = re.search(r"Run (\S+) started", notice.inner_text())
    assert rerun, notice.inner_text()
    second_run = rerun.group(1)
    assert second_run != first_run
    tab(page, "Run")
    expect(bar).to_contain_text("1 / 1 cases · 1 surprise(s) · completed", timeout=30_000)
    assert run_heading(page) == second_run
    expect(main(page).get_by_text(re.compile(rf"· rerun of {first_run} \(surprises\)$"))).to_be_visible()
    main(page).get_by_text("Only surprises").click()  # off: every case of the new run
    wait_for_run(page)
    expect(results.locator("tbody [role=row]")).to_have_count(1)
    [again] = records(results)
    assert (again["#"], again["transaction.amount"], again["result"]) == (index, BELIEVED_NEGATIVE, surprise["result"])
    shot(page, "qa-path-5-rerun")

    # 6. Saved runs: both runs listed, the rerun naming its origin. Compare them (A the first run, B the
    # rerun): the cases only in A, only in B and those that differ, apart.
    saved = tab(page, "Saved runs")
    runs = grid(page, "origin")
    expect(runs.locator("tbody [role=row]")).to_have_count(2)
    assert [(r["run"], r["total"], r["surprises"], r["status"], r["origin"]) for r in records(runs)] == [
        (second_run, "1", "1", "completed", f"rerun of {first_run} (surprises)"),
        (first_run, str(cases), "1", "completed", "")], records(runs)
    # The pickers followed the new run: A the run it reran, B the rerun, with nothing picked.
    shot(page, "qa-path-6a-saved-runs")
    for name, run_id in (("Run A", first_run), ("Run B", second_run)):
        expect(saved.get_by_role("combobox", name=name)).to_have_value(re.compile(rf"^{re.escape(run_id)} · "))
    expect(saved.get_by_text(re.compile(r"^Cases matched by their values"))).to_have_text(
        f"Cases matched by their values: 0 differ · {cases - 1} only in A · 0 only in B · 1 alike")
    shot(page, "qa-path-6b-compare-differ")
    expect(tab(page, "Differ (0)").get_by_text("None.", exact=True)).to_be_visible()
    only_a = tab(page, f"Only in A ({cases - 1})")
    expect(only_a.get_by_text("None.", exact=True)).to_have_count(0)
    in_a = only_a.locator("[data-testid=stDataFrame]")
    expect(in_a).to_be_visible()
    expect(in_a.locator("tbody [role=row]")).to_have_count(cases - 1)
    shown = records(in_a)
    assert shown and all(list(r)[:1] == ["A"] and "B" not in r for r in shown), shown
    assert all(r["transaction.amount"] != BELIEVED_NEGATIVE for r in shown), shown  # the rerun case is alike
    shot(page, "qa-path-6c-compare-only-in-a")
    expect(tab(page, "Only in B (0)").get_by_text("None.", exact=True)).to_be_visible()
