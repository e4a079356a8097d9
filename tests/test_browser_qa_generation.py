"""In a real browser, the QA page while a suite is generated in the background: its progress moves
with no click (the fragment's tick, which AppTest never fires), and Cancel ends it with no suite.
A full product of 65,988 cases (confirmed, as over 5,000 must be) is the big generation: seconds of
placing and checking cases, enough to watch (a 3-way suite takes well under a second now).
Every wait is Playwright's ``expect`` (a poll with a deadline), never a fixed sleep.
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

from tests.browser_support import AppServer, browser_app, goto, shot, wait_for_run
from tests.test_browser import main

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PLACED = re.compile(r"Generating… cases (placed|checked against the contract): \d")
FULL_OVER = ("transaction.currency", "payment_methods", "tds.challenge_window_size", "tds.challenge_preference",
             "transaction.amount", "save_card")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with browser_app(tmp_path_factory.mktemp("browser-qa"), operator="qa-e2e@example.com",
                     log_name="streamlit-qa") as server:
        yield server


def test_generation_progress_moves_by_itself_and_cancel_leaves_no_suite(app: AppServer, page: Any) -> None:
    goto(page, f"{app.url}/qa_explorer")
    main(page).get_by_role("tab", name=re.compile("Generate")).click()
    main(page).get_by_text("full product", exact=True).click()
    wait_for_run(page)
    fields = main(page).get_by_role("combobox", name="Full product over")
    for path in FULL_OVER:
        fields.click()
        fields.fill(path)
        page.keyboard.press("Enter")
        wait_for_run(page)
    page.keyboard.press("Escape")
    main(page).get_by_text("Yes, generate all 65,988 cases", exact=False).click()
    wait_for_run(page)
    main(page).get_by_role("button", name=re.compile("Generate$")).click()
    bar = main(page).locator("[data-testid=stProgress]")
    expect(bar).to_contain_text(PLACED, timeout=60_000)
    before = bar.inner_text()
    expect(bar).not_to_have_text(before, timeout=20_000)  # redrawn by the fragment alone: nothing was clicked
    expect(bar).to_contain_text(PLACED)
    shot(page, "qa-generation-progress", full_page=False)
    main(page).get_by_role("button", name=re.compile("Cancel generation")).click()
    expect(main(page).get_by_text("Generation cancelled: no suite was made.")).to_be_visible(timeout=30_000)
    expect(bar).to_have_count(0)
    expect(main(page).locator("[data-testid=stMetric]")).to_have_count(0)
    main(page).get_by_role("tab", name=re.compile("Run")).click()
    expect(main(page).get_by_role("button", name=re.compile("generate a suite first"))).to_be_disabled()
