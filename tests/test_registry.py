"""The session registry: lifetime windows, versions, and commits shared with the call log."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lib.calllog.log import CallLog
from lib.sessions.registry import Registry, UnknownSession, diff_params, mark_state, record_created, record_update

SENT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
TTL = 600
US = timedelta(microseconds=1)


def params(amount: str = "15.02", **extra: object) -> dict:
    return {"transaction": {"order_id": "order-1", "amount": Decimal(amount), "currency": "gbp"}, **extra}


@pytest.fixture
def registry(log: CallLog) -> Registry:
    return Registry(log.db_path)


def create(log: CallLog, session_id: str = "s1", *, environment: str = "sandbox", order_id: str = "order-1",
           operator: str = "ann", sent_at: datetime = SENT, tags: tuple[str, ...] = (), amount: str = "15.02") -> int:
    """Log a create result and record the session in the same transaction, as the API client does."""
    return log.append(
        "api_result", operator=operator, environment=environment, attempt_id=f"create-{session_id}",
        session_id=session_id, order_id=order_id, http_status=201, outcome="ok",
        then=lambda db, seq: record_created(
            db, session_id=session_id, environment=environment, order_id=order_id, operator=operator,
            sent_at=sent_at, ttl_seconds=TTL, params=params(amount), tags=tags, entry_seq=seq),
    )


def update(log: CallLog, session_id: str, new_params: dict, at: datetime, operator: str = "bob") -> int:
    return log.append(
        "api_result", operator=operator, environment="sandbox", attempt_id=f"update-{session_id}-{at}",
        session_id=session_id, http_status=200, outcome="ok",
        then=lambda db, seq: record_update(
            db, session_id=session_id, operator=operator, at=at, patch=new_params, entry_seq=seq),
    )


def ids(rows: list[dict]) -> list[str]:
    return [r["session_id"] for r in rows]


def test_created_session_is_active_with_decoded_fields(log: CallLog, registry: Registry) -> None:
    seq = create(log, tags=("qa",))
    session = registry.get("s1")
    assert session == {
        "session_id": "s1", "environment": "sandbox", "order_id": "order-1", "created_by": "ann",
        "created_at": SENT, "expires_at": SENT + timedelta(seconds=TTL),
        "tags": ["qa"], "params": params(), "amount": Decimal("15.02"), "currency": "gbp",
        "version": 1, "updates": 0, "state": "ok", "create_seq": seq,
    }
    assert ids(registry.active("sandbox", SENT)) == ["s1"]
    assert registry.active("acquired-test", SENT) == [] and registry.get("nope") is None


def test_expiry_boundary_counts_from_when_the_request_was_sent(log: CallLog, registry: Registry) -> None:
    create(log)
    expires = SENT + timedelta(seconds=TTL)
    assert ids(registry.active("sandbox", expires - US)) == ["s1"]
    assert registry.active("sandbox", expires) == []
    assert registry.recently_expired("sandbox", expires - US) == []
    assert ids(registry.recently_expired("sandbox", expires)) == ["s1"]


def test_recently_expired_window(log: CallLog, registry: Registry) -> None:
    create(log, "old", sent_at=SENT - timedelta(hours=1, minutes=10, seconds=1))  # expired 1h0m2s ago
    create(log, "recent", sent_at=SENT - timedelta(minutes=30))
    create(log, "newest", sent_at=SENT - timedelta(minutes=11))
    create(log, "live", sent_at=SENT)
    now = SENT + timedelta(seconds=1)
    assert ids(registry.recently_expired("sandbox", now)) == ["newest", "recent"]
    assert ids(registry.recently_expired("sandbox", now, within=timedelta(minutes=5))) == ["newest"]
    assert ids(registry.recently_expired("sandbox", now, within=timedelta(hours=2))) == ["newest", "recent", "old"]


def test_active_filters_and_order(log: CallLog, registry: Registry) -> None:
    create(log, "later", sent_at=SENT + timedelta(seconds=30))
    create(log, "sooner", operator="bob")
    create(log, "tagged", sent_at=SENT + timedelta(seconds=60), tags=("qa",))
    create(log, "elsewhere", environment="acquired-test")
    assert ids(registry.active("sandbox", SENT)) == ["sooner", "later", "tagged"]
    assert ids(registry.active("sandbox", SENT, created_by="ann")) == ["later", "tagged"]
    assert ids(registry.active("sandbox", SENT, include_tagged=False)) == ["sooner", "later"]
    assert ids(registry.active("sandbox", SENT, limit=1)) == ["sooner"]


def test_update_records_version_two_with_its_changes(log: CallLog, registry: Registry) -> None:
    create_seq = create(log)
    at = SENT + timedelta(minutes=2)
    new = params("17.50", webhook_url="https://example.com/hook")
    update_seq = update(log, "s1", new, at)
    session = registry.get("s1")
    assert (session["version"], session["updates"], session["amount"]) == (2, 1, Decimal("17.50"))
    assert session["params"] == new and session["expires_at"] == SENT + timedelta(seconds=TTL)  # not extended
    first, second = registry.history("s1")
    assert (first["version"], first["operator"], first["entry_seq"]) == (1, "ann", create_seq)
    assert first["changes"] == [
        {"path": "transaction.order_id", "before": None, "after": "order-1"},
        {"path": "transaction.amount", "before": None, "after": Decimal("15.02")},
        {"path": "transaction.currency", "before": None, "after": "gbp"},
    ]
    assert (second["version"], second["operator"], second["entry_seq"]) == (2, "bob", update_seq)
    assert second["at"] == at and second["params"] == new
    assert second["changes"] == [
        {"path": "transaction.amount", "before": Decimal("15.02"), "after": Decimal("17.50")},
        {"path": "webhook_url", "before": None, "after": "https://example.com/hook"},
    ]
    assert registry.history("nope") == []


def test_diff_params() -> None:
    before = {"transaction": {"amount": Decimal("1.00"), "capture": True}, "payment_methods": ["card"],
              "tds": {"is_active": False}, "customer": {}}
    after = {"transaction": {"amount": Decimal("1.0"), "capture": 1}, "payment_methods": ["card", "apple_pay"],
             "customer": {"first_name": "Ann"}, "save_card": False}
    assert diff_params(before, after) == [
        {"path": "transaction.capture", "before": True, "after": 1},  # True == 1 in Python, not here
        {"path": "payment_methods", "before": ["card"], "after": ["card", "apple_pay"]},
        {"path": "tds.is_active", "before": False, "after": None},
        {"path": "customer.first_name", "before": None, "after": "Ann"},
        {"path": "save_card", "before": None, "after": False},
    ]
    assert diff_params({"a": {"b": 1}}, {"a": {"b": 1}}) == []
    assert diff_params({}, {"customer": {}}) == [{"path": "customer", "before": None, "after": {}}]
    assert diff_params({"tds": "x"}, {"tds": {"is_active": True}}) == [
        {"path": "tds", "before": "x", "after": {"is_active": True}}
    ]


def test_active_for_order(log: CallLog, registry: Registry) -> None:
    create(log, "expired", sent_at=SENT - timedelta(minutes=20))
    create(log, "live")
    create(log, "other-order", order_id="order-2")
    create(log, "other-env", environment="acquired-test")
    assert ids(registry.active_for_order("sandbox", "order-1", SENT)) == ["live"]
    assert registry.active_for_order("sandbox", "order-3", SENT) == []


def test_failing_callback_leaves_neither_session_nor_entry(log: CallLog, registry: Registry) -> None:
    def create_then_fail(db, seq: int) -> None:
        record_created(db, session_id="s1", environment="sandbox", order_id="order-1", operator="ann", sent_at=SENT,
                       ttl_seconds=TTL, params=params(), tags=(), entry_seq=seq)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        log.append("api_result", operator="ann", environment="sandbox", then=create_then_fail)
    assert log.count() == 0 and registry.get("s1") is None and registry.history("s1") == []
    seq = create(log)
    assert registry.get("s1")["create_seq"] == seq == 1 and log.entry(seq)["session_id"] == "s1"


def test_update_of_unknown_session_rolls_back_its_entry(log: CallLog) -> None:
    with pytest.raises(UnknownSession):
        update(log, "never-created", params(), SENT)
    assert log.count() == 0


def test_mark_state(log: CallLog, registry: Registry) -> None:
    create(log)
    log.append("api_result", operator="ann", environment="sandbox", outcome="unknown_outcome",
               then=lambda db, seq: mark_state(db, "s1", "amount_uncertain"))
    assert registry.get("s1")["state"] == "amount_uncertain"
    with pytest.raises(ValueError):
        log.append("api_result", operator="ann", environment="sandbox", then=lambda db, seq: mark_state(db, "s1", "bad"))
    assert log.count() == 2


def test_writers_work_before_any_registry_was_opened(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "fresh.db", tmp_path / "cp.jsonl")
    create(log)
    assert Registry(log.db_path).get("s1")["version"] == 1
