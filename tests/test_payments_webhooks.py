"""Webhook deliveries: verified by Hash, recorded once, confirmed by a lookup before anything changes.

Over real HTTP to a fake of the API's payment routes (tests/fake_acquired.py); the call log is
verified after every test (the ``world`` fixture).
"""
from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest

from lib.payments import webhooks
from lib.payments.service import PaymentStatus, Verdict
from lib.payments.webhooks import CONFIRMED, CONTRADICTED, NOT_FOUND, NOTHING
from tests.fake_acquired import delivery, sign
from tests.payments_support import World, world_fixture  # noqa: F401 - the fixture


def deliveries(w: World) -> list[dict[str, Any]]:
    return w.payments.store.query("SELECT * FROM webhook_deliveries", ())


def test_a_signed_status_update_is_recorded_then_confirmed_by_a_lookup_before_anything_changes(world: World) -> None:
    w = world
    session_id = w.session()
    txn_id, receipt = w.paid(session_id)
    assert (receipt.verdict, receipt.http_status, receipt.confirmation) == (Verdict.ACCEPTED, 200, CONFIRMED)
    state = w.payments.status(session_id)
    assert state.status is PaymentStatus.PAID and state.text == "✅ paid: 20.00 GBP"
    kinds = [(e["kind"], e["method"], e["path"]) for e in w.entries() if e["kind"] in ("webhook", "api_request")
             and e["endpoint"] != "/v1/login"]
    assert kinds[-2:] == [("webhook", "POST", "/webhooks/acquired/sandbox"),
                          ("api_request", "GET", f"/v1/transactions/{txn_id}")]
    # The transaction was recorded by the lookup's result entry, after the webhook's own entry.
    record = w.payments.transaction("sandbox", txn_id)
    lookup = [e for e in w.entries("api_result") if e["path"] == f"/v1/transactions/{txn_id}"]
    assert record.paid_seq == lookup[0]["seq"] > receipt.entry_seq
    assert record.session_id == session_id


def test_one_durable_commit_lands_before_the_answer_and_covers_the_delivery(world: World,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The accepted delivery and the lookup's request may wait for the disk only because the
    lookup's result, last before the answer, is committed durably (it syncs what came before)."""
    w = world
    session_id = w.session()
    w.paid(w.session())  # the client has logged in: only this delivery's own entries below
    seen: list[tuple[str, bool]] = []
    append = w.log.append

    def spy(kind: str, **fields: Any) -> int:
        seen.append((kind, fields.get("durable", True)))
        return append(kind, **fields)

    monkeypatch.setattr(w.log, "append", spy)
    w.paid(session_id)
    assert seen == [("webhook", False), ("api_request", False), ("api_result", True)]
    seen.clear()
    w.deliver(delivery("t-1", "success", "ord-x"), key="wrong key")  # refused: no lookup follows
    assert seen == [("webhook", True)]


def test_the_webhook_entry_holds_what_an_auditor_needs_and_the_body_as_received(world: World) -> None:
    w = world
    session_id = w.session()
    txn = w.fake.pay(session_id)
    body = delivery(txn.transaction_id, "success", txn.order_id, webhook_id="wh-audit-1")
    receipt = w.deliver(body)
    entry = w.log.entry(receipt.entry_seq)
    assert entry is not None
    assert (entry["kind"], entry["environment"], entry["http_status"], entry["outcome"], entry["order_id"]) == \
        ("webhook", "sandbox", 200, "accepted", txn.order_id)
    detail = entry["detail"]
    assert (detail["webhook_id"], detail["webhook_type"], detail["transaction_id"], detail["status_claimed"],
            detail["verdict"], detail["http_status"]) == ("wh-audit-1", "status_update", txn.transaction_id,
                                                          "success", "accepted", 200)
    assert detail["body"] == body.decode() and detail["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert detail["headers"]["hash"] == sign(body) and entry["ts"]
    assert entry["session_id"] == session_id  # on the session's timeline, with the lookup that follows
    lookup = [e for e in w.entries("api_request") if e["path"] == f"/v1/transactions/{txn.transaction_id}"]
    assert lookup[0]["session_id"] == session_id


@pytest.mark.parametrize("headers", [
    {},  # no Hash at all
    {"Hash": ""},
    {"Hash": "0" * 64},
    {"Hash": sign(b"another body")},
    {"Hash": sign(b"x", "another-key")},
    {"Hash": "é" * 64},  # not even hex
], ids=["missing", "empty", "zeros", "other-body", "other-key", "not-hex"])
def test_a_delivery_without_the_right_hash_is_refused_recorded_and_changes_nothing(world: World,
                                                                                  headers: dict[str, str]) -> None:
    w = world
    session_id = w.session()
    txn = w.fake.pay(session_id)
    receipt = w.deliver(delivery(txn.transaction_id, "success", txn.order_id), headers=headers)
    assert (receipt.verdict, receipt.http_status) == (Verdict.REFUSED, 401)
    assert deliveries(w) == [] and w.payments.status(session_id).status is PaymentStatus.AWAITING
    assert not [e for e in w.entries("api_request") if "/transactions" in (e["path"] or "")]
    entry = w.log.entry(receipt.entry_seq)
    assert entry is not None and (entry["outcome"], entry["http_status"]) == ("refused", 401)
    assert entry["detail"]["transaction_id"] == txn.transaction_id  # what it claimed, for the auditor


def test_the_hash_is_compared_in_constant_time(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    calls: list[tuple[bytes, bytes]] = []
    real = webhooks.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    body = delivery("t-1", "success", "ord-1")
    w.deliver(body, headers={"Hash": "0" * 64})
    w.deliver(body)
    assert calls == [(sign(body).encode(), b"0" * 64), (sign(body).encode(), sign(body).encode())]


def test_a_duplicate_is_answered_200_recorded_as_a_duplicate_and_acted_on_once(world: World) -> None:
    w = world
    session_id = w.session()
    txn = w.fake.pay(session_id)
    body = delivery(txn.transaction_id, "success", txn.order_id)
    first, second = w.deliver(body), w.deliver(body)
    assert (first.verdict, second.verdict, second.http_status) == (Verdict.ACCEPTED, Verdict.DUPLICATE, 200)
    assert len(deliveries(w)) == 1
    assert [e["outcome"] for e in w.entries("webhook")] == ["accepted", "duplicate"]
    assert len([e for e in w.entries("api_request") if e["path"] == f"/v1/transactions/{txn.transaction_id}"]) == 1
    assert w.payments.transaction("sandbox", txn.transaction_id).version == 1


def test_two_copies_racing_are_accepted_once(world: World) -> None:
    w = world
    body = delivery("t-race", "success", "ord-race", webhook_id="wh-race")
    barrier = threading.Barrier(4)
    verdicts: list[Verdict] = []

    def send() -> None:
        barrier.wait()
        verdicts.append(w.deliver(body).verdict)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts) == [Verdict.ACCEPTED] + [Verdict.DUPLICATE] * 3
    assert len(deliveries(w)) == 1


@pytest.mark.parametrize("env", ["nowhere", "acquired-live", "acquired-test", "../sandbox"])
def test_an_unknown_or_unconfigured_environment_is_refused(world: World, env: str) -> None:
    w = world
    receipt = w.deliver(delivery("t-1", "success", "ord-1"), env=env)
    assert (receipt.verdict, receipt.http_status) == (Verdict.REFUSED, 404)
    entry = w.log.entry(receipt.entry_seq)
    assert entry is not None and entry["environment"] == (env if env.startswith("acquired") else "-")
    assert entry["detail"]["environment_in_url"] == env and deliveries(w) == []


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b'{"webhook_type": "status_update"}', b'{"webhook_id": "", "webhook_type": "x"}',
    b'{"webhook_id": "w", "webhook_type": "status_update"}',
    b'{"webhook_id": "w", "webhook_type": "status_update", "webhook_body": {"status": 3}}',
    b'{"webhook_id": "w", "webhook_type": "status_update", "webhook_body": {"status": "success", '
    b'"transaction_id": 5}}',
    b"\xff\xfe not utf-8", b"[" * 200 + b"]" * 200,
], ids=["text", "array", "no-id", "empty-id", "no-body", "status-number", "id-number", "bytes", "deep"])
def test_a_malformed_delivery_is_refused_even_when_signed(world: World, body: bytes) -> None:
    w = world
    receipt = w.deliver(body)
    assert (receipt.verdict, receipt.http_status) == (Verdict.REFUSED, 400)
    assert deliveries(w) == []
    entry = w.log.entry(receipt.entry_seq)
    assert entry is not None and entry["detail"]["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_an_oversized_delivery_is_refused(world: World) -> None:
    w = world
    receipt = w.deliver(b"{" + b" " * webhooks.MAX_BODY_BYTES + b"}")
    assert (receipt.verdict, receipt.http_status) == (Verdict.REFUSED, 413)


def test_a_lie_in_the_webhook_records_the_lookups_truth(world: World) -> None:
    w = world
    session_id = w.session()
    txn = w.fake.pay(session_id, "declined", reason="insufficient_funds")
    receipt = w.deliver(delivery(txn.transaction_id, "success", txn.order_id))  # claims success
    assert (receipt.verdict, receipt.confirmation) == (Verdict.ACCEPTED, CONTRADICTED)
    state = w.payments.status(session_id)
    assert (state.status, state.text) == (PaymentStatus.DECLINED, "🚫 declined: insufficient funds")
    assert deliveries(w)[0]["confirmation"] == CONTRADICTED


def test_a_claimed_transaction_the_api_does_not_know_changes_nothing(world: World) -> None:
    w = world
    session_id = w.session()
    order_id = w.sessions.session(session_id).order_id
    receipt = w.deliver(delivery("no-such-transaction", "success", order_id))
    assert (receipt.verdict, receipt.confirmation) == (Verdict.ACCEPTED, NOT_FOUND)
    assert w.payments.status(session_id).status is PaymentStatus.AWAITING
    assert w.payments.store.transaction("sandbox", "no-such-transaction") is None


def test_other_types_are_recorded_and_acted_on_by_none(world: World) -> None:
    w = world
    receipt = w.deliver(delivery("", "", "", webhook_type="card_new"))
    assert (receipt.verdict, receipt.http_status, receipt.confirmation) == (Verdict.ACCEPTED, 200, NOTHING)
    assert not [e for e in w.entries("api_request") if "/transactions" in (e["path"] or "")]
    assert deliveries(w)[0]["webhook_type"] == "card_new"


def test_a_payer_who_gave_up_early_is_recorded_without_a_lookup(world: World) -> None:
    w = world
    receipt = w.deliver(delivery("", "tds_expired", "ord-gave-up"))
    assert (receipt.verdict, receipt.confirmation) == (Verdict.ACCEPTED, NOTHING)


def test_a_slow_api_cannot_hold_the_answer_and_the_retry_confirms(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup runs in the request with short timeouts: the 200 comes in time, the delivery is
    left ``lookup_failed``, and Acquired's retry of it (a duplicate) confirms it."""
    w = world
    monkeypatch.setattr("lib.payments.service.LOOKUP_TIMEOUTS", (1.0, 0.3))
    session_id = w.session()
    txn = w.fake.pay(session_id)
    body = delivery(txn.transaction_id, "success", txn.order_id)
    w.fake.slow_lookups = 2.0
    started = time.monotonic()
    first = w.deliver(body)
    assert time.monotonic() - started < 1.5
    assert (first.verdict, first.http_status, first.confirmation) == (Verdict.ACCEPTED, 200, webhooks.FAILED)
    assert w.payments.status(session_id).status is PaymentStatus.AWAITING
    w.fake.slow_lookups = 0.0
    retry = w.deliver(body)
    assert (retry.verdict, retry.confirmation) == (Verdict.DUPLICATE, CONFIRMED)
    assert w.payments.status(session_id).status is PaymentStatus.PAID
