"""Which key verifies an environment's webhooks, and which URL its sessions carry (lib.settings)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lib import settings


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "secrets.toml"))
    for name in ("SANDBOX_APP_KEY", "OPS_PUBLIC_BASE_URL", "STREAMLIT_SERVER_PORT", "ACQUIRED_TEST_APP_ID",
                 "ACQUIRED_TEST_APP_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_each_environment_is_verified_with_its_own_app_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.webhook_key("sandbox") == b"sandbox"
    monkeypatch.setenv("SANDBOX_APP_KEY", "local-key")
    assert settings.webhook_key("sandbox") == b"local-key"
    assert settings.webhook_key("acquired-test") is None  # not configured: its deliveries are refused
    monkeypatch.setenv("ACQUIRED_TEST_APP_ID", "id")
    monkeypatch.setenv("ACQUIRED_TEST_APP_KEY", "test-key")
    assert settings.webhook_key("acquired-test") == b"test-key"
    assert settings.webhook_key("nowhere") is None and settings.webhook_key("acquired-live") is None


def test_the_webhook_url_follows_the_public_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.webhook_url("sandbox") == "http://127.0.0.1:8501/webhooks/acquired/sandbox"
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "9000")
    assert settings.webhook_url("sandbox") == "http://127.0.0.1:9000/webhooks/acquired/sandbox"
    assert settings.webhook_url("acquired-test") is None  # a real API could not reach this machine
    (tmp_path / "secrets.toml").write_text('[console]\npublic_base_url = "https://ops.example.com/"\n')
    assert settings.webhook_url("acquired-test") == "https://ops.example.com/webhooks/acquired/acquired-test"
    monkeypatch.setenv("OPS_PUBLIC_BASE_URL", "https://other.example.com")
    assert settings.webhook_url("sandbox") == "https://other.example.com/webhooks/acquired/sandbox"
