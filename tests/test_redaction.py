"""Redaction by the names the field gives secrets, in URLs, and in raw bodies; nothing secret on disk.

Through the call log's own ``redact`` (what every entry's detail goes through)."""
from __future__ import annotations

import base64
import secrets
from decimal import Decimal
from pathlib import Path

import pytest

from lib.api.client import Client
from lib.calllog.log import CallLog
from lib.calllog.redaction import REDACTED, redact
from lib.common import jsonutil
from lib.sandbox import SandboxServer
from lib.settings import Credentials, Environment


@pytest.mark.parametrize("name", [
    "api_key", "API_KEY", "apiKey", "ApiKey", "APIKey", "apikey", "x-api-key", "X-Api-Key", "X-API-KEY",
    "proxy-authorization", "Proxy-Authorization", "authorization", "AUTHORIZATION",
    "token", "Token", "access_token", "accessToken", "refresh_token", "id_token", "x-auth-token", "X-Csrf-Token",
    "secret", "client_secret", "clientSecret", "CLIENT_SECRET", "secret_value", "webhook-secret",
    "password", "Password", "db_password", "userPassword", "password_confirmation", "new-password", "passwd",
    "app_key", "App_Key", "appKey", "private_key", "signing-key", "cookie", "Set-Cookie", "credentials",
])
def test_secret_names_in_any_case_and_position(name: str) -> None:
    assert redact({"outer": [{name: "s3cr3t"}]}) == {"outer": [{name: REDACTED}]}


@pytest.mark.parametrize("name", [
    "token_type", "expires_in", "session_id", "order_id", "app_id", "company_id", "mid", "Hash", "Content-Type",
    "webhook_url", "checkout_url_template", "secretary", "tokenizer", "key", "idempotency_key", "monkey",
    "password_hint", "token_url", "custom_data",
])
def test_names_that_only_look_like_secrets_stay_readable(name: str) -> None:
    assert redact({name: "value"}) == {name: "value"}


def test_the_login_answer_keeps_its_type_and_lifetime_readable() -> None:
    answer = {"token_type": "Bearer", "expires_in": 3600, "access_token": "eyJ.x.y"}
    assert redact(answer) == {"token_type": "Bearer", "expires_in": 3600, "access_token": REDACTED}


@pytest.mark.parametrize("text, shown", [
    ("https://user:pass@host.example/x", f"https://user:{REDACTED}@host.example/x"),
    ("https://user:p@ss:w0rd@host.example", f"https://user:{REDACTED}@host.example"),
    ("https://ghp_abc123@github.com/org/repo", f"https://{REDACTED}@github.com/org/repo"),
    ("see https://a:b@h.example and http://c:d@i.example/", f"see https://a:{REDACTED}@h.example and "
                                                            f"http://c:{REDACTED}@i.example/"),
    ("https://h.example/hook?api_key=abc&order=1", f"https://h.example/hook?api_key={REDACTED}&order=1"),
    ("https://h.example/?Token=abc;x=1&password=p#frag", f"https://h.example/?Token={REDACTED};x=1&password={REDACTED}#frag"),
    ("https://h.example/?token_type=Bearer&expires_in=3600", "https://h.example/?token_type=Bearer&expires_in=3600"),
    ("https://h.example/checkout/0b7c", "https://h.example/checkout/0b7c"),
    ("mail me at ann@example.com", "mail me at ann@example.com"),
    ("QUJDRA==", "QUJDRA=="),
])
def test_credentials_in_urls_and_query_parameters(text: str, shown: str) -> None:
    assert redact({"webhook_url": text, "list": [text]}) == {"webhook_url": shown, "list": [shown]}


def test_raw_bodies_kept_as_text_are_redacted_in_the_text() -> None:
    raw = '{"token_type":"Bearer","access_token":"eyJ.abc","nested":{"client_secret":"cs"},"n":' + "[" * 40
    redacted = redact({"body": {jsonutil.UNPARSED: raw, "reason": "too deep"}})["body"][jsonutil.UNPARSED]
    assert "eyJ.abc" not in redacted and '"cs"' not in redacted
    assert redacted.startswith(f'{{"token_type":"Bearer","access_token":"{REDACTED}"')
    not_utf8 = b'{"access_token":"tok-123","note":"\xff"}'
    marker = {jsonutil.UNPARSED_BASE64: base64.b64encode(not_utf8).decode(), "reason": "not UTF-8"}
    kept = base64.b64decode(redact({"body": marker})["body"][jsonutil.UNPARSED_BASE64])
    assert kept == b'{"access_token":"' + REDACTED.encode() + b'","note":"\xff"}'  # the rest byte for byte


def test_no_secret_reaches_the_disk_whatever_it_is_called(tmp_path: Path, sandbox: SandboxServer) -> None:
    values = {name: secrets.token_hex(12) for name in ("X-Api-Key", "Proxy-Authorization", "X-Auth-Token")}
    password = secrets.token_hex(12)
    env = Environment("sandbox", f"{sandbox.base_url}/v1", Credentials("sandbox", "sandbox"))
    log = CallLog(tmp_path / "ops.db")
    client = Client(env, operator="ann", log=log, headers=values)
    client.create_session({"transaction": {"order_id": "ord-red", "amount": Decimal("1.00"), "currency": "gbp"},
                           "webhook_url": f"https://shop:{password}@shop.example/hook?api_key={password}"})
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("ops.db*"))
    assert b"X-Api-Key" in raw  # the entries are there …
    for secret in values.values():
        assert secret.encode() not in raw  # … the header secrets are nowhere in the files
    # The webhook URL's password is in every log entry's place redacted; the registry keeps the
    # session's parameters as sent (a recreate must send them again), not the log.
    details = [e["detail"] for e in (log.entry(s) for s in range(1, log.count() + 1))]
    text = jsonutil.dumps(details)
    assert "shop.example" in text and password not in text
    assert f"https://shop:{REDACTED}@shop.example/hook?api_key={REDACTED}" in text
    assert log.verify().ok
