"""The payments tests' world: a fake API for the payment routes, the console's services on a fresh
database, people of each role, and a delivery helper (see tests/fake_acquired.py)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lib.access.policy import Identity
from lib.calllog.log import CallLog
from lib.fields.schema import AMOUNT, CAPTURE, CURRENCY, ORDER_ID
from lib.payments.service import PaymentsService, Receipt
from lib.sessions.service import SessionsService
from tests.fake_acquired import FakeAcquired, FakeServer, delivery, sign

ADMIN = Identity("admin@example.com", frozenset({"admin"}), False)
FINANCE = Identity("fin@example.com", frozenset({"finance"}), False)
QA = Identity("tess@qa.example.com", frozenset({"qa"}), False)
AUDITOR = Identity("aud@example.com", frozenset({"auditor"}), False)


class Clock:
    """A clock the test moves (sessions expire without waiting)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    fake: FakeAcquired
    server: FakeServer
    sessions: SessionsService
    payments: PaymentsService
    clock: Clock

    @property
    def log(self) -> CallLog:
        return self.sessions.log

    def session(self, amount: str = "20.00", *, currency: str = "gbp", capture: bool = True,
                who: Identity = ADMIN, env: str = "sandbox", confirm: str | None = None) -> str:
        values = {ORDER_ID: f"ord-{uuid.uuid4().hex[:12]}", AMOUNT: amount, CURRENCY: currency, CAPTURE: capture}
        return self.sessions.create(env, who, values, confirm=confirm).session_id

    def deliver(self, body: bytes, *, env: str = "sandbox", key: str = "sandbox",
                headers: dict[str, str] | None = None) -> Receipt:
        sent = {"Hash": sign(body, key), "Webhook-Version": "2", "Content-Type": "application/json"}
        return self.payments.receive_webhook(env, body, sent if headers is None else headers)

    def paid(self, session_id: str, status: str = "success", **kwargs: Any) -> tuple[str, Receipt]:
        """The customer pays (the fake makes the transaction) and the webhook comes."""
        txn = self.fake.pay(session_id, status, **kwargs)
        return txn.transaction_id, self.deliver(delivery(txn.transaction_id, status, txn.order_id))

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [self.log.entry(seq) for seq in range(1, self.log.count() + 1)]
        return [e for e in found if e is not None and (kind is None or e["kind"] == kind)]


@pytest.fixture(name="world")
def world_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "no-secrets.toml"))
    for name in ("SANDBOX_APP_ID", "SANDBOX_APP_KEY", "OPS_PUBLIC_BASE_URL", "OPS_LIVE_AMOUNT_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeAcquired()
    server = FakeServer(fake)
    clock = Clock()
    sessions = SessionsService(sandbox_base_url=server.base_url, db_path=tmp_path / "ops.db", clock=clock)
    world = World(fake, server, sessions, PaymentsService(sessions), clock)
    yield world
    server.stop()
    verdict = world.log.verify()
    assert verdict.ok, verdict.message
