"""The webhook route on the console's own server: ``streamlit run app.py`` serves the pages and
``POST /webhooks/acquired/{environment}`` on one port, with no sign-in, trusting only the Hash.

A real server in a subprocess (tests/browser_support.py starts it), its local sandbox being the
fake of the API's payment routes (tests/fake_acquired.py answers ``/sandbox/info`` as the sandbox).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lib.calllog.log import CallLog
from lib.fields.schema import AMOUNT, CURRENCY, ORDER_ID
from lib.payments.service import PaymentsService, PaymentStatus
from lib.sessions.service import SessionsService
from tests.browser_support import AppServer, streamlit_app
from tests.fake_acquired import FakeAcquired, FakeServer, delivery, sign
from tests.payments_support import ADMIN


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, FakeAcquired]]:
    fake = FakeAcquired()
    api = FakeServer(fake)
    work = tmp_path_factory.mktemp("route")
    try:
        with streamlit_app(work, extra_env={"SANDBOX_PORT": str(api.port), "OPS_RECONCILE_EVERY_S": "0.5"}) as server:
            yield server, fake
    finally:
        api.stop()


def post(server: AppServer, body: bytes, *, env: str = "sandbox", hash_: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", "Webhook-Version": "2"}
    headers["Hash"] = sign(body) if hash_ is None else hash_
    return requests.post(f"{server.url}/webhooks/acquired/{env}", data=body, headers=headers, timeout=10)


def test_the_server_serves_pages_and_the_route_together(served: tuple[AppServer, FakeAcquired]) -> None:
    server, fake = served
    fake.sessions["s-1"] = {"transaction": {"order_id": "ord-route-1", "amount": 12, "currency": "gbp"}}
    txn = fake.pay("s-1")
    body = delivery(txn.transaction_id, "success", txn.order_id, webhook_id="wh-route-1")
    first = post(server, body)
    assert (first.status_code, first.json()["status"]) == (200, "accepted")
    again = post(server, body)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert post(server, body, hash_="0" * 64).status_code == 401
    assert post(server, delivery("t", "success", "o"), env="nowhere").status_code == 404
    assert post(server, b"not json").status_code == 400
    assert requests.get(f"{server.url}/_stcore/health", timeout=10).text == "ok"
    assert requests.get(f"{server.url}/", timeout=10).status_code == 200  # the pages, on the same port


def test_every_delivery_is_in_a_log_that_verifies(served: tuple[AppServer, FakeAcquired]) -> None:
    server, fake = served
    fake.sessions["s-2"] = {"transaction": {"order_id": "ord-route-2", "amount": 5, "currency": "gbp"}}
    txn = fake.pay("s-2", "declined", reason="insufficient_funds")
    assert post(server, delivery(txn.transaction_id, "success", txn.order_id)).json()["status"] == "accepted"
    log = CallLog(Path(server.work) / "ops.db", checkpoint_key=None)
    entries = [log.entry(seq) for seq in range(1, log.count() + 1)]
    webhooks = [e for e in entries if e and e["kind"] == "webhook"]
    assert [e["http_status"] for e in webhooks][-1] == 200 and {401, 404, 400} <= {e["http_status"] for e in webhooks}
    lookups = [e for e in entries if e and e["kind"] == "api_result" and e["path"] == f"/v1/transactions/"
               f"{txn.transaction_id}"]
    assert lookups and lookups[-1]["seq"] > webhooks[-1]["seq"]
    assert log.verify().ok


def test_the_server_finds_the_payment_of_an_expired_session_whose_webhook_never_came(
        served: tuple[AppServer, FakeAcquired], monkeypatch: pytest.MonkeyPatch) -> None:
    server, fake = served
    monkeypatch.setenv("SANDBOX_SESSION_TTL_SECONDS", "1")
    monkeypatch.setenv("OPS_SECRETS_PATH", str(server.work / "no-secrets.toml"))
    sessions = SessionsService(sandbox_base_url=fake.base_url,
                               db_path=Path(server.work) / "ops.db")
    values = {ORDER_ID: "ord-route-swept", AMOUNT: "7.00", CURRENCY: "gbp"}
    session_id = sessions.create("sandbox", ADMIN, values).session_id  # in the server's database
    fake.pay(session_id)  # paid, and no webhook ever comes
    payments = PaymentsService(sessions)
    deadline = time.monotonic() + 20
    while payments.status(session_id).status is not PaymentStatus.PAID and time.monotonic() < deadline:
        time.sleep(0.2)
    assert payments.status(session_id).status is PaymentStatus.PAID
    reconciler = [e for e in (sessions.log.entry(s) for s in range(1, sessions.log.count() + 1))
                  if e and e["operator"] == "payments-reconciler" and e["kind"] == "api_result"]
    assert reconciler and reconciler[-1]["session_id"] == session_id
