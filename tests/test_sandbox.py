"""The sandbox over real HTTP: auth, sessions, versions, expiry, faults, the checkout page, restarts."""
from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from lib.common.jsonutil import dumps
from lib.sandbox import SandboxServer, ensure_sandbox, serve_in_thread
from lib.sandbox.checkout import LinkView, render_gone, render_link
from lib.sandbox.runtime import Sandboxes
from tests.clocks import FakeClock
from tests.conftest import MakeSandbox
from tests.net import free_port

SESSIONS = "/v1/payment-sessions"
UNAUTHORIZED = {"status": "error", "error_type": "unauthorized",
                "title": "Authentication with the API failed, please check your details and try again."}
NOT_FOUND = {"status": "error", "error_type": "not_found",
             "title": "Unable to find the requested resource, please check your request and try again."}
VALIDATION_TITLE = "Your request parameters did not pass our validation."


def body(order_id: str = "ord-1", amount: Any = 15.02, currency: str = "gbp") -> dict[str, Any]:
    return {"transaction": {"order_id": order_id, "amount": amount, "currency": currency}}


def auth(sandbox: SandboxServer, headers: dict[str, str] | None = None) -> dict[str, str]:
    reply = requests.post(f"{sandbox.base_url}/v1/login", json={"app_id": "sandbox", "app_key": "sandbox"},
                          headers=headers, timeout=5)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def create(sandbox: SandboxServer, headers: dict[str, str], payload: Any = None) -> str:
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", data=dumps(payload or body()),
                          headers={**headers, "Content-Type": "application/json"}, timeout=5)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["session_id"])


def stored(sandbox: SandboxServer, session_id: str) -> dict[str, Any]:
    reply = requests.get(f"{sandbox.base_url}/sandbox/sessions/{session_id}", timeout=5)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def by_order(sandbox: SandboxServer, order_id: str) -> list[dict[str, Any]]:
    reply = requests.get(f"{sandbox.base_url}/sandbox/sessions", params={"order_id": order_id}, timeout=5)
    return list(reply.json()["sessions"])


# Auth -------------------------------------------------------------------------------------

def test_login_gives_an_opaque_bearer_token_without_status(sandbox: SandboxServer) -> None:
    reply = requests.post(f"{sandbox.base_url}/v1/login", json={"app_id": "sandbox", "app_key": "sandbox"})
    assert reply.status_code == 200
    assert set(reply.json()) == {"token_type", "expires_in", "access_token"}
    assert reply.json()["token_type"] == "Bearer" and reply.json()["expires_in"] == 3600
    assert len(reply.json()["access_token"]) >= 32


def test_tokens_are_stored_only_as_digests(sandbox: SandboxServer, tmp_path: Path) -> None:
    token = auth(sandbox)["Authorization"].split()[1]
    assert token.encode() not in (tmp_path / "sandbox.db").read_bytes() + (tmp_path / "sandbox.db-wal").read_bytes()


@pytest.mark.parametrize("credentials", [{"app_id": "sandbox", "app_key": "wrong"},
                                         {"app_id": "other", "app_key": "sandbox"}])
def test_bad_credentials_give_the_contract_401(sandbox: SandboxServer, credentials: dict[str, str]) -> None:
    reply = requests.post(f"{sandbox.base_url}/v1/login", json=credentials)
    assert reply.status_code == 401
    assert reply.json() == {**UNAUTHORIZED, "instance": "/v1/login"}


def test_login_without_fields_names_them(sandbox: SandboxServer) -> None:
    reply = requests.post(f"{sandbox.base_url}/v1/login", json={"app_key": ""})
    assert reply.status_code == 400
    assert reply.json()["invalid_parameters"] == [
        {"parameter": "app_id", "reason": "app_id can not be empty"},
        {"parameter": "app_key", "reason": "app_key can not be empty"}]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic eDp5"}],
                         ids=["missing", "forged", "not-bearer"])
@pytest.mark.parametrize(("method", "path"), [
    ("POST", SESSIONS), ("PUT", f"{SESSIONS}/3fa85f64-5717-4562-b3fc-2c963f66afa6"), ("GET", "/v1/unknown")])
def test_protected_routes_refuse_without_a_valid_token(
        sandbox: SandboxServer, headers: dict[str, str], method: str, path: str) -> None:
    reply = requests.request(method, f"{sandbox.base_url}{path}", json=body(), headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {**UNAUTHORIZED, "instance": path}


def test_an_unknown_v1_route_with_a_token_is_the_contract_404(sandbox: SandboxServer) -> None:
    reply = requests.get(f"{sandbox.base_url}/v1/payment-links", headers=auth(sandbox))
    assert (reply.status_code, reply.json()) == (404, {**NOT_FOUND, "instance": "/v1/payment-links"})


def test_a_token_expires_after_its_lifetime(make_sandbox: MakeSandbox, clock: FakeClock) -> None:
    sandbox = make_sandbox(clock=clock)  # token_ttl_seconds=3600
    headers = auth(sandbox)
    clock.advance(timedelta(seconds=3599))
    create(sandbox, headers)
    clock.advance(timedelta(seconds=1))
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", json=body(), headers=headers)
    assert reply.status_code == 401
    assert reply.json() == {**UNAUTHORIZED, "instance": SESSIONS}
    create(sandbox, auth(sandbox))  # a new login is a new lifetime


# Create and update ------------------------------------------------------------------------

def test_create_answers_201_with_only_a_uuid4(sandbox: SandboxServer) -> None:
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", json=body(), headers=auth(sandbox))
    assert reply.status_code == 201
    assert list(reply.json()) == ["session_id"]
    assert uuid.UUID(reply.json()["session_id"]).version == 4


def test_create_stores_exact_amounts_and_the_lifetime(make_sandbox: MakeSandbox, clock: FakeClock) -> None:
    sandbox = make_sandbox(clock=clock)
    clock.advance(timedelta(milliseconds=1234))
    session = stored(sandbox, create(sandbox, auth(sandbox), body(amount=Decimal("0.10"))))
    assert (session["created_at"], session["expires_at"]) == ("2026-03-01T12:00:01.234000Z", "2026-03-01T12:10:01.234000Z")
    assert datetime.fromisoformat(session["created_at"]) == clock()
    assert session["params"]["transaction"]["amount"] == 0.1 and session["expired"] is False
    assert [v["version"] for v in session["versions"]] == [1]


def test_invalid_payload_lists_every_problem(sandbox: SandboxServer) -> None:
    payload = {"transaction": {"order_id": "x", "amount": "15", "currency": "GBX"}}
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", json=payload, headers=auth(sandbox))
    assert reply.status_code == 400
    assert {k: v for k, v in reply.json().items() if k != "invalid_parameters"} == {
        "status": "error", "error_type": "validation", "title": VALIDATION_TITLE, "instance": SESSIONS}
    assert [p["parameter"] for p in reply.json()["invalid_parameters"]] == [
        "transaction.order_id", "transaction.amount", "transaction.currency"]
    assert reply.json()["invalid_parameters"][1]["reason"] == "transaction.amount must be a number"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", "body is not valid JSON"),
    (b"\xff\xfe", "body is not valid JSON"),
    (b"", "body is not valid JSON"),
    (b"[1, 2]", "body must be a JSON object"),
    (b'"text"', "body must be a JSON object"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(sandbox: SandboxServer, raw: bytes, reason: str) -> None:
    headers = {**auth(sandbox), "Content-Type": "application/json"}
    session_id = create(sandbox, headers)
    for method, path in [("POST", SESSIONS), ("PUT", f"{SESSIONS}/{session_id}")]:
        reply = requests.request(method, f"{sandbox.base_url}{path}", data=raw, headers=headers)
        assert reply.status_code == 400
        assert reply.json()["instance"] == path
        assert reply.json()["invalid_parameters"] == [{"parameter": "body", "reason": reason}]


def test_update_stores_a_new_version_of_the_merged_params(sandbox: SandboxServer) -> None:
    headers = auth(sandbox)
    session_id = create(sandbox, headers, {**body(), "customer": {"first_name": "Ann"}})
    reply = requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", json={"transaction": {"amount": 20.5}},
                         headers=headers)
    assert (reply.status_code, reply.json()) == (200, {"status": "success"})
    session = stored(sandbox, session_id)
    assert [v["version"] for v in session["versions"]] == [1, 2]
    assert session["versions"][0]["params"]["transaction"]["amount"] == 15.02
    assert session["params"] == session["versions"][1]["params"] == {
        "transaction": {"order_id": "ord-1", "amount": 20.5, "currency": "gbp"}, "customer": {"first_name": "Ann"}}


def test_concurrent_updates_all_land(sandbox: SandboxServer) -> None:
    headers = auth(sandbox)
    session_id = create(sandbox, headers)
    patches = [{"transaction": {"custom1": "a"}}, {"transaction": {"custom2": "b"}},
               {"customer": {"first_name": "Ann"}}, {"customer": {"last_name": "Lee"}},
               {"webhook_url": "https://x.io/h"}]

    def put(patch: dict[str, Any]) -> int:
        return requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", json=patch, headers=headers).status_code

    with ThreadPoolExecutor(len(patches)) as pool:
        assert list(pool.map(put, patches)) == [200] * len(patches)
    session = stored(sandbox, session_id)
    assert len(session["versions"]) == 1 + len(patches)
    assert session["params"] == {"transaction": {**body()["transaction"], "custom1": "a", "custom2": "b"},
                                 "customer": {"first_name": "Ann", "last_name": "Lee"}, "webhook_url": "https://x.io/h"}


def test_update_refusals(sandbox: SandboxServer) -> None:
    headers = auth(sandbox)
    session_id = create(sandbox, headers)
    path = f"{SESSIONS}/{session_id}"
    reply = requests.put(f"{sandbox.base_url}{path}", json={"save_card": True, "transaction": {"amount": -1}},
                         headers=headers)
    assert reply.status_code == 400 and reply.json()["instance"] == path
    assert reply.json()["invalid_parameters"] == [
        {"parameter": "save_card", "reason": "save_card can not be updated"},
        {"parameter": "transaction.amount", "reason": "transaction.amount must be zero or more"}]
    unknown = f"{SESSIONS}/{uuid.uuid4()}"
    reply = requests.put(f"{sandbox.base_url}{unknown}", json={}, headers=headers)
    assert (reply.status_code, reply.json()) == (404, {**NOT_FOUND, "instance": unknown})
    assert len(stored(sandbox, session_id)["versions"]) == 1


@pytest.mark.parametrize("extends", [False, True])
def test_update_extends_the_expiry_only_when_told(make_sandbox: MakeSandbox, clock: FakeClock,
                                                 extends: bool) -> None:
    sandbox = make_sandbox(update_extends=extends, clock=clock)
    headers = auth(sandbox)
    session_id = create(sandbox, headers)
    updated_at = clock.advance(timedelta(minutes=4))
    reply = requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", json={"transaction": {"amount": 1}},
                         headers=headers)
    assert reply.status_code == 200
    session = stored(sandbox, session_id)
    assert datetime.fromisoformat(session["versions"][1]["at"]) == updated_at
    expected = updated_at if extends else datetime.fromisoformat(session["created_at"])
    assert datetime.fromisoformat(session["expires_at"]) == expected + timedelta(minutes=10)


def test_an_expired_session_is_gone_for_put_and_checkout(make_sandbox: MakeSandbox, clock: FakeClock) -> None:
    sandbox = make_sandbox(clock=clock)  # session_ttl_seconds=600
    headers = auth(sandbox)
    session_id = create(sandbox, headers)
    clock.advance(timedelta(minutes=10) - timedelta(milliseconds=1))
    page = requests.get(f"{sandbox.base_url}/checkout/{session_id}")
    assert page.status_code == 200 and 'data-ms-left="1">00:00<' in page.text
    assert stored(sandbox, session_id)["expired"] is False
    clock.advance(timedelta(milliseconds=1))
    path = f"{SESSIONS}/{session_id}"
    reply = requests.put(f"{sandbox.base_url}{path}", json={"transaction": {"amount": 1}}, headers=headers)
    assert (reply.status_code, reply.json()) == (404, {**NOT_FOUND, "instance": path})
    page = requests.get(f"{sandbox.base_url}/checkout/{session_id}")
    assert page.status_code == 410 and "This payment link has expired" in page.text
    assert stored(sandbox, session_id)["expired"] is True


# The /sandbox views -----------------------------------------------------------------------

def test_info_describes_the_sandbox(make_sandbox: MakeSandbox) -> None:
    info = requests.get(f"{make_sandbox(token_ttl_seconds=60, session_ttl_seconds=30).base_url}/sandbox/info").json()
    assert info["service"] == "acquired-sandbox" and info["version"]
    assert (info["token_ttl_seconds"], info["session_ttl_seconds"]) == (60, 30)


def test_sandbox_views_of_unknown_sessions(sandbox: SandboxServer) -> None:
    reply = requests.get(f"{sandbox.base_url}/sandbox/sessions/{uuid.uuid4()}")
    assert reply.status_code == 404 and reply.json()["error_type"] == "not_found"
    assert requests.get(f"{sandbox.base_url}/sandbox/sessions").status_code == 400
    assert by_order(sandbox, "nobody") == []


# Faults -----------------------------------------------------------------------------------

def test_latency_waits_before_the_answer(make_sandbox: MakeSandbox) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:  # the wait is recorded, not timed: nothing sleeps
        waits.append(seconds)

    sandbox = make_sandbox(fault_sleep=record)
    headers = auth(sandbox)
    session_id = create(sandbox, {**headers, "X-Sandbox-Fault": "latency=400"})
    assert waits == [0.4] and stored(sandbox, session_id)
    create(sandbox, headers)
    assert waits == [0.4]  # no fault, no wait


def test_status_fault_answers_the_contract_body_and_stores_nothing(sandbox: SandboxServer) -> None:
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", json=body("st-500"),
                          headers={**auth(sandbox), "X-Sandbox-Fault": "status=500, latency=10"})
    assert reply.status_code == 500
    assert reply.json() == {"status": "error", "error_type": "internal_server_error",
                            "title": "An error occurred, we are investigating the reason.", "instance": SESSIONS}
    assert by_order(sandbox, "st-500") == []


@pytest.mark.parametrize("header", ["explode", "latency=soon", "status=200", "status=999", "drop,"])
def test_an_unknown_fault_is_a_400_naming_the_header(sandbox: SandboxServer, header: str) -> None:
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", json=body("bad-fault"),
                          headers={**auth(sandbox), "X-Sandbox-Fault": header})
    assert reply.status_code == 400
    assert [p["parameter"] for p in reply.json()["invalid_parameters"]] == ["X-Sandbox-Fault"]
    assert by_order(sandbox, "bad-fault") == []


def test_faults_leave_login_and_the_sandbox_views_alone(sandbox: SandboxServer) -> None:
    fault = {"X-Sandbox-Fault": "status=503"}
    assert auth(sandbox, fault)["Authorization"].startswith("Bearer ")
    assert requests.get(f"{sandbox.base_url}/sandbox/info", headers=fault).status_code == 200
    assert requests.get(f"{sandbox.base_url}/checkout/{uuid.uuid4()}", headers=fault).status_code == 404


def raw_post(sandbox: SandboxServer, headers: dict[str, str], fault: str, order_id: str) -> bytes:
    """POST a create over a bare socket and return every byte the server sent before closing."""
    payload = f'{{"transaction":{{"order_id":"{order_id}","amount":1,"currency":"gbp"}}}}'.encode()
    lines = [f"POST {SESSIONS} HTTP/1.1", f"Host: {sandbox.host}", "Content-Type: application/json",
             f"Content-Length: {len(payload)}", f"Authorization: {headers['Authorization']}",
             f"X-Sandbox-Fault: {fault}"]
    with socket.create_connection((sandbox.host, sandbox.port), timeout=5) as conn:
        conn.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
    return received


@pytest.mark.parametrize(("fault", "stored_sessions"), [("drop", 0), ("drop-after", 1)])
def test_drop_cuts_the_connection_with_no_status_line(
        sandbox: SandboxServer, fault: str, stored_sessions: int) -> None:
    headers = auth(sandbox)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sandbox.base_url}{SESSIONS}", json=body(f"{fault}-1"),
                      headers={**headers, "X-Sandbox-Fault": fault}, timeout=5)
    assert raw_post(sandbox, headers, fault, f"{fault}-2") == b""
    assert len(by_order(sandbox, f"{fault}-1")) == len(by_order(sandbox, f"{fault}-2")) == stored_sessions
    create(sandbox, headers)  # and the server carries on


def test_drop_after_on_update_stores_the_version(sandbox: SandboxServer) -> None:
    headers = auth(sandbox)
    session_id = create(sandbox, headers)
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", json={"transaction": {"amount": 3}},
                     headers={**headers, "X-Sandbox-Fault": "latency=50,drop-after"}, timeout=5)
    assert stored(sandbox, session_id)["params"]["transaction"]["amount"] == 3


# Checkout page ----------------------------------------------------------------------------

def test_checkout_shows_the_latest_version(sandbox: SandboxServer) -> None:
    headers = auth(sandbox)
    session_id = create(sandbox, headers, body("ord-77", 1234.5, "eur"))
    requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", json={"transaction": {"amount": 99}}, headers=headers)
    page = requests.get(f"{sandbox.base_url}/checkout/{session_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<dd id="order-id">ord-77</dd>' in page.text
    assert '<span id="amount">99.00</span>' in page.text and '<span id="currency">EUR</span>' in page.text
    assert 'id="time-left"' in page.text and ">09:59<" in page.text and "Sandbox checkout" in page.text
    assert "http://" not in page.text.replace(sandbox.base_url, "") and "src=" not in page.text


def test_checkout_of_an_unknown_link(sandbox: SandboxServer) -> None:
    page = requests.get(f"{sandbox.base_url}/checkout/{uuid.uuid4()}")
    assert page.status_code == 404 and "This payment link is not valid" in page.text


def test_render_escapes_everything_it_shows() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    nasty = '<script>alert("x")</script>&'
    html = render_link(LinkView(nasty, Decimal("1"), "<b>", now + timedelta(seconds=75.5), now))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert '<span id="currency">&lt;B&gt;</span>' in html and 'data-ms-left="75500">01:15<' in html
    assert "&lt;i&gt;" in render_gone("<i>", "expired")


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (Decimal("1234.5"), "gbp", "1,234.50"), (1500, "jpy", "1,500"), (Decimal("0.1"), "usd", "0.10")])
def test_amounts_show_the_currency_decimals(amount: Decimal | int, currency: str, shown: str) -> None:
    now = datetime.now(UTC)
    html = render_link(LinkView("ord-1", amount, currency, now + timedelta(minutes=5), now))
    assert f'<span id="amount">{shown}</span>' in html


# Runtime ----------------------------------------------------------------------------------

def test_a_restart_keeps_sessions_and_tokens(tmp_path: Path) -> None:
    first = serve_in_thread(tmp_path / "sandbox.db")
    headers = auth(first)
    session_id = create(first, headers)
    first.stop()
    assert not first.running
    second = serve_in_thread(tmp_path / "sandbox.db", port=first.port)  # same port: same payment links
    try:
        reply = requests.put(f"{second.base_url}{SESSIONS}/{session_id}", json={"transaction": {"amount": 2}},
                             headers=headers)
        assert reply.status_code == 200
        assert requests.get(f"{second.base_url}/checkout/{session_id}").status_code == 200
    finally:
        second.stop()


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    """An ``ensure_sandbox`` memory of its own; sandboxes it started are stopped afterwards."""
    own = Sandboxes()
    yield own
    own.stop_started()


def test_ensure_sandbox_reuses_a_running_one(sandbox: SandboxServer, sandboxes: Sandboxes) -> None:
    found = ensure_sandbox(port=sandbox.port, sandboxes=sandboxes)
    assert found.base_url == sandbox.base_url and found.started_here is False
    assert ensure_sandbox(port=sandbox.port, sandboxes=sandboxes) is found


def test_ensure_sandbox_starts_one_once(tmp_path: Path, sandboxes: Sandboxes) -> None:
    port = free_port()
    started = ensure_sandbox(port=port, db_path=tmp_path / "s.db", sandboxes=sandboxes)
    assert started.started_here is True and started.base_url == f"http://127.0.0.1:{port}"
    assert ensure_sandbox(port=port, db_path=tmp_path / "s.db", sandboxes=sandboxes) is started
    assert requests.get(f"{started.base_url}/sandbox/info").json()["service"] == "acquired-sandbox"


class _Stranger(BaseHTTPRequestHandler):
    """Some other HTTP service: answers 501 to everything, quietly."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_ensure_sandbox_moves_off_a_port_held_by_a_stranger(tmp_path: Path, sandboxes: Sandboxes) -> None:
    stranger = ThreadingHTTPServer(("127.0.0.1", 0), _Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        port = stranger.server_address[1]
        started = ensure_sandbox(port=port, db_path=tmp_path / "s.db", sandboxes=sandboxes)
        assert started.started_here is True and not started.base_url.endswith(f":{port}")
        assert requests.get(f"{started.base_url}/sandbox/info").json()["service"] == "acquired-sandbox"
    finally:
        stranger.shutdown()
        stranger.server_close()


# What the checkout page cannot show is refused at the field, never a 500 ---------------------------

@pytest.mark.parametrize("amount", ["1e12", "1e20", "1e26", "1000000000000", "999999999999999.99", "1e400"])
def test_an_amount_too_large_to_show_is_refused_at_the_field(sandbox: SandboxServer, amount: str) -> None:
    headers = {**auth(sandbox), "Content-Type": "application/json"}
    raw = '{"transaction":{"order_id":"ord-big","amount":%s,"currency":"gbp"}}' % amount
    reply = requests.post(f"{sandbox.base_url}{SESSIONS}", data=raw, headers=headers, timeout=5)
    assert reply.status_code == 400, reply.text
    assert [p["parameter"] for p in reply.json()["invalid_parameters"]] == ["transaction.amount"]
    session_id = create(sandbox, headers)
    update = requests.put(f"{sandbox.base_url}{SESSIONS}/{session_id}", headers=headers, timeout=5,
                          data='{"transaction":{"amount":%s}}' % amount)
    assert update.status_code == 400 and "transaction.amount" in update.text
    assert requests.get(f"{sandbox.base_url}/checkout/{session_id}", timeout=5).status_code == 200


def test_the_largest_amount_taken_is_shown_exactly(sandbox: SandboxServer) -> None:
    headers = {**auth(sandbox), "Content-Type": "application/json"}
    session_id = create(sandbox, headers, body(amount=Decimal("999999999999.99")))
    page = requests.get(f"{sandbox.base_url}/checkout/{session_id}", timeout=5)
    assert page.status_code == 200 and '<span id="amount">999,999,999,999.99</span>' in page.text
