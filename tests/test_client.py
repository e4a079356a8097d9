"""The client over real HTTP against the sandbox, with a real SQLite call log."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.net import free_port
from lib.api import client as client_module
from lib.calllog.log import CallLog
from lib.api.client import Client
from lib.settings import Credentials, Environment
from lib.api.errors import ApiError, NetworkError, NotFound, ServerError, UnknownOutcome, ValidationFailed
from lib.sessions.registry import Registry
from lib.sandbox.runtime import serve_in_thread
from lib.fields.validation import SessionRequest
from lib.sessions.recorder import RegistryRecorder

RECORDER = RegistryRecorder()  # what the sessions service hands the client: sessions go into the registry


def body(order_id: str = "ord-1", amount: str = "15.02") -> dict:
    return {"transaction": {"order_id": order_id, "amount": Decimal(amount), "currency": "gbp"}}


def make_env(base_url: str, app_key: str = "sandbox", ttl: int = 600, read_timeout: float = 10.0) -> Environment:
    return Environment("sandbox", f"{base_url}/v1", Credentials("sandbox", app_key),
                       checkout_url_template=f"{base_url}/checkout/{{session_id}}", session_ttl_seconds=ttl,
                       connect_timeout=2.0, read_timeout=read_timeout)



@pytest.fixture
def log(tmp_path: Path) -> CallLog:
    return CallLog(tmp_path / "ops.db")


@pytest.fixture
def server(tmp_path: Path) -> Iterator:
    srv = serve_in_thread(tmp_path / "sandbox.db")
    yield srv
    srv.stop()


def requests_of(log: CallLog, endpoint: str) -> list[dict]:
    return [e for e in (log.entry(s) for s in range(1, log.count() + 1))
            if e and e["kind"] == "api_request" and e["endpoint"] == endpoint]


def results(log: CallLog) -> list[dict]:
    return [e for e in (log.entry(s) for s in range(1, log.count() + 1)) if e and e["kind"] == "api_result"]


def test_login_once_then_token_reused(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    first = client.create_session(SessionRequest.parse(body("ord-a")))
    second = client.create_session(body("ord-b"))
    assert first.session_id != second.session_id
    assert len(requests_of(log, "/v1/login")) == 1
    assert len(requests_of(log, "/v1/payment-sessions")) == 2
    assert [r["outcome"] for r in results(log)] == ["ok", "ok", "ok"]
    assert log.verify().ok


def test_expired_token_means_transparent_relogin(tmp_path: Path, log: CallLog) -> None:
    srv = serve_in_thread(tmp_path / "sb.db", token_ttl_seconds=1)
    try:
        client = Client(make_env(srv.base_url), operator="ann", log=log, recorder=RECORDER)
        client.create_session(body("ord-a"))
        time.sleep(1.2)
        client.create_session(body("ord-b"))
        assert len(requests_of(log, "/v1/login")) == 2
    finally:
        srv.stop()


def test_a_401_logs_in_again_and_retries_once(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    client.login()
    key = next(iter(client_module._tokens))
    client_module._tokens[key].value = "forged-token"  # the API no longer knows our token
    created = client.create_session(body())
    statuses = [(r["endpoint"], r["http_status"]) for r in results(log)]
    assert statuses == [("/v1/login", 200), ("/v1/payment-sessions", 401), ("/v1/login", 200),
                        ("/v1/payment-sessions", 201)]
    assert created.session_id


def test_bad_credentials_raise_unauthorized(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url, app_key="wrong"), operator="ann", log=log, recorder=RECORDER)
    with pytest.raises(ApiError) as caught:
        client.create_session(body())
    assert caught.value.status == 401
    assert caught.value.body["error_type"] == "unauthorized"


def test_create_registers_the_session_from_the_send_time(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER, tags=["qa-run-1"])
    created = client.create_session(body("ord-reg"))
    row = Registry(log.db_path).get(created.session_id)
    assert row["order_id"] == "ord-reg" and row["created_by"] == "ann" and row["environment"] == "sandbox"
    assert created.expires_at - created.sent_at == timedelta(seconds=600)
    assert row["expires_at"] == created.expires_at
    assert row["tags"] == ["qa-run-1"]
    assert row["create_seq"] == created.entry_seq
    assert log.entry(created.entry_seq)["order_id"] == "ord-reg"
    assert log.entry(created.entry_seq)["session_id"] == created.session_id  # the create joins the session's timeline


def test_update_is_visible_in_the_sandbox_and_the_registry(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    created = client.create_session(body("ord-upd"))
    updated = client.update_session(created.session_id, {"transaction": {"amount": Decimal("17.50")}})
    assert updated.params["transaction"]["amount"] == Decimal("17.50")
    seen = requests.get(f"{server.base_url}/sandbox/sessions/{created.session_id}", timeout=5).json()
    assert [Decimal(str(v["params"]["transaction"]["amount"])) for v in seen["versions"]] == [Decimal("15.02"), Decimal("17.5")]
    history = Registry(log.db_path).history(created.session_id)
    assert [h["version"] for h in history] == [1, 2]
    assert history[1]["changes"] == [{"path": "transaction.amount", "before": Decimal("15.02"), "after": Decimal("17.50")}]
    assert history[1]["operator"] == "ann"
    assert history[1]["entry_seq"] == updated.entry_seq


def test_validation_failure_carries_invalid_parameters(server, log: CallLog) -> None:
    client = Client(make_env(server.base_url), operator="qa", log=log, recorder=RECORDER)
    with pytest.raises(ValidationFailed) as caught:
        client.create_session({"transaction": {"order_id": "", "amount": "x", "currency": "GBP"}})
    assert [p["parameter"] for p in caught.value.invalid_parameters] == [
        "transaction.order_id", "transaction.amount", "transaction.currency"]
    assert results(log)[-1]["outcome"] == "http_error" and results(log)[-1]["http_status"] == 400


def test_description_is_read_when_reason_is_absent() -> None:
    error = ValidationFailed("x", status=400, body={"invalid_parameters": [{"parameter": "a", "description": "a is bad"}]})
    assert error.invalid_parameters == [{"parameter": "a", "reason": "a is bad"}]


def test_expired_session_update_is_not_found(tmp_path: Path, log: CallLog) -> None:
    srv = serve_in_thread(tmp_path / "sb.db", session_ttl_seconds=1)
    try:
        client = Client(make_env(srv.base_url, ttl=1), operator="ann", log=log, recorder=RECORDER)
        created = client.create_session(body())
        time.sleep(1.3)
        with pytest.raises(NotFound):
            client.update_session(created.session_id, {"transaction": {"amount": Decimal("1.00")}})
    finally:
        srv.stop()


def faulty(server, log: CallLog, fault: str, **env) -> Client:
    Client(make_env(server.base_url, **env), operator="qa", log=log, recorder=RECORDER).login()  # the fault is for the call, not the login
    return Client(make_env(server.base_url, **env), operator="qa", log=log, recorder=RECORDER, headers={"X-Sandbox-Fault": fault})


def sandbox_sessions_for(server, order_id: str) -> list:
    found = requests.get(f"{server.base_url}/sandbox/sessions", params={"order_id": order_id}, timeout=5)
    return found.json()["sessions"] if found.ok else []


def test_fault_status_500_is_a_server_error(server, log: CallLog) -> None:
    with pytest.raises(ServerError) as caught:
        faulty(server, log, "status=500").create_session(body())
    assert caught.value.body["error_type"] == "internal_server_error"
    assert results(log)[-1]["outcome"] == "http_error"


def test_fault_drop_is_an_unknown_outcome_with_nothing_stored(server, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome):
        faulty(server, log, "drop").create_session(body("ord-drop"))
    assert results(log)[-1]["outcome"] == "unknown_outcome"
    assert len(requests_of(log, "/v1/payment-sessions")) == 1  # never resent
    assert sandbox_sessions_for(server, "ord-drop") == []


def test_fault_drop_after_is_an_unknown_outcome_with_the_session_stored(server, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome) as caught:
        faulty(server, log, "drop-after").create_session(body("ord-after"))
    assert caught.value.entry_seq == results(log)[-1]["seq"]
    assert len(requests_of(log, "/v1/payment-sessions")) == 1
    assert len(sandbox_sessions_for(server, "ord-after")) == 1


def test_update_with_unknown_outcome_marks_the_amount_uncertain(server, log: CallLog) -> None:
    created = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER).create_session(body("ord-unc"))
    with pytest.raises(UnknownOutcome):
        faulty(server, log, "drop-after").update_session(created.session_id, {"transaction": {"amount": Decimal("3")}})
    assert Registry(log.db_path).get(created.session_id)["state"] == "amount_uncertain"


def test_latency_beyond_the_read_timeout_is_an_unknown_outcome(server, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome):
        faulty(server, log, "latency=1500", read_timeout=0.3).create_session(body("ord-slow"))
    assert results(log)[-1]["outcome"] == "unknown_outcome"


def test_refused_connection_is_retried_then_a_network_error(log: CallLog) -> None:
    client = Client(make_env(f"http://127.0.0.1:{free_port()}"), operator="ann", log=log)
    with pytest.raises(NetworkError):
        client.create_session(body())
    outcomes = [r["outcome"] for r in results(log)]
    assert outcomes == ["network_error"] * (client_module.CONNECT_RETRIES + 1)
    assert all(r["endpoint"] == "/v1/login" for r in results(log))


def test_secrets_never_reach_the_database(tmp_path: Path, log: CallLog) -> None:
    app_key = secrets.token_hex(16)
    srv = serve_in_thread(tmp_path / "sb.db", app_key=app_key)
    try:
        client = Client(make_env(srv.base_url, app_key=app_key), operator="ann", log=log, recorder=RECORDER)
        token = client.login()
        client.create_session(body())
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("ops.db*"))
        assert Path(f"{log.db_path}-wal").exists()
        assert app_key.encode() not in raw and token.encode() not in raw
        assert b"[REDACTED]" in raw
    finally:
        srv.stop()


class _SendsAnotherFirst:
    """An HTTP session whose next request lets ``first`` run to completion before going out: a
    slow call overtaken by a fast one, deterministically (no threads, no timing)."""

    def __init__(self, http: requests.Session, first: Callable[[], object]) -> None:
        self.http = http
        self.first: Callable[[], object] | None = first

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        first, self.first = self.first, None
        if first is not None:
            first()
        return self.http.request(*args, **kwargs)


def test_overlapping_updates_leave_the_registry_as_the_api_holds_it(server, log: CallLog) -> None:
    created = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER).create_session(body("ord-race", "10.00"))
    session_id = created.session_id
    slow = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    fast = Client(make_env(server.base_url), operator="bob", log=log, recorder=RECORDER)
    slow.login()  # so that the interleaved request is the PUT itself
    slow._http = _SendsAnotherFirst(slow._http, lambda: fast.update_session(
        session_id, {"transaction": {"amount": Decimal("20.00")}}))
    slow.update_session(session_id, {"transaction": {"custom1": "gift wrap"}})

    at_api = requests.get(f"{server.base_url}/sandbox/sessions/{session_id}", timeout=5).json()["params"]
    assert at_api["transaction"]["amount"] == 20.0 and at_api["transaction"]["custom1"] == "gift wrap"
    row = Registry(log.db_path).get(session_id)
    assert row["amount"] == Decimal("20.00")
    assert row["params"]["transaction"] == {"order_id": "ord-race", "amount": Decimal("20.00"), "currency": "gbp",
                                            "custom1": "gift wrap"}
    versions = Registry(log.db_path).history(session_id)
    assert [v["operator"] for v in versions] == ["ann", "bob", "ann"]
    assert [c["path"] for c in versions[-1]["changes"]] == ["transaction.custom1"]


@pytest.mark.parametrize("session_id", ["x/../../../sandbox/info", "..", "a?b=1", "a#b", "a%2Fb", "", " a", "a\n",
                                        "é", "-a", "a" * 129])
def test_a_session_id_that_could_change_the_path_is_refused_before_anything(server, log: CallLog,
                                                                             session_id: str) -> None:
    from lib.fields.validation import InvalidRequest

    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    with pytest.raises(InvalidRequest) as caught:
        client.update_session(session_id, {"transaction": {"custom1": "x"}})
    assert caught.value.problems == [{"parameter": "session_id", "reason": client_module.BAD_SESSION_ID}]
    assert log.count() == 0  # nothing logged, nothing sent (not even a login)


def test_a_valid_session_id_is_quoted_into_the_path(server, log: CallLog) -> None:
    created = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER).create_session(body("ord-path"))
    assert client_module.session_path(created.session_id) == f"/v1/payment-sessions/{created.session_id}"
    updated = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER).update_session(
        created.session_id, {"transaction": {"custom1": "ok"}})
    assert log.entry(updated.entry_seq)["path"] == f"/v1/payment-sessions/{created.session_id}"


class _AnswersWith:
    """An HTTP session that makes the real call (the API acts) and then puts one member in front of
    a 2xx JSON answer: the client's side of a hostile answer, whatever the server supports."""

    def __init__(self, http: requests.Session, member: bytes) -> None:
        self.http, self.member = http, member

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = self.http.request(*args, **kwargs)
        if response.ok and response.content.startswith(b"{"):
            response._content = b"{" + self.member + b"," + response.content[1:]
        return response


@pytest.mark.parametrize("member", [
    b'"fee":0.12345678901234567890',  # more digits than a float holds
    b'"fee":1e400',  # beyond a float
    b'"note":"\\ud800"',  # an escaped lone surrogate
    b'"nested":' + b"[" * 10_000 + b"]" * 10_000,
], ids=["20-digit decimal", "1e400", "lone surrogate", "10000 levels"])
def test_an_answer_the_log_could_not_write_is_recorded_and_the_session_registered(server, log: CallLog,
                                                                                  member: bytes) -> None:
    client = Client(make_env(server.base_url), operator="ann", log=log, recorder=RECORDER)
    client.login()
    client._http = _AnswersWith(client._http, member)
    created = client.create_session(body("ord-hostile"))
    assert len(sandbox_sessions_for(server, "ord-hostile")) == 1
    assert Registry(log.db_path).get(created.session_id)["order_id"] == "ord-hostile"
    assert [r["outcome"] for r in results(log)] == ["ok", "ok"] and log.in_flight() == []
    assert results(log)[-1]["session_id"] == created.session_id
    assert log.verify().ok
