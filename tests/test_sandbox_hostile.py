"""The sandbox under hostile requests: the contract's 400 (or a 413 over the size limit), never a 5xx.

The limits are imported inside the tests that name them, so every test here also runs, and fails
on what it checks, against a sandbox that has none."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.sandbox import SandboxServer, serve_in_thread
from lib.sandbox.faults import HEADER as FAULT

SESSIONS = "/v1/payment-sessions"
VALID = b'{"transaction": {"order_id": "ord-1", "amount": 15.02, "currency": "gbp"}}'


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """One sandbox for the module: the fuzz sends hundreds of requests."""
    server = serve_in_thread(tmp_path_factory.mktemp("hostile") / "sandbox.db")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """An authenticated, pooled HTTP session."""
    session = requests.Session()
    reply = session.post(f"{sandbox.base_url}/v1/login", json={"app_id": "sandbox", "app_key": "sandbox"}, timeout=5)
    session.headers.update({"Authorization": f"Bearer {reply.json()['access_token']}",
                            "Content-Type": "application/json"})
    yield session
    session.close()


@pytest.fixture(scope="module")
def session_id(sandbox: SandboxServer, http: requests.Session) -> str:
    reply = http.post(f"{sandbox.base_url}{SESSIONS}", data=VALID, timeout=5)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["session_id"])


def targets(sandbox: SandboxServer, session_id: str) -> list[tuple[str, str]]:
    return [("POST", f"{sandbox.base_url}{SESSIONS}"), ("PUT", f"{sandbox.base_url}{SESSIONS}/{session_id}"),
            ("POST", f"{sandbox.base_url}/v1/login")]


def problems(reply: requests.Response) -> list[dict[str, Any]]:
    return list(reply.json()["invalid_parameters"])


def nested(levels: int) -> bytes:
    return b'{"transaction": {"order_id": "ord-1", "amount": 1, "currency": "gbp", "custom1": ' + \
        b"[" * levels + b"]" * levels + b"}}"


@pytest.mark.parametrize("levels", [32, 600, 10_000])  # the limit's neighbourhood is 32 (BODY_MAX_DEPTH)
def test_deep_nesting_is_a_400_naming_the_limit(sandbox, http, session_id, levels: int) -> None:
    for method, url in targets(sandbox, session_id):
        reply = http.request(method, url, data=nested(levels), timeout=10)
        assert reply.status_code == 400, (method, url, reply.text)
        from lib.common.jsonutil import BODY_MAX_DEPTH
        assert problems(reply) == [{"parameter": "body",
                                    "reason": f"body is nested more than {BODY_MAX_DEPTH} levels deep"}]


@pytest.mark.parametrize("raw", [
    b'{"transaction": {"order_id": "ord-1", "amount": 1, "currency": "gbp", "custom1": "\\ud800"}}',
    b'{"transaction": {"order_id": "ord-1", "amount": 1, "currency": "gbp", "custom1": "\xed\xa0\x80"}}',
    b'{"app_id": "\\udfff", "app_key": "sandbox"}',
])
def test_lone_surrogates_raw_or_escaped_are_a_400(sandbox, http, session_id, raw: bytes) -> None:
    for method, url in targets(sandbox, session_id):
        reply = http.request(method, url, data=raw, timeout=10)
        assert reply.status_code == 400, (method, url, reply.text)
        assert [p["parameter"] for p in problems(reply)] == ["body"]


def test_a_10_mb_custom_data_is_a_413_and_nothing_is_stored(sandbox, http, session_id) -> None:
    from lib.sandbox.app import MAX_BODY_BYTES

    huge = b'{"transaction": {"order_id": "ord-huge", "amount": 1, "currency": "gbp", "custom_data": "' + \
        b"A" * (10 * 1024 * 1024) + b'"}}'
    for method, url in targets(sandbox, session_id):
        reply = http.request(method, url, data=huge, timeout=30)
        assert reply.status_code == 413, (method, url, reply.text[:200])
        assert reply.json() == {"status": "error", "error_type": "bad_request",
                                "instance": url.removeprefix(sandbox.base_url),
                                "title": f"The request body is larger than {MAX_BODY_BYTES} bytes, "
                                         "the most this API accepts."}
    assert requests.get(f"{sandbox.base_url}/sandbox/sessions", params={"order_id": "ord-huge"},
                        timeout=5).json() == {"sessions": []}


def test_a_streamed_body_over_the_limit_is_a_413(sandbox, http) -> None:
    chunks = (b"A" * 65536 for _ in range(40))  # 2.5 MiB, chunked: no Content-Length to refuse it by
    reply = http.post(f"{sandbox.base_url}{SESSIONS}", data=chunks, timeout=30)
    assert reply.status_code == 413 and reply.json()["error_type"] == "bad_request"


def test_a_body_at_the_limit_is_read(sandbox, http) -> None:
    from lib.sandbox.app import MAX_BODY_BYTES

    start = b'{"transaction": {"order_id": "ord-big", "amount": 1, "currency": "gbp"}, "customer": {"custom_data": "'
    raw = start + b"A" * (MAX_BODY_BYTES - len(start) - 3) + b'"}}'
    assert len(raw) == MAX_BODY_BYTES
    assert http.post(f"{sandbox.base_url}{SESSIONS}", data=raw, timeout=30).status_code == 201


@pytest.mark.parametrize("latency", ["99999999999999999999", "60001", "１０"])  # the bound is 60000 ms
def test_a_fault_latency_out_of_bounds_is_a_400_naming_the_header(sandbox, http, latency: str) -> None:
    reply = http.post(f"{sandbox.base_url}{SESSIONS}", data=VALID, timeout=10,
                      headers={FAULT: f"latency={latency}".encode()})
    assert reply.status_code == 400
    from lib.sandbox.faults import MAX_LATENCY_MS
    assert [p["parameter"] for p in problems(reply)] == [FAULT]
    assert f"latency=<ms 0-{MAX_LATENCY_MS}>" in problems(reply)[0]["reason"]


# --- the fuzz: hostile JSON text over every endpoint that reads a body, never a 5xx -----------------

_KEYS = st.sampled_from(["transaction", "order_id", "amount", "currency", "customer", "tds", "is_active",
                         "billing", "address", "custom1", "custom_data", "payment_methods", "webhook_url",
                         "save_card", "app_id", "app_key", "dob", "ip", "email", "phone", "country_code"])
_NUMBERS = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,30})?", fullmatch=True)
_ESCAPES = st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"\\ud83d\\ude00"', '"\\"\\\\"', '"é"'])


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_SCALARS = st.one_of(st.sampled_from(["null", "true", "false", "NaN", "-Infinity"]), _NUMBERS, _ESCAPES,
                     st.text(max_size=30).map(_string), st.text(max_size=3000, alphabet="ab").map(_string))
_KEY_TEXT = st.one_of(_KEYS.map(_string), st.text(max_size=8).map(_string), _ESCAPES)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(_KEY_TEXT, inner), max_size=5).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}")),
    max_leaves=25)
# Near-valid sessions: the real shape with a hostile value in one place.
_SESSIONS = st.builds(
    lambda order, amount, currency, extra: (
        '{"transaction": {"order_id": %s, "amount": %s, "currency": %s%s}}' % (order, amount, currency, extra)),
    st.one_of(st.just('"ord-fuzz"'), _SCALARS), st.one_of(st.just("15.02"), _NUMBERS, _SCALARS),
    st.one_of(st.just('"gbp"'), _SCALARS),
    st.one_of(st.just(""), _JSON.map(lambda v: ', "custom1": ' + v), _NUMBERS.map(lambda v: ', "moto": ' + v)))
_DEEP = st.integers(1, 3000).map(lambda n: '{"transaction": ' + "[" * n + "]" * n + "}")
_BODIES = st.one_of(_JSON.map(str.encode), _SESSIONS.map(str.encode), _DEEP.map(str.encode), st.binary(max_size=300),
                    _JSON.map(lambda t: t.encode("utf-8", "surrogatepass")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(raw=_BODIES, target=st.integers(0, 2))
def test_fuzz_never_a_5xx(sandbox, http, session_id, raw: bytes, target: int) -> None:
    method, url = targets(sandbox, session_id)[target]
    reply = http.request(method, url, data=raw, timeout=10)
    assert reply.status_code < 500, (method, url, raw[:300], reply.text[:300])
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert isinstance(body, dict) and ("session_id" in body or "status" in body or "access_token" in body)
