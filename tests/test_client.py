"""The client over real HTTP against the sandbox, with a real SQLite call log."""
from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from lib.api import client as client_module
from lib.api.client import Client, Transport
from lib.api.errors import ApiError, NetworkError, NotFound, ServerError, UnknownOutcome, ValidationFailed
from lib.api.tokens import TokenCache
from lib.calllog.log import CallLog
from lib.fields.validation import SessionRequest
from lib.sessions.registry import Registry
from tests.clocks import FakeClock
from tests.conftest import MakeSandbox
from tests.net import free_port
from tests.sandbox_support import RECORDER, order, sandbox_env, sessions_for


def requests_of(log: CallLog, endpoint: str) -> list[dict]:
    return [e for e in (log.entry(s) for s in range(1, log.count() + 1))
            if e and e["kind"] == "api_request" and e["endpoint"] == endpoint]


def results(log: CallLog) -> list[dict]:
    return [e for e in (log.entry(s) for s in range(1, log.count() + 1)) if e and e["kind"] == "api_result"]


def test_login_once_then_token_reused(sandbox, log: CallLog) -> None:
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER)
    first = client.create_session(SessionRequest.parse(order("ord-a")))
    second = client.create_session(order("ord-b"))
    assert first.session_id != second.session_id
    assert len(requests_of(log, "/v1/login")) == 1
    assert len(requests_of(log, "/v1/payment-sessions")) == 2
    assert [r["outcome"] for r in results(log)] == ["ok", "ok", "ok"]
    assert log.verify().ok


def test_a_token_near_its_end_is_renewed_before_the_call(make_sandbox: MakeSandbox, clock: FakeClock,
                                                        log: CallLog) -> None:
    """The client keeps a token until a minute before its hour is up, then logs in first."""
    sandbox = make_sandbox(clock=clock)
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER,
                    tokens=TokenCache(seconds=clock.seconds))
    client.create_session(order("ord-a"))
    clock.advance(timedelta(minutes=59) - timedelta(milliseconds=1))
    client.create_session(order("ord-b"))
    clock.advance(timedelta(milliseconds=1))
    client.create_session(order("ord-c"))
    statuses = [(r["endpoint"], r["http_status"]) for r in results(log)]
    assert statuses == [("/v1/login", 200), ("/v1/payment-sessions", 201), ("/v1/payment-sessions", 201),
                        ("/v1/login", 200), ("/v1/payment-sessions", 201)]


def test_a_token_the_api_expired_is_a_401_then_a_new_login_and_one_retry(
        make_sandbox: MakeSandbox, clock: FakeClock, log: CallLog) -> None:
    """The API's clock, not the client's, decides: a token it calls expired is refused, and the
    client logs in again and retries that call once."""
    sandbox = make_sandbox(clock=clock)  # tokens live an hour
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER,
                    tokens=TokenCache(seconds=lambda: 0.0))  # to the client the token never ages
    client.login()
    clock.advance(timedelta(hours=1))
    created = client.create_session(order())
    statuses = [(r["endpoint"], r["http_status"]) for r in results(log)]
    assert statuses == [("/v1/login", 200), ("/v1/payment-sessions", 401), ("/v1/login", 200),
                        ("/v1/payment-sessions", 201)]
    assert created.session_id and sessions_for(sandbox, "ord-1")


def test_bad_credentials_raise_unauthorized(sandbox, log: CallLog) -> None:
    client = Client(sandbox_env(sandbox.base_url, app_key="wrong"), operator="ann", log=log, recorder=RECORDER)
    with pytest.raises(ApiError) as caught:
        client.create_session(order())
    assert caught.value.status == 401
    assert caught.value.body["error_type"] == "unauthorized"


def test_only_a_request_that_may_change_something_is_fsynced_before_it_leaves(sandbox, log: CallLog,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    durable: dict[str, bool] = {}
    append = log.append

    def spy(kind: str, **fields: Any) -> int:
        if kind == "api_request":
            durable[fields["endpoint"]] = fields.get("durable", True)
        return append(kind, **fields)

    monkeypatch.setattr(log, "append", spy)
    Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER).create_session(order("ord-d"))
    assert durable == {"/v1/login": False, "/v1/payment-sessions": True}  # a login acts on nothing; a create does
    assert log.verify().ok


def test_create_registers_the_session_from_the_send_time(sandbox, log: CallLog) -> None:
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER, tags=["qa-run-1"])
    created = client.create_session(order("ord-reg"))
    row = Registry(log.db_path).get(created.session_id)
    assert row["order_id"] == "ord-reg" and row["created_by"] == "ann" and row["environment"] == "sandbox"
    assert created.expires_at - created.sent_at == timedelta(seconds=600)
    assert row["expires_at"] == created.expires_at
    assert row["tags"] == ["qa-run-1"]
    assert row["create_seq"] == created.entry_seq
    assert log.entry(created.entry_seq)["order_id"] == "ord-reg"
    assert log.entry(created.entry_seq)["session_id"] == created.session_id  # the create joins the session's timeline


def test_update_is_visible_in_the_sandbox_and_the_registry(sandbox, log: CallLog) -> None:
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER)
    created = client.create_session(order("ord-upd"))
    updated = client.update_session(created.session_id, {"transaction": {"amount": Decimal("17.50")}})
    assert updated.params["transaction"]["amount"] == Decimal("17.50")
    seen = requests.get(f"{sandbox.base_url}/sandbox/sessions/{created.session_id}", timeout=5).json()
    assert [Decimal(str(v["params"]["transaction"]["amount"])) for v in seen["versions"]] == [Decimal("15.02"), Decimal("17.5")]
    history = Registry(log.db_path).history(created.session_id)
    assert [h["version"] for h in history] == [1, 2]
    assert history[1]["changes"] == [{"path": "transaction.amount", "before": Decimal("15.02"), "after": Decimal("17.50")}]
    assert history[1]["operator"] == "ann"
    assert history[1]["entry_seq"] == updated.entry_seq


def test_validation_failure_carries_invalid_parameters(sandbox, log: CallLog) -> None:
    client = Client(sandbox_env(sandbox.base_url), operator="qa", log=log, recorder=RECORDER)
    with pytest.raises(ValidationFailed) as caught:
        client.create_session({"transaction": {"order_id": "", "amount": "x", "currency": "GBP"}})
    assert [p["parameter"] for p in caught.value.invalid_parameters] == [
        "transaction.order_id", "transaction.amount", "transaction.currency"]
    assert results(log)[-1]["outcome"] == "http_error" and results(log)[-1]["http_status"] == 400


def test_description_is_read_when_reason_is_absent() -> None:
    error = ValidationFailed("x", status=400, body={"invalid_parameters": [{"parameter": "a", "description": "a is bad"}]})
    assert error.invalid_parameters == [{"parameter": "a", "reason": "a is bad"}]


def test_an_update_after_the_ten_minutes_is_not_found(make_sandbox: MakeSandbox, clock: FakeClock,
                                                     log: CallLog) -> None:
    sandbox = make_sandbox(clock=clock)  # sessions live 10 minutes
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER, clock=clock)
    created = client.create_session(order())
    assert created.expires_at == clock() + timedelta(minutes=10)
    clock.advance(timedelta(minutes=10) - timedelta(milliseconds=1))
    client.update_session(created.session_id, {"transaction": {"amount": Decimal("1.00")}})
    clock.advance(timedelta(milliseconds=1))
    with pytest.raises(NotFound):
        client.update_session(created.session_id, {"transaction": {"amount": Decimal("2.00")}})
    assert [v["params"]["transaction"]["amount"] for v in sessions_for(sandbox, "ord-1")[0]["versions"]] \
        == [15.02, 1]


def faulty(sandbox, log: CallLog, fault: str, **env) -> Client:
    Client(sandbox_env(sandbox.base_url, **env), operator="qa", log=log, recorder=RECORDER).login()  # the fault is for the call, not the login
    return Client(sandbox_env(sandbox.base_url, **env), operator="qa", log=log, recorder=RECORDER, headers={"X-Sandbox-Fault": fault})


def test_fault_status_500_is_a_server_error(sandbox, log: CallLog) -> None:
    with pytest.raises(ServerError) as caught:
        faulty(sandbox, log, "status=500").create_session(order())
    assert caught.value.body["error_type"] == "internal_server_error"
    assert results(log)[-1]["outcome"] == "http_error"


def test_fault_drop_is_an_unknown_outcome_with_nothing_stored(sandbox, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome):
        faulty(sandbox, log, "drop").create_session(order("ord-drop"))
    assert results(log)[-1]["outcome"] == "unknown_outcome"
    assert len(requests_of(log, "/v1/payment-sessions")) == 1  # never resent
    assert sessions_for(sandbox, "ord-drop") == []


def test_fault_drop_after_is_an_unknown_outcome_with_the_session_stored(sandbox, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome) as caught:
        faulty(sandbox, log, "drop-after").create_session(order("ord-after"))
    assert caught.value.entry_seq == results(log)[-1]["seq"]
    assert len(requests_of(log, "/v1/payment-sessions")) == 1
    assert len(sessions_for(sandbox, "ord-after")) == 1


def test_update_with_unknown_outcome_marks_the_amount_uncertain(sandbox, log: CallLog) -> None:
    created = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER).create_session(order("ord-unc"))
    with pytest.raises(UnknownOutcome):
        faulty(sandbox, log, "drop-after").update_session(created.session_id, {"transaction": {"amount": Decimal("3")}})
    assert Registry(log.db_path).get(created.session_id)["state"] == "amount_uncertain"


def test_latency_beyond_the_read_timeout_is_an_unknown_outcome(sandbox, log: CallLog) -> None:
    with pytest.raises(UnknownOutcome):
        faulty(sandbox, log, "latency=1500", read_timeout=0.3).create_session(order("ord-slow"))
    assert results(log)[-1]["outcome"] == "unknown_outcome"


def test_refused_connection_is_retried_then_a_network_error(log: CallLog) -> None:
    waits: list[float] = []
    client = Client(sandbox_env(f"http://127.0.0.1:{free_port()}"), operator="ann", log=log, backoff=waits.append)
    with pytest.raises(NetworkError):
        client.create_session(order())
    outcomes = [r["outcome"] for r in results(log)]
    assert outcomes == ["network_error"] * (client_module.CONNECT_RETRIES + 1)
    assert waits == list(client_module.CONNECT_BACKOFF_S)  # a pause before each retry, none after the last
    assert all(r["endpoint"] == "/v1/login" for r in results(log))


def test_secrets_never_reach_the_database(tmp_path: Path, log: CallLog, make_sandbox: MakeSandbox) -> None:
    app_key = secrets.token_hex(16)
    sandbox = make_sandbox(app_key=app_key)
    client = Client(sandbox_env(sandbox.base_url, app_key=app_key), operator="ann", log=log, recorder=RECORDER)
    token = client.login()
    client.create_session(order())
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ops.db*"))
    assert Path(f"{log.db_path}-wal").exists()
    assert app_key.encode() not in raw and token.encode() not in raw
    assert b"[REDACTED]" in raw


class _SendsAnotherFirst:
    """An HTTP session whose next request lets ``first`` run to completion before going out: a
    slow call overtaken by a fast one, deterministically (no threads, no timing)."""

    def __init__(self, http: Transport, first) -> None:  # type: ignore[no-untyped-def]
        self.http, self.first = http, first

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        first, self.first = self.first, None
        if first is not None:
            first()
        return self.http.request(*args, **kwargs)


def test_overlapping_updates_leave_the_registry_as_the_api_holds_it(sandbox, log: CallLog) -> None:
    created = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER).create_session(order("ord-race", "10.00"))
    session_id = created.session_id
    slow = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER)
    fast = Client(sandbox_env(sandbox.base_url), operator="bob", log=log, recorder=RECORDER)
    slow.login()  # so that the interleaved request is the PUT itself
    slow.http = _SendsAnotherFirst(slow.http, lambda: fast.update_session(
        session_id, {"transaction": {"amount": Decimal("20.00")}}))
    slow.update_session(session_id, {"transaction": {"custom1": "gift wrap"}})

    at_api = requests.get(f"{sandbox.base_url}/sandbox/sessions/{session_id}", timeout=5).json()["params"]
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
def test_a_session_id_that_could_change_the_path_is_refused_before_anything(sandbox, log: CallLog,
                                                                             session_id: str) -> None:
    from lib.fields.validation import InvalidRequest

    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER)
    with pytest.raises(InvalidRequest) as caught:
        client.update_session(session_id, {"transaction": {"custom1": "x"}})
    assert caught.value.problems == [{"parameter": "session_id", "reason": client_module.BAD_SESSION_ID}]
    assert log.count() == 0  # nothing logged, nothing sent (not even a login)


def test_a_valid_session_id_is_quoted_into_the_path(sandbox, log: CallLog) -> None:
    created = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER).create_session(order("ord-path"))
    assert client_module.session_path(created.session_id) == f"/v1/payment-sessions/{created.session_id}"
    updated = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER).update_session(
        created.session_id, {"transaction": {"custom1": "ok"}})
    assert log.entry(updated.entry_seq)["path"] == f"/v1/payment-sessions/{created.session_id}"


class _AnswersWith:
    """An HTTP session that makes the real call (the API acts) and then puts one member in front of
    a 2xx JSON answer: the client's side of a hostile answer, whatever the server supports."""

    def __init__(self, http: Transport, member: bytes) -> None:
        self.http, self.member = http, member

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
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
def test_an_answer_the_log_could_not_write_is_recorded_and_the_session_registered(sandbox, log: CallLog,
                                                                                  member: bytes) -> None:
    client = Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER)
    client.login()
    client.http = _AnswersWith(client.http, member)
    created = client.create_session(order("ord-hostile"))
    assert len(sessions_for(sandbox, "ord-hostile")) == 1
    assert Registry(log.db_path).get(created.session_id)["order_id"] == "ord-hostile"
    assert [r["outcome"] for r in results(log)] == ["ok", "ok"] and log.in_flight() == []
    assert results(log)[-1]["session_id"] == created.session_id
    assert log.verify().ok
