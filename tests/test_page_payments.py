"""AppTest of the payment pages: the status in words, capture / void / refund from Session detail and
Payments (before → after, what is left, refusals at the field), roles, and the paid toast.

The customer pays on the sandbox's real checkout form (HTTP), and the console learns of it the way
it does for a session whose webhook has not come: ``reconcile_session`` (the webhook path itself
is the route's tests' and the browser test's).
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import example, given
from streamlit.testing.v1 import AppTest

from lib.access.policy import Identity
from lib.fields.schema import AMOUNT, CAPTURE, CURRENCY, ORDER_ID
from lib.payments.service import PaymentsService
from lib.sandbox.runtime import ensure_sandbox
from lib.sessions.service import SessionsService
from tests.conftest import REPO
from tests.page_support import errors, field_errors, run, seen
from tests.test_page_input_properties import PROPERTY, Typed, amounts_per_currency

LOCAL = Identity("tester@example.com", frozenset({"admin"}), local_mode=True)
CARD = {"number": "4111 1111 1111 1111", "expiry": "12/35", "cvc": "123", "holder": "Ada Lovelace"}
DETAIL = str(REPO / "pages/session_detail.py")
PAYMENTS = str(REPO / "pages/payments.py")


def paid_session(console: SessionsService, amount: str = "20.00", currency: str = "gbp", *, capture: bool = True,
                 number: str = CARD["number"], who: Identity = LOCAL) -> tuple[str, str]:
    """A session created by ``who``, paid on its checkout page, known to the console: (session, transaction)."""
    values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: amount, CURRENCY: currency, CAPTURE: capture}
    session_id = console.create("sandbox", who, values).session_id
    reply = requests.post(f"{ensure_sandbox().base_url}/checkout/{session_id}", data={**CARD, "number": number},
                          timeout=10)
    assert reply.status_code == 200, reply.text
    payments = PaymentsService(console)
    payments.reconcile_session(LOCAL, session_id)
    record = payments.status(session_id).transaction
    assert record is not None
    return session_id, record.transaction_id


def markdown(at: AppTest) -> str:
    return "\n".join(seen(m.value) for m in at.markdown)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click()
    return run(at)


def typed(at: AppTest, label: str, text: str) -> None:
    next(t for t in at.text_input if t.label == label).input(text)


def test_detail_shows_authorised_then_part_capture_then_part_refund_adding_up(app_console: SessionsService) -> None:
    session_id, txn = paid_session(app_console, "20.00", capture=False)
    at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
    assert "Payment: 🔒 authorised, to capture: 20.00 GBP" in markdown(at)
    typed(at, "Amount to capture", "12,50")
    click(at, "Capture")
    assert field_errors(at)["amount"].startswith("Amount: amount must be a number: use a point for decimals: 12.50")
    typed(at, "Amount to capture", "12.50")
    click(at, "Capture")
    assert "Payment: ✅ paid: 12.50 GBP" in markdown(at)
    done = seen(at.success[0].value)
    assert "Capture done" in done and "left to refund 12.50 GBP" in done
    before_after = next(d.value for d in at.dataframe if "Before" in d.value.columns)
    assert list(before_after["Before"])[:2] == ["0.00 GBP", "0.00 GBP"]
    assert list(before_after["After"])[:2] == ["12.50 GBP", "0.00 GBP"]
    typed(at, "Amount to refund", "13")
    typed(at, "Statement reference", "REF-1")
    click(at, "Refund")
    assert field_errors(at)["amount"] == "Amount: amount must be at most 12.50 GBP (what is left to refund)"
    long_reference = "INVOICE-2026-12-0042-PARTIAL"  # 28 characters pasted into an 18-character field
    typed(at, "Amount to refund", "5")
    typed(at, "Statement reference", long_reference)
    click(at, "Refund")
    assert field_errors(at)["reference"].startswith("Statement reference: reference format is invalid, must be 1-18")
    assert next(t.value for t in at.text_input if t.label == "Statement reference") == long_reference  # kept
    typed(at, "Statement reference", "REF-1")
    click(at, "Refund")
    assert "Payment: ↩️ partly refunded: 5.00 GBP of 12.50 GBP" in markdown(at)
    assert [t.value for t in at.text_input if t.label in ("Amount to refund", "Statement reference")] == ["", ""]
    record = PaymentsService(app_console).transaction("sandbox", txn)
    assert (record.captured, record.refunded, record.left_to_refund) == (Decimal("12.50"), Decimal(5), Decimal("7.50"))
    at.run()  # the next tick: the same figures on the page (nothing counted twice)
    assert "Payment: ↩️ partly refunded: 5.00 GBP of 12.50 GBP" in markdown(at)


def test_void_releases_an_authorisation(app_console: SessionsService) -> None:
    session_id, _ = paid_session(app_console, "8.00", capture=False)
    at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
    click(at, "Void the authorisation")
    assert "Payment: ✖️ voided" in markdown(at)
    assert "Nothing left to capture, void or refund" in "\n".join(c.value for c in at.caption)


def test_a_declined_card_shows_declined_with_its_reason(app_console: SessionsService) -> None:
    values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: "9.00", CURRENCY: "gbp"}
    session_id = app_console.create("sandbox", LOCAL, values).session_id
    requests.post(f"{ensure_sandbox().base_url}/checkout/{session_id}",
                  data={**CARD, "number": "4000 0000 0000 9995"}, timeout=10)
    PaymentsService(app_console).reconcile_session(LOCAL, session_id)
    at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
    assert "Payment: 🚫 declined: insufficient funds" in markdown(at)
    assert not [b for b in at.button if b.label in ("Capture", "Refund")]


def test_payments_view_lists_today_paid_and_acts_on_the_one_picked(app_console: SessionsService) -> None:
    session_id, _ = paid_session(app_console, "30.00")
    waiting = app_console.create("sandbox", LOCAL, {ORDER_ID: "ord-waiting", AMOUNT: "1.00", CURRENCY: "gbp"})
    at = run(AppTest.from_file(PAYMENTS, default_timeout=30))
    rows = at.dataframe[0].value
    assert "✅ paid: 30.00 GBP" in list(rows["Payment"])
    assert "ord-waiting" not in list(rows["Order id"])  # awaiting payment is not in the default view
    at.multiselect(key="payments_statuses").set_value([]).run()  # empty: every status
    assert "⏳ awaiting payment" in list(at.dataframe[0].value["Payment"])
    assert waiting.session_id
    at.selectbox(key="payments_picked").set_value(session_id).run()
    typed(at, "Amount to refund", "30")
    typed(at, "Statement reference", "FULL")
    click(at, "Refund")
    assert "Payment: ↩️ refunded: 30.00 GBP" in markdown(at)
    assert not errors(at)


@pytest.mark.parametrize(("role", "offered"), [("finance", True), ("admin", True), ("qa", True), ("auditor", False)])
def test_only_who_may_move_money_is_offered_the_forms(open_page, signed_in, app_console: SessionsService, role: str,
                                                      offered: bool) -> None:
    session_id, _ = paid_session(app_console, "20.00", capture=False)
    at = open_page("pages/session_detail.py", user=signed_in[role], session=session_id)
    assert "Payment: 🔒 authorised, to capture: 20.00 GBP" in markdown(at)
    assert any(b.label == "Capture" for b in at.button) is offered
    if not offered:
        told = "\n".join(seen(i.value) for i in at.info)
        assert "You may not capture here" in told and "finance" in told


def test_the_creator_is_told_once_when_a_session_is_paid(app_console: SessionsService) -> None:
    at = run(AppTest.from_file(PAYMENTS, default_timeout=30))  # the marker starts here
    assert not at.toast
    paid_session(app_console, "4.00")
    at.run()
    assert [seen(t.value) for t in at.toast][0].startswith("Paid: order ord-")
    at.run()
    assert not at.toast  # once per payment


@PROPERTY
@example(case=("gbp", Typed("20", Decimal(20))))
@example(case=("jpy", Typed("1500", Decimal(1500))))
@example(case=("gbp", Typed("12,50", None)))
@example(case=("gbp", Typed("0", None)))
@given(case=amounts_per_currency())
def test_capture_takes_exactly_the_amount_meant_or_refuses_it_at_the_field(app_console: SessionsService,
                                                                            case: tuple[str, Typed]) -> None:
    currency, text = case
    session_id, txn = paid_session(app_console, "1000000", currency, capture=False)
    at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
    typed(at, "Amount to capture", text.text)
    click(at, "Capture")
    record = PaymentsService(app_console).transaction("sandbox", txn)
    if text.meant is None:
        assert set(field_errors(at)) == {"amount"}, errors(at)
        assert record.captured == 0
    else:
        assert not errors(at), errors(at)
        assert record.captured == text.meant


@PROPERTY
@example(case=("gbp", Typed("20", Decimal(20))))
@example(case=("jpy", Typed("1500", Decimal(1500))))
@example(case=("gbp", Typed("12,50", None)))
@given(case=amounts_per_currency())
def test_refund_takes_exactly_the_amount_meant_or_refuses_it_at_the_field(app_console: SessionsService,
                                                                           case: tuple[str, Typed]) -> None:
    currency, text = case
    session_id, txn = paid_session(app_console, "1000000", currency)
    at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
    typed(at, "Amount to refund", text.text)
    typed(at, "Statement reference", "PROP")
    click(at, "Refund")
    record = PaymentsService(app_console).transaction("sandbox", txn)
    if text.meant is None:
        assert set(field_errors(at)) == {"amount"}, errors(at)
        assert record.refunded == 0
    else:
        assert not errors(at), errors(at)
        assert record.refunded == text.meant


def test_an_unanswered_refund_is_never_resent_looked_up_then_settled_by_a_person(
        app_env: Any, configure_environment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """acquired-test on the fake API, whose transactions carry no captured/refunded figures: the
    lookup cannot say whether the refund took effect, so the page offers the person's choice."""
    from tests.fake_acquired import APP_ID, APP_KEY, FakeAcquired, FakeServer, delivery, sign

    fake = FakeAcquired()
    fake.figures = False
    server = FakeServer(fake)
    try:
        configure_environment("acquired-test", app_id=APP_ID, app_key=APP_KEY, api_base=f"{server.base_url}/v1")
        monkeypatch.setenv("ACQUIRED_TEST_READ_TIMEOUT", "0.3")
        console = SessionsService(sandbox_base_url=ensure_sandbox().base_url, db_path=app_env / "ops.db")
        payments = PaymentsService(console)
        values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: "20.00", CURRENCY: "gbp"}
        session_id = console.create("acquired-test", LOCAL, values).session_id
        txn = fake.pay(session_id)
        body = delivery(txn.transaction_id, "success", txn.order_id)
        payments.receive_webhook("acquired-test", body, {"Hash": sign(body, APP_KEY), "Webhook-Version": "2"})
        at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
        assert "Payment: ✅ paid: 20.00 GBP" in markdown(at)
        fake.hold(1.0)
        typed(at, "Amount to refund", "5")
        typed(at, "Statement reference", "SLOW")
        click(at, "Refund")
        told = "\n".join(errors(at) + [seen(w.value) for w in at.warning])
        assert "No answer to the refund" in told and "not sent again" in told
        assert [a[0] for a in fake.actions] == ["refund"]
        assert not any(b.label.startswith("It took effect") for b in at.button)  # look it up first
        click(at, "Look up now")
        assert "cannot say whether the operation took effect" in "\n".join(seen(i.value) for i in at.info)
        typed(at, "Note for the log (what you checked, whom you asked)", "asked the Hub: no refund")
        click(at, "It did not take effect")
        assert "Your decision is recorded in the log." in [seen(s.value) for s in at.success]
        record = payments.transaction("acquired-test", txn.transaction_id)
        assert (record.uncertain, record.refunded) == (False, Decimal(0))
        assert "Payment: ✅ paid: 20.00 GBP" in markdown(at)
        assert [a[0] for a in fake.actions] == ["refund"]  # nothing was sent again
    finally:
        server.stop()


def test_a_live_refund_needs_the_typed_amount(app_env: Any, signed_in: Any, open_page: Any,
                                              configure_environment: Any) -> None:
    """acquired-live (on the fake API): the refund is refused until `5.00 GBP` is typed, as for creates."""
    from tests.fake_acquired import APP_ID, APP_KEY, FakeAcquired, FakeServer, delivery, sign

    fake = FakeAcquired()
    server = FakeServer(fake)
    try:
        configure_environment("acquired-live", app_id=APP_ID, app_key=APP_KEY, api_base=f"{server.base_url}/v1")
        console = SessionsService(sandbox_base_url=ensure_sandbox().base_url, db_path=app_env / "ops.db")
        payments = PaymentsService(console)
        finance = Identity(signed_in["finance"], frozenset({"finance"}), local_mode=False)
        values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: "20.00", CURRENCY: "gbp"}
        session_id = console.create("acquired-live", finance, values, confirm="20.00 GBP").session_id
        txn = fake.pay(session_id)
        body = delivery(txn.transaction_id, "success", txn.order_id)
        payments.receive_webhook("acquired-live", body, {"Hash": sign(body, APP_KEY), "Webhook-Version": "2"})
        at = open_page("pages/session_detail.py", user=signed_in["finance"], session=session_id)
        typed(at, "Amount to refund", "5")
        typed(at, "Statement reference", "LIVE")
        at.run()
        confirm = next(t for t in at.text_input if "to confirm" in t.label)
        assert "5.00 GBP" in confirm.label
        click(at, "Refund")
        assert any("5.00 GBP" in e for e in errors(at)), errors(at)
        assert fake.actions == []  # nothing sent
        next(t for t in at.text_input if "to confirm" in t.label).input("5.00 GBP")
        click(at, "Refund")
        assert "Payment: ↩️ partly refunded: 5.00 GBP of 20.00 GBP" in markdown(at)
        assert [a[0] for a in fake.actions] == ["refund"]
    finally:
        server.stop()


def test_a_session_of_an_environment_no_longer_configured_still_shows_its_payment(
        app_env: Any, configure_environment: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fake_acquired import APP_ID, APP_KEY, FakeAcquired, FakeServer, delivery, sign

    fake = FakeAcquired()
    server = FakeServer(fake)
    try:
        configure_environment("acquired-test", app_id=APP_ID, app_key=APP_KEY, api_base=f"{server.base_url}/v1")
        console = SessionsService(sandbox_base_url=ensure_sandbox().base_url, db_path=app_env / "ops.db")
        values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: "20.00", CURRENCY: "gbp"}
        session_id = console.create("acquired-test", LOCAL, values).session_id
        txn = fake.pay(session_id)
        body = delivery(txn.transaction_id, "success", txn.order_id)
        PaymentsService(console).receive_webhook("acquired-test", body,
                                                 {"Hash": sign(body, APP_KEY), "Webhook-Version": "2"})
        for name in ("ACQUIRED_TEST_APP_ID", "ACQUIRED_TEST_APP_KEY", "ACQUIRED_TEST_API_BASE"):
            monkeypatch.delenv(name)
        at = run(AppTest.from_file(DETAIL, default_timeout=30), session=session_id)
        assert "Payment: ✅ paid: 20.00 GBP" in markdown(at)
        typed(at, "Amount to refund", "5")
        typed(at, "Statement reference", "GONE")
        click(at, "Refund")  # refused, said, nothing sent
        assert any("acquired-test" in e for e in errors(at)), errors(at)
        assert fake.actions == []
    finally:
        server.stop()
