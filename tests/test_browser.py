"""End to end in a real browser: a fresh ``streamlit run app.py``, Debian's chromium, Playwright.

One scenario walks a finance person's path (create → see it tick → change the amount → the
customer's link shows the new amount → the audit log has both calls), with a screenshot of each
step under tests/artifacts/. Facts relied on are in shared/streamlit-notes.md. Run alone with
``.venv/bin/python -m pytest tests/test_browser.py -v``; skipped (never failed) without
/usr/bin/chromium unless ``CI=true``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests

try:
    from playwright.sync_api import expect
except ImportError:  # require_playwright() skips (or fails under CI=true) with the reason
    expect = None  # type: ignore[assignment]  # never called then: every test needs playwright first

from tests.browser_support import (
    AppServer,
    browser_app,
    clear_failure_shots,
    goto,
    mmss_seconds,
    new_page,
    records,
    save_log,
    shot,
    streamlit_app,
    wait_for_run,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

OPERATOR = "e2e@example.com"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MMSS_RE = re.compile(r"^\s*(\d+:)?\d{2}:\d{2}\s*$")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One fresh server for this module (the scenario runs first and requests a page URL first)."""
    clear_failure_shots()
    with browser_app(tmp_path_factory.mktemp("browser"), operator=OPERATOR, log_name="streamlit") as server:
        yield server



def main(page: Any) -> Any:
    return page.locator("[data-testid=stMain]")


def title(page: Any) -> Any:
    return main(page).locator("h1").first


def grid_with(page: Any, text: str) -> Any:
    """The dataframe one of whose cells contains ``text``."""
    return page.locator("[data-testid=stDataFrame]").filter(has=page.locator("[role=gridcell]", has_text=text))


def grid_row(page: Any, text: str) -> Any:
    """The dataframe row one of whose cells contains ``text``."""
    cell = page.locator("[role=gridcell]", has_text=text)
    return grid_with(page, text).locator("[role=row]").filter(has=cell)


def grid_cell(page: Any, text: str, header: str) -> Any:
    """The cell under the column headed ``header`` in the row containing ``text``."""
    th = grid_with(page, text).locator("[role=columnheader]").filter(
        has_text=re.compile(rf"^{re.escape(header)}$")).first
    index = th.get_attribute("aria-colindex")
    assert index, f"no column {header!r}"
    return grid_row(page, text).locator(f'[role=gridcell][aria-colindex="{index}"]')


def grid_records(page: Any, text: str) -> list[dict[str, str]]:
    """The rows on screen of the dataframe containing ``text``, as {column header: cell text}."""
    return records(grid_with(page, text).first)


def countdown_seconds(locator: Any) -> int:
    text = locator.inner_text().strip()
    assert MMSS_RE.match(text), f"not a countdown: {text!r}"
    return mmss_seconds(text)


def assert_ticks_down(locator: Any, *, gap_s: float = 2.2, min_drop: int = 2, within_s: float = 6.0) -> tuple[int, int]:
    """Two reads at least ``gap_s`` apart: the second is lower by ``min_drop`` s or more.

    The second read retries (a fragment rerun can replace the element mid-read) until
    ``within_s`` has passed; the first value is read once the element shows a countdown.
    """
    expect(locator).to_have_text(MMSS_RE)
    first = countdown_seconds(locator)
    locator.page.wait_for_timeout(gap_s * 1000)
    deadline = time.monotonic() + within_s
    second = -1
    while True:
        try:
            second = countdown_seconds(locator)
            if first - second >= min_drop:
                return first, second
        except Exception:  # noqa: BLE001 - the element was replaced by a rerun mid-read: read again
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"countdown did not tick down: {first}s, then {second}s {gap_s}s+ later")
        locator.page.wait_for_timeout(250)


def fill_text(page: Any, name: str | re.Pattern[str], value: str) -> None:
    """Type into a text input and commit it (Enter), then wait for the run it starts."""
    box = main(page).get_by_role("textbox", name=name).first
    box.fill(value)
    box.press("Enter")
    wait_for_run(page)


# --------------------------------------------------------------------------------------------
def test_finance_path_create_tick_update_pay_link_audit(app: AppServer, page: Any) -> None:
    started = last = time.monotonic()
    timings: list[tuple[str, float]] = []

    def step(name: str) -> None:
        nonlocal last
        now = time.monotonic()
        timings.append((name, now - last))
        last = now

    # 1. A page URL first on the fresh server: the page draws the frame on its own.
    goto(page, f"{app.url}/active_sessions")
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Environment", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("textbox", name="Operator")).to_have_value(OPERATOR)
    expect(title(page)).to_contain_text("Active sessions")
    shot(page, "01-active-sessions-direct")
    step("1 frame")

    # 2. New session: a whole amount (20: the amount that once crashed Update), create, read the
    # session id and the payment link. The toolbar has no Deploy button.
    goto(page, f"{app.url}/new_session")
    expect(title(page)).to_contain_text("New session")
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    fill_text(page, "Amount *", "20")
    expect(main(page).locator("[data-testid=stCode]").first).to_contain_text('"amount": 20')
    main(page).get_by_role("button", name=re.compile("Create session")).click()
    wait_for_run(page)
    success = main(page).locator("[data-testid=stAlertContentSuccess]")
    expect(success).to_contain_text("20.00 GBP")
    found = UUID_RE.search(success.inner_text())
    assert found, success.inner_text()
    order_id = found.group(0)
    id_box = main(page).locator("[data-testid=stCode]").filter(has_text=re.compile(rf"^\s*{UUID_RE.pattern}\s*$"))
    expect(id_box).to_have_count(1)
    session_id = id_box.inner_text().strip()
    assert session_id != order_id
    pay_link = main(page).locator(f'a[href$="/checkout/{session_id}"]').first
    expect(pay_link).to_have_text(re.compile(rf"checkout/{session_id}$"))
    link_url = pay_link.get_attribute("href")
    assert link_url and link_url.endswith(f"/checkout/{session_id}")
    expect(page.locator('[data-testid="countdown-created"]')).to_have_text(MMSS_RE)
    success.scroll_into_view_if_needed()
    shot(page, "02-new-session-created", full_page=False)
    step("2 create")

    # 3. Active sessions: the row is there and its "Left" cell ticks (run_every fragment).
    goto(page, f"{app.url}/active_sessions")
    expect(title(page)).to_contain_text("Active sessions")
    expect(grid_row(page, session_id)).to_have_count(1)
    expect(grid_cell(page, session_id, "Order id")).to_have_text(order_id)
    expect(grid_cell(page, session_id, "Amount")).to_have_text("20.00 GBP")
    before, after = assert_ticks_down(grid_cell(page, session_id, "Left"))
    assert 0 < after < before <= 600
    shot(page, "03-active-sessions-ticking")
    step("3 active")

    # 4. Update amount: prefilled 20.00; a decimal comma is refused at the field with a hint;
    # 25 (a delivery charge) shows before → after, confirm, a toast, version 2, the picker's new label.
    goto(page, f"{app.url}/update_amount?session={session_id}")
    expect(title(page)).to_contain_text("Update amount")
    expect(main(page)).to_contain_text(session_id)
    expect(main(page)).to_contain_text(order_id)
    amount_box = main(page).get_by_role("textbox", name="Amount *")
    expect(amount_box).to_have_count(1)
    expect(amount_box).to_have_value("20.00")
    fill_text(page, "Amount *", "25,50")
    expect(main(page).locator("[data-testid=stAlertContentError]").first).to_contain_text(
        "Amount: must be a number: use a point for decimals: 25.50")
    expect(main(page).get_by_role("button", name=re.compile("Confirm update"))).to_have_count(0)
    fill_text(page, "Amount *", "25")
    expect(grid_cell(page, "transaction.amount", "Before")).to_have_text("20.00")
    expect(grid_cell(page, "transaction.amount", "After")).to_have_text("25.00")
    shot(page, "04a-update-amount-before-after", full_page=False)
    main(page).get_by_role("button", name=re.compile("Confirm update")).click()
    wait_for_run(page)
    expect(page.locator("[data-testid=stToast]").first).to_contain_text("version 2")
    expect(main(page).locator("[data-testid=stAlertContentSuccess]")).to_contain_text("version 2")
    expect(main(page).get_by_role("combobox", name=re.compile("^Session"))).to_have_value(
        re.compile(rf"^{order_id} · 25\.00 GBP · "))  # the picker's label follows the update
    shot(page, "04b-update-amount-done", full_page=False)
    held = requests.get(link_url.replace("/checkout/", "/sandbox/sessions/"), timeout=5).json()
    assert Decimal(str(held["params"]["transaction"]["amount"])) == Decimal("25"), held  # the API has it
    assert len(held["versions"]) == 2, held
    step("4 update")

    # 5. The customer's link: the NEW amount, GBP, the order, time ticking.
    page.goto(link_url, wait_until="domcontentloaded")
    expect(page.locator("#amount")).to_have_text("25.00")
    expect(page.locator("#currency")).to_have_text("GBP")
    expect(page.locator("#order-id")).to_have_text(order_id)
    expect(page.locator("#link-state")).to_have_attribute("data-state", "active")
    assert_ticks_down(page.locator("#time-left"))
    shot(page, "05-payment-link")
    step("5 pay link")

    # 6. Audit log filtered to the session through the URL: one row per call, the update first (newest
    # first), each read through its result; the create's *request* cannot carry the session id (it
    # is not known yet), but its result does.
    page.set_viewport_size({"width": 2400, "height": 1000})  # the grid draws only the columns in view
    goto(page, f"{app.url}/audit_log?session_id={session_id}&since=all")
    expect(title(page)).to_contain_text("Audit log")
    expect(main(page).get_by_role("textbox", name="Session id")).to_have_value(session_id)
    expect(main(page)).to_contain_text("2 rows match")
    expect(grid_with(page, OPERATOR).locator("[role=row]")).to_have_count(1 + 2)  # header + rows
    rows = grid_records(page, OPERATOR)
    assert [(r["kind"], r["method"], r["endpoint"]) for r in rows] == [
        ("call", "PUT", "/v1/payment-sessions/{session_id}"), ("call", "POST", "/v1/payment-sessions")], rows
    updated, created = rows
    assert (created["order id"], created["HTTP"], created["outcome"]) == (order_id, "201", "✅ ok"), created
    assert (updated["HTTP"], updated["outcome"]) == ("200", "✅ ok"), updated
    assert all(r["operator"] == OPERATOR and r["environment"] == "sandbox" for r in rows), rows
    shot(page, "06-audit-log", full_page=False)
    step("6 audit log")
    print("browser scenario: " + ", ".join(f"{name} {secs:.1f}s" for name, secs in timings)
          + f"; total {time.monotonic() - started:.1f}s")


def test_audit_grid_columns_fit_at_1280_px(app: AppServer, browser: Any) -> None:
    """Every grid column is on screen at 1280 px without a horizontal scroll: the Audit log opens
    with the menu folded (one click brings it back), long values cut short (the opened entry shows
    them whole)."""
    from lib.calllog.log import CallLog

    log = CallLog(app.work / "ops.db")
    for n, (endpoint, method) in enumerate([("/v1/payment-sessions", "POST"),
                                            ("/v1/payment-sessions/{session_id}", "PUT")] * 3):
        common = dict(operator="a.long.operator.name@example.com", environment="acquired-test", method=method,
                      attempt_id=f"fit-{n}", endpoint=endpoint, path=endpoint, order_id=f"ORD-2026-12-{n:05d}",
                      amount="1234567.89", currency="gbp")
        log.append("api_request", **common, detail={})
        log.append("api_result", **common, http_status=201, outcome="ok", duration_ms=1234.5, detail={})
    with new_page(browser, viewport={"width": 1280, "height": 900}) as page:
        goto(page, f"{app.url}/audit_log?order_id=ORD-2026-12-*")
        expect(main(page)).to_contain_text("6 rows match")
        grid = grid_with(page, "ORD-2026-12-00005").first
        expect(grid.locator("[role=row]")).to_have_count(1 + 6)
        shot(page, "07-audit-grid-1280", full_page=False)
        size = grid.evaluate("""el => {
            const scroller = el.querySelector(".dvn-scroller");
            return {scroll: scroller.scrollWidth, visible: scroller.clientWidth,
                    shown: [...el.querySelectorAll("[role=columnheader]")].map(th => th.textContent.trim())};
        }""")
        assert size["scroll"] <= size["visible"], size  # no horizontal scroll: every column is on screen
        assert {"time (GMT)", "kind", "environment", "method", "endpoint", "HTTP", "outcome", "order id", "amount",
                "operator", "ms"} <= set(size["shown"]), size
        page.locator("[data-testid=stExpandSidebarButton]").click()  # the menu is one click away
        expect(page.get_by_role("link", name="Active sessions")).to_be_visible()
    print(f"audit grid at 1280 px: {size['visible']} px visible, {size['scroll']} px of columns")


def test_audit_evidence_download_verifies_offline_and_verify_ends_with_its_verdict(app: AppServer, page: Any,
                                                                                    tmp_path: Any) -> None:
    """The Export tab's evidence file, downloaded by the browser, passes ``verify-export``; the
    Integrity tab's verification ends at 100 % with its verdict."""
    from lib.calllog import cli

    goto(page, f"{app.url}/audit_log?kind=all&since=all")
    expect(main(page)).to_contain_text("rows match")
    main(page).get_by_role("tab", name=re.compile("Export")).click()
    with page.expect_download() as download:
        main(page).get_by_role("button", name=re.compile("Evidence")).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".jsonl" and cli.main(["verify-export", str(path)]) == 0
    main(page).get_by_role("tab", name=re.compile("Integrity")).click()
    main(page).get_by_role("button", name=re.compile("Verify the chain")).click()
    wait_for_run(page)
    expect(main(page).locator("[data-testid=stAlertContentSuccess]").first).to_contain_text("OK (")
    expect(main(page).locator("[data-testid=stProgress]").first).to_contain_text(re.compile(r"Checked ([\d,]+) of \1 entries"))
    shot(page, "08-audit-verified", full_page=False)


def test_bad_amount_shows_field_error_and_sends_nothing(app: AppServer, page: Any) -> None:
    """The pre-check's reason shows right under the field; no API call is logged (this new browser
    session's start is)."""
    from lib.calllog.log import CallLog

    def api_calls() -> int:
        log = CallLog(app.work / "ops.db")
        return sum(log.entry(seq)["kind"] in ("api_request", "api_result") for seq in range(1, log.count() + 1))

    logged = api_calls()
    goto(page, f"{app.url}/new_session")
    fill_text(page, "Amount *", "12,50")
    main(page).get_by_role("button", name=re.compile("Create session")).click()
    wait_for_run(page)
    expect(main(page).get_by_text("Amount: must be a number: use a point for decimals: 12.50")).to_be_visible()
    expect(main(page).get_by_text(re.compile("Nothing was sent"))).to_be_visible()
    expect(main(page).locator("[data-testid=stAlertContentSuccess]")).to_have_count(0)
    shot(page, "07-new-session-bad-amount", full_page=False)
    assert api_calls() == logged


def test_a_yen_session_is_created_updated_and_paid_in_whole_yen(app: AppServer, page: Any) -> None:
    goto(page, f"{app.url}/new_session")
    main(page).get_by_role("combobox", name="Currency *").click()
    page.get_by_role("option", name=re.compile("^JPY")).click()
    wait_for_run(page)
    expect(main(page).get_by_text("JPY: no decimals, at most 1,000,000 JPY")).to_be_visible()
    fill_text(page, "Amount *", "1,500")
    main(page).get_by_role("button", name=re.compile("Create session")).click()
    wait_for_run(page)
    expect(main(page).locator("[data-testid=stAlertContentSuccess]")).to_contain_text("1,500 JPY")
    session_id = main(page).locator("[data-testid=stCode]").filter(
        has_text=re.compile(rf"^\s*{UUID_RE.pattern}\s*$")).inner_text().strip()
    expect(main(page).locator("[data-testid=stCode]").filter(has_text="Please pay")).to_contain_text("1,500 JPY")
    goto(page, f"{app.url}/update_amount?session={session_id}")
    expect(main(page).get_by_role("textbox", name="Amount *")).to_have_value("1500")
    fill_text(page, "Amount *", "1500.5")
    expect(main(page).get_by_text("Amount: must have no decimal places")).to_be_visible()
    fill_text(page, "Amount *", "2000")
    expect(grid_cell(page, "transaction.amount", "After")).to_have_text("2000")
    main(page).get_by_role("button", name=re.compile("Confirm update")).click()
    wait_for_run(page)
    expect(main(page).locator("[data-testid=stAlertContentSuccess]")).to_contain_text("2,000 JPY")
    page.goto(f"{app.sandbox_url}/checkout/{session_id}", wait_until="domcontentloaded")
    expect(page.locator("#amount")).to_have_text("2,000")
    expect(page.locator("#currency")).to_have_text("JPY")
    shot(page, "08-yen-payment-link")


EVIL = "[pay here](https://evil.example) ![x](https://evil.example/x.png) https://evil.example"


@pytest.mark.parametrize("path", ["session_detail?session=", "update_amount?session=", "audit_log?entry=",
                                  "audit_log?http_status=", "audit_log?kind=", "qa_explorer?run="])
def test_text_from_the_url_is_shown_as_text(app: AppServer, page: Any, path: str) -> None:
    goto(page, f"{app.url}/{path}{quote(EVIL)}")
    expect(main(page)).to_contain_text("evil.example")
    assert page.locator('[data-testid=stMain] a[href*="evil"], [data-testid=stMain] img[src*="evil"]').count() == 0


def test_customer_text_is_shown_as_text_on_session_detail(app: AppServer, page: Any) -> None:
    from lib.fields.validation import SessionRequest
    from lib.sessions.service import SessionsService

    console = SessionsService(app.sandbox_url, app.work / "ops.db")
    body = {"transaction": {"order_id": "ord-evil-name", "amount": 30, "currency": "gbp"},
            "customer": {"first_name": "[Ann](http://evil.io)", "last_name": "**Smith** <b>x</b>"}}
    created = console.client("sandbox", OPERATOR).create_session(SessionRequest.parse(body))
    console.update("sandbox", console_identity(), created.session_id,
                   {"transaction.order_id": "ord-evil-name", "transaction.amount": "30",
                    "transaction.currency": "gbp", "customer.first_name": "![i](http://evil.io)",
                    "customer.last_name": "**Smith** <b>x</b>"})
    goto(page, f"{app.url}/session_detail?session={created.session_id}")
    page.get_by_role("tab", name=re.compile("Versions")).click()
    page.get_by_text(re.compile("^Version 2")).click()
    wait_for_run(page)
    expect(main(page)).to_contain_text("ord-evil-name")
    assert page.locator('[data-testid=stMain] a[href*="evil"], [data-testid=stMain] img[src*="evil"]').count() == 0
    assert page.locator("[data-testid=stMain] strong", has_text="Smith").count() == 0
    shot(page, "09-detail-customer-text-as-text", full_page=False)


def console_identity() -> Any:
    from lib.access.signin import AccessPolicy

    return AccessPolicy(auth=False).identity(None, operator_fallback=OPERATOR)


def test_markdown_and_html_from_outside_render_as_exactly_their_text(tmp_path_factory: pytest.TempPathFactory,
                                                                     browser: Any) -> None:
    """ui.text.md in a real browser, for Streamlit's own syntax too (colours, icons, LaTeX, arrows)."""
    from tests.markdown_corpus_app import CORPUS

    with streamlit_app(tmp_path_factory.mktemp("corpus"), script="tests/markdown_corpus_app.py") as server, \
            new_page(browser) as page:
        goto(page, server.url)
        expect(page.locator("[data-testid=stAlertContainer]")).to_have_count(len(CORPUS))
        assert page.locator("[data-testid=stMain] a, [data-testid=stMain] img, .katex").count() == 0
        alerts = [a.inner_text() for a in page.locator("[data-testid=stAlertContainer]").all()]
        cells = [c.inner_text() for c in page.locator("[data-testid=stTable] td").all()]
        captions = [c.inner_text() for c in page.locator("[data-testid=stCaptionContainer]").all()]
        assert alerts == [f"X {text} Y" for text in CORPUS]
        assert cells == CORPUS
        assert captions == [f"X {text} Y" for text in CORPUS]


def test_an_expiring_session_withdraws_its_message_and_qr_without_a_reload(
        tmp_path_factory: pytest.TempPathFactory, browser: Any) -> None:
    """With a 12-second lifetime: the countdown's tick at expiry redraws New session as expired."""
    with streamlit_app(tmp_path_factory.mktemp("short"), extra_env={"SANDBOX_SESSION_TTL_SECONDS": "12"}) as server, \
            new_page(browser) as page:
        goto(page, f"{server.url}/new_session")
        fill_text(page, "Amount *", "20")
        main(page).get_by_role("button", name=re.compile("Create session")).click()
        wait_for_run(page)
        expect(main(page).locator("[data-testid=stImage]")).to_have_count(1)
        expect(main(page).locator("[data-testid=stCode]").filter(has_text="Please pay")).to_have_count(1)
        expect(main(page).locator("[data-testid=stAlertContentWarning]")).to_contain_text(
            "no longer takes a payment", timeout=25_000)
        expect(main(page).locator("[data-testid=stImage]")).to_have_count(0)
        expect(main(page).locator("[data-testid=stCode]").filter(has_text="Please pay")).to_have_count(0)
        shot(page, "10-new-session-expired", full_page=False)


# --- sign-in required ([auth] configured) ----------------------------------------------------------
@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[AppServer]:
    """A second fresh server with [auth] and [access] set: both where lib.access.policy reads them
    (OPS_SECRETS_PATH) and where Streamlit's own st.secrets / st.login does (config ``secrets.files``)."""
    from tests.conftest import AUTH_SECRETS

    work = tmp_path_factory.mktemp("browser-auth")
    secrets = work / "secrets.toml"
    secrets.write_text(AUTH_SECRETS)
    with streamlit_app(work, extra_env={"OPS_SECRETS_PATH": str(secrets),
                                        "STREAMLIT_SECRETS_FILES": str(secrets)}) as server:
        try:
            yield server
        finally:
            save_log(server, "streamlit-auth")


@pytest.mark.parametrize("path", ["audit_log", "session_detail?session=anything", ""])
def test_with_auth_a_page_url_shows_only_the_login_prompt(auth_app: AppServer, browser: Any, path: str) -> None:
    """The first request to a fresh server goes straight to a page file (no app.py): it must still
    ask for a sign-in and draw none of the page."""
    with new_page(browser) as page:
        goto(page, f"{auth_app.url}/{path}")
        expect(main(page).locator("h1").first).to_contain_text("Sign in")
        expect(page.get_by_role("button", name=re.compile("Log in"))).to_be_visible()
        shot(page, f"auth-login-{path.split('?')[0] or 'root'}")
        shown = main(page).inner_text() + " ".join(page.locator("[data-testid=stSidebar]").all_inner_texts())
        for leaked in ("rows match", "Audit log", "Session detail", "Pick a recent session", "Environment"):
            assert leaked not in shown
        assert page.locator("[data-testid=stDataFrame]").count() == 0


def test_log_in_goes_to_streamlit_oidc_route_with_our_auth_settings(auth_app: AppServer, browser: Any) -> None:
    """Log in hands over to Streamlit's own /auth/login (so st.secrets holds our [auth] and
    Authlib + httpx are installed); the fake provider is unreachable offline, so it ends in
    Streamlit's authentication error, never in the console."""
    with new_page(browser) as page:
        goto(page, f"{auth_app.url}/audit_log")
        page.get_by_role("button", name=re.compile("Log in")).click()
        page.wait_for_url(re.compile(r"/auth/login\?provider="), timeout=15_000)
        expect(page.locator("body")).to_contain_text("Authentication error", timeout=15_000)
        assert "rows match" not in page.locator("body").inner_text()
