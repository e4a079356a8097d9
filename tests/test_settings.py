"""Environments, credentials and the operator's identity."""
from __future__ import annotations

from pathlib import Path

import pytest

from lib import settings
from lib.access.operator_name import local_operator
from lib.settings import ConfigError


@pytest.fixture(autouse=True)
def secrets_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The secrets file every test here reads (not there until a test writes it); conftest clears the environment."""
    secrets = tmp_path / "secrets.toml"
    monkeypatch.setenv("OPS_SECRETS_PATH", str(secrets))
    return secrets


def test_only_the_sandbox_without_configuration() -> None:
    assert settings.configured_environments() == ["sandbox"]
    env = settings.environment("sandbox", sandbox_base_url="http://127.0.0.1:9999/")
    assert env.api_base == "http://127.0.0.1:9999/v1"
    assert env.checkout_url_template == "http://127.0.0.1:9999/checkout/{session_id}"
    assert env.session_ttl_seconds == 600 and not env.live


def test_missing_credentials_name_what_to_set_and_where(secrets_file: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.environment("acquired-test")
    message = str(caught.value)
    assert "ACQUIRED_TEST_APP_ID and ACQUIRED_TEST_APP_KEY" in message
    assert "[environments.acquired-test]" in message and str(secrets_file) in message


def test_credentials_from_the_secrets_file(secrets_file: Path) -> None:
    secrets_file.write_text(
        '[environments.acquired-live]\napp_id = "id-1"\napp_key = "k"\nmid = "m-1"\n'
        'checkout_url_template = "https://shop.example.com/pay/{session_id}"\nread_timeout = 12\n')
    assert settings.configured_environments() == ["sandbox", "acquired-live"]
    env = settings.environment("acquired-live")
    assert env.api_base == "https://api.acquired.com/v1" and env.live
    assert (env.credentials.app_id, env.credentials.mid, env.read_timeout) == ("id-1", "m-1", 12.0)
    assert "k" not in repr(env.credentials)


def test_environment_variables_win(monkeypatch: pytest.MonkeyPatch, secrets_file: Path) -> None:
    secrets_file.write_text('[environments.acquired-test]\napp_id = "file"\napp_key = "file"\n')
    monkeypatch.setenv("ACQUIRED_TEST_APP_ID", "env")
    assert settings.environment("acquired-test").credentials.app_id == "env"
    assert settings.environment("acquired-test").api_base == "https://test-api.acquired.com/v1"


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch, secrets_file: Path) -> None:
    monkeypatch.setenv("OPS_READ_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="read_timeout of sandbox must be a number"):
        settings.environment("sandbox", sandbox_base_url="http://x")
    secrets_file.write_text("[broken")
    monkeypatch.delenv("OPS_READ_TIMEOUT")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings.load_secrets()
    with pytest.raises(ConfigError, match="unknown environment"):
        settings.environment("prod", secrets={})


def test_the_local_operator_is_never_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_OPERATOR", "finance-desk")
    assert local_operator() == "finance-desk"
    monkeypatch.delenv("OPS_OPERATOR")
    assert local_operator()  # the OS user


def test_the_secrets_file_is_parsed_again_only_when_it_changes(secrets_file: Path) -> None:
    secrets_file.write_text('[environments.acquired-test]\napp_id = "a"\napp_key = "k"\n')
    first = settings.load_secrets()
    first["environments"]["acquired-test"]["app_id"] = "changed by a caller"  # callers get a copy
    assert settings.load_secrets()["environments"]["acquired-test"]["app_id"] == "a"
    secrets_file.write_text('[environments.acquired-test]\napp_id = "bb"\napp_key = "k"\n')
    assert settings.load_secrets()["environments"]["acquired-test"]["app_id"] == "bb"
    secrets_file.unlink()
    assert settings.load_secrets() == {}


def test_databases_default_to_the_repository_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`make run` on a fresh clone keeps its records in data/, beside the code (not inside lib/)."""
    repo = Path(__file__).resolve().parent.parent
    monkeypatch.delenv("OPS_DB_PATH", raising=False)
    monkeypatch.delenv("SANDBOX_DB_PATH", raising=False)
    assert settings.ops_db_path() == repo / "data" / "ops.db"
    assert settings.sandbox_db_path() == repo / "data" / "sandbox.db"
    monkeypatch.setenv("OPS_DB_PATH", str(tmp_path / "elsewhere.db"))
    assert settings.ops_db_path() == tmp_path / "elsewhere.db"


@pytest.mark.parametrize("raw", ["soon", "-1", "3601"])
def test_a_bad_busy_timeout_is_named(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("OPS_BUSY_TIMEOUT_S", raw)
    with pytest.raises(ValueError, match="OPS_BUSY_TIMEOUT_S must be"):
        settings.busy_timeout()


def test_a_lost_webhook_is_looked_for_within_a_minute_of_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_RECONCILE_EVERY_S", raising=False)
    assert settings.reconcile_every_s() <= 60
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv("OPS_RECONCILE_EVERY_S", bad)
        with pytest.raises(ConfigError, match="OPS_RECONCILE_EVERY_S"):
            settings.reconcile_every_s()
