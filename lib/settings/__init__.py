"""Environments, credentials and settings: from `.streamlit/secrets.toml` or the environment.

Credentials never live in code. Real Acquired environments are opt-in: they appear only when
their credentials are configured. Environment variables win over the secrets file, so CI and a
shell can override one value without editing it. Streamlit is not imported: the file is read
with ``tomllib`` so the engine, the sandbox and the CLI see the same settings as the pages.
"""
from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.fields.schema import leaves

REPO_ROOT = Path(__file__).resolve().parents[2]

SANDBOX = "sandbox"
ACQUIRED_TEST = "acquired-test"
ACQUIRED_LIVE = "acquired-live"
ENVIRONMENTS = (SANDBOX, ACQUIRED_TEST, ACQUIRED_LIVE)
SESSION_TTL_SECONDS = 600

# docs/contract.md, "Environments and sign-in": what is known of each environment before configuration.
_KNOWN: dict[str, dict[str, Any]] = {
    SANDBOX: {"api_base": None, "checkout_url_template": "{sandbox_base}/checkout/{session_id}", "live": False},
    ACQUIRED_TEST: {"api_base": "https://test-api.acquired.com/v1", "checkout_url_template": None, "live": False},
    ACQUIRED_LIVE: {"api_base": "https://api.acquired.com/v1", "checkout_url_template": None, "live": True},
}
_CREDENTIAL_KEYS = ("app_id", "app_key", "company_id", "mid")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names what to set and where."""


@dataclass(frozen=True)
class Credentials:
    app_id: str
    app_key: str = field(repr=False)
    company_id: str | None = None
    mid: str | None = None


@dataclass(frozen=True)
class Environment:
    """One API environment as the client needs it."""

    name: str
    api_base: str
    credentials: Credentials
    live: bool = False
    checkout_url_template: str | None = None
    session_ttl_seconds: int = SESSION_TTL_SECONDS
    connect_timeout: float = 3.05
    read_timeout: float = 30.0


DEFAULT_OPS_DB = REPO_ROOT / "data" / "ops.db"
DEFAULT_SANDBOX_DB = REPO_ROOT / "data" / "sandbox.db"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another's lock


def ops_db_path() -> Path:
    """The console's database (call log, registry, QA runs): ``$OPS_DB_PATH``, else data/ops.db.

    Read on each call, so a test or a second console points it elsewhere without a restart."""
    return Path(os.environ.get("OPS_DB_PATH") or DEFAULT_OPS_DB)


def checkpoint_path(db_path: Path) -> Path:
    """Where the log's checkpoints go: ``$OPS_CHECKPOINT_PATH``, else beside the database."""
    return Path(os.environ.get("OPS_CHECKPOINT_PATH") or f"{db_path}.checkpoints.jsonl")


def sandbox_db_path() -> Path:
    """The local sandbox's own database: ``$SANDBOX_DB_PATH``, else data/sandbox.db."""
    return Path(os.environ.get("SANDBOX_DB_PATH") or DEFAULT_SANDBOX_DB)


def busy_timeout() -> float:
    """``$OPS_BUSY_TIMEOUT_S`` (seconds), else ``BUSY_TIMEOUT_S``; read when a connection opens.

    Past it an append gives up with "database is locked" instead of hanging the page: a click
    should wait for another writer's commit (milliseconds), not for a stuck transaction.
    """
    raw = os.environ.get("OPS_BUSY_TIMEOUT_S")
    try:
        value = float(raw) if raw else BUSY_TIMEOUT_S
    except ValueError:
        raise ValueError(f"OPS_BUSY_TIMEOUT_S must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 3600:
        raise ValueError(f"OPS_BUSY_TIMEOUT_S must be between 0 and 3600 seconds, got {raw!r}")
    return value


def env_prefix(name: str) -> str:
    """`acquired-test` → `ACQUIRED_TEST_`: the environment-variable prefix of an environment."""
    return name.upper().replace("-", "_") + "_"


def secrets_path() -> Path:
    return Path(os.environ.get("OPS_SECRETS_PATH", REPO_ROOT / ".streamlit" / "secrets.toml"))


_parsed: dict[str, tuple[tuple[str, int, int], dict[str, Any]]] = {}


def load_secrets(path: Path | None = None) -> dict[str, Any]:
    """The parsed secrets file, or {} when there is none (the no-credentials default).

    Every page run asks several times (access, environments, form defaults, live limit): the file
    is parsed again only when its stamp (modification time, size) changes. Callers get a copy.
    """
    path = path or secrets_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if _parsed.get(str(path), (None, None))[0] != key:
        try:
            _parsed[str(path)] = (key, tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return copy.deepcopy(_parsed[str(path)][1])


def _section(secrets: Mapping[str, Any], name: str) -> dict[str, Any]:
    return dict(secrets.get("environments", {}).get(name, {}))


def _setting(secrets: Mapping[str, Any], env_name: str, key: str) -> Any:
    """One setting of an environment: its environment variable first, then the secrets file."""
    from_env = os.environ.get(env_prefix(env_name) + key.upper())
    return from_env if from_env not in (None, "") else _section(secrets, env_name).get(key)


def _float(secrets: Mapping[str, Any], env_name: str, key: str, default: float) -> float:
    value = _setting(secrets, env_name, key)
    if value is None:
        value = os.environ.get("OPS_" + key.upper(), secrets.get("client", {}).get(key, default))
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} of {env_name} must be a number of seconds, got {value!r}") from exc
    if number <= 0:
        raise ConfigError(f"{key} of {env_name} must be more than 0 seconds, got {value!r}")
    return number


@dataclass(frozen=True)
class SandboxSettings:
    """The local sandbox's own settings (``SANDBOX_*``); the defaults are the API's own figures."""

    port: int = 8765
    token_ttl_seconds: int = 3600
    session_ttl_seconds: int = SESSION_TTL_SECONDS
    update_extends: bool = False  # an update restarts the session's lifetime (the API's does not)
    tds_timeout_seconds: float = 300.0  # how long a 3-D Secure challenge waits for the customer
    webhook_retry_seconds: float = 300.0  # every 5 minutes …
    webhook_give_up_seconds: float = 1500.0  # … for 25 minutes
    webhook_timeout_seconds: float = 10.0
    webhook_faults: str = ""  # fault switches for tests: missing, late=<s>, twice, wrong-hash


def sandbox_settings() -> SandboxSettings:
    """``SANDBOX_PORT``, ``SANDBOX_TOKEN_TTL_SECONDS``, ``SANDBOX_SESSION_TTL_SECONDS``,
    ``SANDBOX_UPDATE_EXTENDS`` (1), ``SANDBOX_TDS_TIMEOUT_SECONDS``, ``SANDBOX_WEBHOOK_RETRY_SECONDS``,
    ``SANDBOX_WEBHOOK_GIVE_UP_SECONDS``, ``SANDBOX_WEBHOOK_TIMEOUT_SECONDS``, ``SANDBOX_WEBHOOK_FAULTS``."""
    d, env = SandboxSettings(), os.environ

    def number(name: str, default: float) -> float:
        raw = env.get(name, "").strip()
        try:
            return float(raw) if raw else default
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None

    return SandboxSettings(
        port=int(number("SANDBOX_PORT", d.port)), token_ttl_seconds=int(number("SANDBOX_TOKEN_TTL_SECONDS",
                                                                            d.token_ttl_seconds)),
        session_ttl_seconds=int(number("SANDBOX_SESSION_TTL_SECONDS", d.session_ttl_seconds)),
        update_extends=env.get("SANDBOX_UPDATE_EXTENDS", "0") == "1",
        tds_timeout_seconds=number("SANDBOX_TDS_TIMEOUT_SECONDS", d.tds_timeout_seconds),
        webhook_retry_seconds=number("SANDBOX_WEBHOOK_RETRY_SECONDS", d.webhook_retry_seconds),
        webhook_give_up_seconds=number("SANDBOX_WEBHOOK_GIVE_UP_SECONDS", d.webhook_give_up_seconds),
        webhook_timeout_seconds=number("SANDBOX_WEBHOOK_TIMEOUT_SECONDS", d.webhook_timeout_seconds),
        webhook_faults=env.get("SANDBOX_WEBHOOK_FAULTS", ""))


def sandbox_credentials() -> Credentials:
    """The sandbox's own credentials (`SANDBOX_APP_ID` / `SANDBOX_APP_KEY`, default sandbox/sandbox)."""
    return Credentials(os.environ.get("SANDBOX_APP_ID", "sandbox"), os.environ.get("SANDBOX_APP_KEY", "sandbox"))


def is_configured(name: str, secrets: Mapping[str, Any] | None = None) -> bool:
    """A real environment is offered only once its app_id and app_key are set."""
    if name == SANDBOX:
        return True
    secrets = load_secrets() if secrets is None else secrets
    return bool(_setting(secrets, name, "app_id") and _setting(secrets, name, "app_key"))


def configured_environments(secrets: Mapping[str, Any] | None = None) -> list[str]:
    secrets = load_secrets() if secrets is None else secrets
    return [name for name in ENVIRONMENTS if is_configured(name, secrets)]


def environment(name: str, *, sandbox_base_url: str | None = None, secrets: Mapping[str, Any] | None = None) -> Environment:
    """Resolve one environment; a real one without credentials is a ConfigError naming what to set.

    ``sandbox_base_url`` (e.g. ``http://127.0.0.1:8765``) is where the running sandbox answers.
    """
    if name not in _KNOWN:
        raise ConfigError(f"unknown environment {name!r}: choose one of {', '.join(ENVIRONMENTS)}")
    secrets = load_secrets() if secrets is None else secrets
    known = _KNOWN[name]
    connect_timeout = _float(secrets, name, "connect_timeout", 3.05)
    read_timeout = _float(secrets, name, "read_timeout", 30.0)
    if name == SANDBOX:
        if not sandbox_base_url:
            raise ConfigError("the sandbox environment needs the running sandbox's address")
        base = sandbox_base_url.rstrip("/")
        ttl = sandbox_settings().session_ttl_seconds
        return Environment(
            name, f"{base}/v1", sandbox_credentials(), live=False,
            checkout_url_template=str(known["checkout_url_template"]).replace("{sandbox_base}", base),
            session_ttl_seconds=ttl, connect_timeout=connect_timeout, read_timeout=read_timeout,
        )
    values = {key: _setting(secrets, name, key) for key in _CREDENTIAL_KEYS}
    missing = [key for key in ("app_id", "app_key") if not values[key]]
    if missing:
        prefix = env_prefix(name)
        raise ConfigError(
            f"{name} needs {' and '.join(missing)}: set "
            f"{' and '.join(prefix + key.upper() for key in missing)} in the environment, or "
            f"{' and '.join(missing)} under [environments.{name}] in {secrets_path()}"
        )
    return Environment(
        name,
        str(_setting(secrets, name, "api_base") or known["api_base"]).rstrip("/"),
        Credentials(str(values["app_id"]), str(values["app_key"]), values["company_id"] or None, values["mid"] or None),
        live=bool(known["live"]),
        checkout_url_template=_setting(secrets, name, "checkout_url_template") or known["checkout_url_template"],
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )


def form_defaults(secrets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Prefilled values of the New session form, by field path (e.g. the 3-D Secure URLs).

    ``[form_defaults]`` in the secrets file, with quoted dotted keys:
    ``"tds.redirect_url" = "https://shop.example.com/3ds/return"``.
    """
    secrets = load_secrets() if secrets is None else secrets
    known = {leaf.path for leaf in leaves()}
    defaults = dict(secrets.get("form_defaults", {}))
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise ConfigError(f"[form_defaults] names fields that do not exist: {', '.join(unknown)}")
    return defaults


def _calllog_setting(secrets: Mapping[str, Any] | None, key: str) -> str | None:
    """A ``[calllog]`` setting: its ``OPS_<KEY>`` environment variable first, then the secrets file."""
    from_env = os.environ.get("OPS_" + key.upper())
    if from_env:
        return from_env
    secrets = load_secrets() if secrets is None else secrets
    value = secrets.get("calllog", {}).get(key)
    return None if value in (None, "") else str(value)


def checkpoint_key(secrets: Mapping[str, Any] | None = None) -> bytes | None:
    """The key that signs the call log's checkpoints (``OPS_CHECKPOINT_KEY`` or ``[calllog]
    checkpoint_key``), or None when none is configured. It must live outside the database and
    the checkpoint file, which is why it is a secret like the API keys; a short key is refused."""
    from lib.calllog.checkpoints import KEY_MIN_CHARS

    key = _calllog_setting(secrets, "checkpoint_key")
    if key is None:
        return None
    if len(key) < KEY_MIN_CHARS:
        raise ConfigError(
            f"checkpoint_key must be at least {KEY_MIN_CHARS} characters (OPS_CHECKPOINT_KEY or [calllog] "
            f"checkpoint_key in {secrets_path()}); make one with: python -c \"import secrets; "
            "print(secrets.token_hex(32))\"")
    return key.encode("utf-8")


def checkpoint_mirror(secrets: Mapping[str, Any] | None = None) -> str | None:
    """Where checkpoints are written a second time (``OPS_CHECKPOINT_MIRROR`` or ``[calllog]
    checkpoint_mirror``): a file path, or ``-`` for stdout; None for nowhere."""
    return _calllog_setting(secrets, "checkpoint_mirror")


def operator_override() -> str | None:
    """``OPS_OPERATOR``: who the log names as operator in local mode (else the OS user)."""
    return os.environ.get("OPS_OPERATOR", "").strip() or None


def ca_bundle() -> str | bool:
    """The CA bundle HTTPS calls trust: ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` (a corporate
    proxy's), else the system's (True)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


PUBLIC_BASE_ENV = "OPS_PUBLIC_BASE_URL"
WEBHOOK_PATH = "/webhooks/acquired/{environment}"


def public_base_url(secrets: Mapping[str, Any] | None = None) -> str | None:
    """Where Acquired reaches us (``OPS_PUBLIC_BASE_URL`` or ``[console] public_base_url``), or None."""
    from_env = os.environ.get(PUBLIC_BASE_ENV, "").strip()
    if from_env:
        return from_env.rstrip("/")
    secrets = load_secrets() if secrets is None else secrets
    section = secrets.get("console", {})
    value = section.get("public_base_url") if isinstance(section, Mapping) else None
    return str(value).rstrip("/") if value else None


def webhook_url(env_name: str, secrets: Mapping[str, Any] | None = None) -> str | None:
    """The webhook URL of ``env_name``'s sessions: under the public base URL; else, for the sandbox
    only, this machine's server (``STREAMLIT_SERVER_PORT`` or 8501): the local sandbox just works."""
    base = public_base_url(secrets)
    if base is None and env_name != SANDBOX:
        return None
    base = base or f"http://127.0.0.1:{os.environ.get('STREAMLIT_SERVER_PORT') or 8501}"
    return base + WEBHOOK_PATH.replace("{environment}", env_name)


def webhook_key(env_name: str, secrets: Mapping[str, Any] | None = None) -> bytes | None:
    """The key that signs ``env_name``'s webhooks (its ``app_key``), or None for an unknown or
    unconfigured environment (its deliveries are refused)."""
    if env_name == SANDBOX:
        return sandbox_credentials().app_key.encode("utf-8")
    if env_name not in _KNOWN:
        return None
    secrets = load_secrets() if secrets is None else secrets
    if not is_configured(env_name, secrets):
        return None
    return str(_setting(secrets, env_name, "app_key")).encode("utf-8")


RECONCILE_EVERY_S = 30.0  # a payment whose webhook never came is known within a minute of expiry


def reconcile_every_s() -> float:
    """Seconds between the server's sweeps for expired sessions' payments (``OPS_RECONCILE_EVERY_S``,
    30). Each expired session is looked up once, so a short period costs little."""
    return _positive_number("OPS_RECONCILE_EVERY_S", RECONCILE_EVERY_S, "seconds")


def _positive_number(name: str, default: float, unit: str) -> float:
    """The environment variable ``name`` as a number of ``unit`` above 0 (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of {unit}, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0 {unit}, got {raw!r}")
    return value


SIGNIN_IDLE_HOURS = 8.0  # a sign-in unused this long ends: a forgotten browser is not a way in


def signin_idle_hours() -> float:
    """Hours without a page request after which a sign-in ends (``OPS_SIGNIN_IDLE_HOURS``, 8)."""
    return _positive_number("OPS_SIGNIN_IDLE_HOURS", SIGNIN_IDLE_HOURS, "hours")
