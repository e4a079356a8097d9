"""PaymentsService: statuses in words, reconciliation, money operations, their rules, roles and races.

Over real HTTP against tests/fake_acquired.py (the sandbox's payment routes are on another branch);
the call log is verified after every test (the ``world`` fixture).
"""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from lib.access.policy import AccessDenied, Identity
from lib.api.errors import UnknownOutcome
from lib.payments.service import InvalidRequest, OperationNotAllowed, PaymentStatus, Verdict
from lib.sessions.live_safety import LiveConfirmationRequired
from lib.storage.db import connect
from tests.fake_acquired import delivery
from tests.payments_support import ADMIN, AUDITOR, FINANCE, QA, World, world_fixture  # noqa: F401 - the fixture


def test_statuses_of_many_sessions_take_one_query(world: World) -> None:
    ids = [world.session() for _ in range(30)]
    for session_id in ids[:10]:
        world.paid(session_id)
    sessions = world.sessions.active("sandbox")
    statements: list[str] = []
    conn = connect(world.sessions.db_path).conn
    conn.set_trace_callback(statements.append)
    try:
        states = world.payments.statuses(sessions)
    finally:
        conn.set_trace_callback(None)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert sum(states[i].status is PaymentStatus.PAID for i in ids) == 10
    assert sum(states[i].status is PaymentStatus.AWAITING for i in ids) == 20
    assert world.payments.active_statuses(ids) == states


@pytest.mark.parametrize(("status", "reason", "expected", "text"), [
    ("declined", "insufficient_funds", PaymentStatus.DECLINED, "🚫 declined: insufficient funds"),
    ("declined", "do_not_honor", PaymentStatus.DECLINED, "🚫 declined: the bank declined (do not honour)"),
    ("blocked", "fraud_suspected", PaymentStatus.DECLINED, "🚫 declined: fraud suspected"),
    ("tds_failed", None, PaymentStatus.TDS_FAILED, "🛡 3-D Secure failed"),
    ("tds_expired", None, PaymentStatus.TDS_EXPIRED, "⌛ 3-D Secure expired"),
])
def test_a_failed_payment_is_named_in_words(world: World, status: str, reason: str | None,
                                            expected: PaymentStatus, text: str) -> None:
    session_id = world.session()
    world.paid(session_id, status, reason=reason)
    state = world.payments.status(session_id)
    assert (state.status, state.text) == (expected, text)
    world.clock.advance(minutes=11)
    assert world.payments.status(session_id).status is PaymentStatus.EXPIRED_UNPAID


def test_authorised_then_captured_in_part_then_refunded(world: World) -> None:
    session_id = world.session("20.00", capture=False)
    txn_id, _ = world.paid(session_id)
    assert world.payments.status(session_id).text == "🔒 authorised, to capture: 20.00 GBP"
    done = world.payments.capture("sandbox", FINANCE, txn_id, "15.00")
    assert (done.before.left_to_capture, done.after.captured, done.left_to_capture, done.left_to_refund) == \
        (Decimal("20.00"), Decimal("15.00"), 0, Decimal("15.00"))
    with pytest.raises(OperationNotAllowed, match="captured already"):
        world.payments.capture("sandbox", FINANCE, txn_id, "5.00")
    refund = world.payments.refund("sandbox", FINANCE, txn_id, "5", "part refund")
    assert refund.left_to_refund == Decimal("10.00")
    assert world.payments.status(session_id).text == "↩️ partly refunded: 5.00 GBP of 15.00 GBP"
    world.payments.refund("sandbox", FINANCE, txn_id, "10.00", "the rest")
    assert world.payments.status(session_id).status is PaymentStatus.REFUNDED
    assert [a[0] for a in world.fake.actions] == ["capture", "refund", "refund"]


def test_void_releases_an_authorisation_and_nothing_else_may_follow(world: World) -> None:
    txn_id, _ = world.paid(world.session(capture=False))
    world.payments.void("sandbox", FINANCE, txn_id)
    assert world.payments.transaction("sandbox", txn_id).voided
    for act in (lambda: world.payments.capture("sandbox", FINANCE, txn_id),
                lambda: world.payments.void("sandbox", FINANCE, txn_id)):
        with pytest.raises(OperationNotAllowed, match="voided already"):
            act()


@pytest.mark.parametrize(("operation", "capture", "amount", "field", "words"), [
    ("refund", True, "20.01", "amount", "at most 20.00 GBP (what is left to refund)"),
    ("capture", False, "20.01", "amount", "at most 20.00 GBP (what is left to capture)"),
    ("capture", True, None, "transaction", "captured already"),
    ("void", True, None, "transaction", "captured already: refund it instead"),
    ("refund", False, "1.00", "transaction", "nothing was captured"),
])
def test_the_rules_refuse_at_the_field_before_sending(world: World, operation: str, capture: bool,
                                                      amount: str | None, field: str, words: str) -> None:
    txn_id, _ = world.paid(world.session("20.00", capture=capture))
    calls = world.log.count()
    with pytest.raises(InvalidRequest) as refused:
        if operation == "refund":
            world.payments.refund("sandbox", FINANCE, txn_id, amount or "", "ref")
        elif operation == "capture":
            world.payments.capture("sandbox", FINANCE, txn_id, amount)
        else:
            world.payments.void("sandbox", FINANCE, txn_id)
    assert [p["parameter"] for p in refused.value.problems] == [field]
    assert words in refused.value.problems[0]["reason"]
    assert world.fake.actions == [] and world.log.count() == calls  # nothing sent, nothing logged


def test_a_declined_payment_cannot_be_refunded(world: World) -> None:
    txn_id, _ = world.paid(world.session(), "declined", reason="do_not_honor")
    with pytest.raises(OperationNotAllowed, match="only a successful payment"):
        world.payments.refund("sandbox", FINANCE, txn_id, "1.00", "ref")


@pytest.mark.parametrize(("who", "env", "allowed"), [
    (FINANCE, "sandbox", True), (ADMIN, "sandbox", True), (QA, "sandbox", True), (AUDITOR, "sandbox", False),
    (Identity("x@example.com", frozenset(), False), "sandbox", False),
])
def test_who_may_refund(world: World, who: Identity, env: str, allowed: bool) -> None:
    txn_id, _ = world.paid(world.session())
    if allowed:
        assert world.payments.refund(env, who, txn_id, "1.00", "ref").after.refunded == Decimal("1.00")
        return
    with pytest.raises(AccessDenied):
        world.payments.refund(env, who, txn_id, "1.00", "ref")
    assert world.entries("access_denied")[-1]["detail"]["action"] == "refund" and world.fake.actions == []


def test_qa_never_moves_money_in_live_and_finance_must_type_the_amount(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"APP_ID": "sandbox", "APP_KEY": "sandbox", "API_BASE": f"{world.server.base_url}/v1"}.items():
        monkeypatch.setenv(f"ACQUIRED_LIVE_{key}", value)
    session_id = world.session(who=FINANCE, env="acquired-live", confirm="20.00 GBP")
    # A live session carries no webhook URL without a public address: the payment is found by reconciliation.
    assert "webhook_url" not in world.fake.sessions[session_id]
    txn = world.fake.pay(session_id)
    receipt = world.deliver(delivery(txn.transaction_id, "success", txn.order_id), env="acquired-live")
    assert receipt.verdict is Verdict.ACCEPTED
    with pytest.raises(AccessDenied):
        world.payments.refund("acquired-live", QA, txn.transaction_id, "5.00", "ref")
    with pytest.raises(LiveConfirmationRequired, match="type 5.00 GBP"):
        world.payments.refund("acquired-live", FINANCE, txn.transaction_id, "5.00", "ref")
    done = world.payments.refund("acquired-live", FINANCE, txn.transaction_id, "5.00", "ref", confirm="5.00 GBP")
    assert done.after.refunded == Decimal("5.00") and len(world.fake.actions) == 1


def test_racing_refunds_never_exceed_what_was_captured(world: World) -> None:
    txn_id, _ = world.paid(world.session("20.00"))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund() -> None:
        barrier.wait()
        try:
            world.payments.refund("sandbox", FINANCE, txn_id, "3.00", "race")
            outcomes.append("ok")
        except (OperationNotAllowed, Exception) as exc:  # noqa: BLE001 - 409s count as refusals too
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fake = world.fake.transactions[txn_id]
    recorded = world.payments.transaction("sandbox", txn_id)
    assert outcomes.count("ok") == 6 and fake.refunded == Decimal("18.00") <= fake.captured
    assert recorded.refunded == fake.refunded and recorded.left_to_refund == Decimal("2.00")


def test_an_unknown_outcome_is_never_resent_but_looked_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_READ_TIMEOUT", "0.3")
    txn_id, _ = world.paid(world.session("20.00"))
    world.fake.hold(1.0)
    with pytest.raises(UnknownOutcome):
        world.payments.refund("sandbox", FINANCE, txn_id, "5.00", "slow")
    assert [a[0] for a in world.fake.actions] == ["refund"]  # sent once, never again
    lookups = [e for e in world.entries("api_request") if e["method"] == "GET"]
    assert lookups[-1]["path"] == f"/v1/transactions/{txn_id}"
    recorded = world.payments.transaction("sandbox", txn_id)  # the API's figures settled it
    assert (recorded.refunded, recorded.uncertain) == (Decimal("5.00"), False)


def test_without_the_apis_figures_an_unknown_outcome_blocks_further_operations(world: World,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_READ_TIMEOUT", "0.3")
    world.fake.figures = False
    session_id = world.session("20.00")
    txn_id, _ = world.paid(session_id)
    world.fake.hold(1.0)
    with pytest.raises(UnknownOutcome):
        world.payments.refund("sandbox", FINANCE, txn_id, "5.00", "slow")
    assert world.payments.transaction("sandbox", txn_id).uncertain
    assert world.payments.status(session_id).text.endswith("(an operation on it got no answer: look it up)")
    with pytest.raises(OperationNotAllowed, match="got no answer"):
        world.payments.refund("sandbox", FINANCE, txn_id, "1.00", "again")
    assert len(world.fake.actions) == 1


def test_reconciliation_finds_a_payment_whose_webhook_never_came(world: World) -> None:
    session_id = world.session()
    txn = world.fake.pay(session_id)  # no webhook
    world.clock.advance(minutes=11)
    assert world.payments.status(session_id).status is PaymentStatus.EXPIRED_UNPAID
    found = world.payments.reconcile_due("sandbox")
    assert [(r.session_id, r.found, r.changed) for r in found] == [(session_id, 1, 1)]
    assert world.payments.status(session_id).status is PaymentStatus.PAID
    assert world.payments.reconcile_due("sandbox") == []  # paid: nothing due any more
    before = world.payments.transaction("sandbox", txn.transaction_id)
    late = world.deliver(delivery(txn.transaction_id, "success", txn.order_id))  # the webhook, at last
    assert late.verdict is Verdict.ACCEPTED
    again = world.payments.reconcile_session(ADMIN, session_id)
    after = world.payments.transaction("sandbox", txn.transaction_id)
    assert again.changed == 0 and (after.version, after.paid_seq) == (before.version, before.paid_seq)


def test_an_expired_unpaid_session_is_reconciled_once(world: World) -> None:
    session_id = world.session()
    world.clock.advance(minutes=11)
    assert [(r.session_id, r.found) for r in world.payments.reconcile_due("sandbox")] == [(session_id, 0)]
    assert world.payments.reconcile_due("sandbox") == []
    assert world.payments.status(session_id).status is PaymentStatus.EXPIRED_UNPAID


def test_the_creator_is_told_once_when_a_session_is_paid(world: World) -> None:
    marker = world.payments.paid_marker()
    mine, other = world.session(who=FINANCE), world.session(who=ADMIN)
    txn_id, _ = world.paid(mine)
    world.paid(other)
    notices, marker = world.payments.newly_paid(FINANCE.operator, marker)
    assert [(n.session_id, n.text) for n in notices] == [(mine, "✅ paid: 20.00 GBP")]
    world.deliver(delivery(txn_id, "success", world.fake.transactions[txn_id].order_id))  # a second webhook
    assert world.payments.newly_paid(FINANCE.operator, marker) == ([], marker)


def test_recent_payments_default_to_paid_and_expired_unpaid_and_filter(world: World) -> None:
    paid, waiting, lapsed = world.session(who=FINANCE), world.session(who=ADMIN), world.session(who=ADMIN)
    world.paid(paid)
    world.clock.advance(minutes=5)
    waiting = world.session(who=ADMIN)
    world.clock.advance(minutes=6)  # the first three expired; ``waiting`` has not
    rows = world.payments.recent("sandbox")
    assert {r.session_id: r.state.status for r in rows} == {
        paid: PaymentStatus.PAID, lapsed: PaymentStatus.EXPIRED_UNPAID,
        [r for r in rows if r.session_id not in (paid, lapsed)][0].session_id: PaymentStatus.EXPIRED_UNPAID}
    assert waiting not in {r.session_id for r in rows}
    assert [r.session_id for r in world.payments.recent("sandbox", creator=FINANCE.operator)] == [paid]
    assert [r.session_id for r in world.payments.recent("sandbox", statuses=[PaymentStatus.AWAITING])] == [waiting]
    order = world.sessions.session(paid).order_id
    assert [r.session_id for r in world.payments.recent("sandbox", order_id=order, statuses=None)] == [paid]


def test_a_session_carries_the_consoles_webhook_url_unless_one_was_set(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = world.session()
    assert world.fake.sessions[first]["webhook_url"] == "http://127.0.0.1:8501/webhooks/acquired/sandbox"
    monkeypatch.setenv("OPS_PUBLIC_BASE_URL", "https://ops.example.com/")
    assert world.fake.sessions[world.session()]["webhook_url"] == \
        "https://ops.example.com/webhooks/acquired/sandbox"
    values = {"transaction.order_id": "ord-own-hook", "transaction.amount": "5", "transaction.currency": "gbp",
              "webhook_url": "https://shop.example.com/hook"}
    own = world.sessions.create("sandbox", ADMIN, values).session_id
    assert world.fake.sessions[own]["webhook_url"] == "https://shop.example.com/hook"


@pytest.mark.parametrize("took_effect", [True, False])
def test_a_person_settles_an_operation_the_api_cannot_tell_about(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                  took_effect: bool) -> None:
    monkeypatch.setenv("SANDBOX_READ_TIMEOUT", "0.3")
    world.fake.figures = False
    txn_id, _ = world.paid(world.session("20.00"))
    world.fake.hold(1.0)
    with pytest.raises(UnknownOutcome):
        world.payments.refund("sandbox", FINANCE, txn_id, "5.00", "slow")
    [op] = world.payments.operations("sandbox", txn_id)
    with pytest.raises(AccessDenied):
        world.payments.settle("sandbox", AUDITOR, op.id, took_effect=took_effect)
    seq = world.payments.settle("sandbox", FINANCE, op.id, took_effect=took_effect, note="checked the Hub")
    entry = world.log.entry(seq)
    assert entry is not None and entry["kind"] == "payment_resolution" and entry["detail"]["took_effect"] is took_effect
    record = world.payments.transaction("sandbox", txn_id)
    assert (record.uncertain, record.refunded) == (False, Decimal("5.00") if took_effect else Decimal(0))
    with pytest.raises(LookupError):
        world.payments.settle("sandbox", FINANCE, op.id, took_effect=took_effect)
