"""Shared fixtures."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.calllog.log import CallLog
from lib.sandbox import SandboxServer, ensure_sandbox, serve_in_thread
from lib.sessions.service import SessionsService
from tests.clocks import FakeClock
from tests.generation_support import Hold, holding
from tests.page_support import run

# The browser test modules bring their own ``app``; the browser and page fixtures are shared.
pytest_plugins = ["tests.browser_fixtures"]


MakeSandbox = Callable[..., SandboxServer]


@pytest.fixture(autouse=True, scope="session")
def error_details_shown() -> None:
    """People never see a traceback (.streamlit/config.toml); tests must, to say what broke."""
    from streamlit import config

    config.set_option("client.showErrorDetails", "full")


# The prefixes of every variable the console reads its settings from (lib.settings, lib.sandbox).
SETTINGS_PREFIXES = ("OPS_", "ACQUIRED_", "SANDBOX_")


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set: none of the shell's ``OPS_``/``ACQUIRED_``/``SANDBOX_`` variables
    (a developer's live credentials or limits must not change what a test proves)."""
    for name in [n for n in os.environ if n.startswith(SETTINGS_PREFIXES)]:
        monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    """Clients not handed a ``TokenCache`` (the pages', the services') share the process's
    ``TOKENS``; every test starts and ends with it empty, as a new console process does."""
    from lib.api.tokens import TOKENS
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    """The QA service's background generations held at a step until released (``tests/generation_support.py``)."""
    yield from holding(monkeypatch)


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test calls ``clock.advance``."""
    return FakeClock()


@pytest.fixture
def log_kwargs() -> dict[str, Any]:
    """Keyword arguments of the ``log`` fixture's CallLog; a module overrides this to change them."""
    return {}


@pytest.fixture
def log(tmp_path: Path, log_kwargs: dict[str, Any]) -> CallLog:
    """A call log of its own (ops.db and checkpoints.jsonl in tmp_path)."""
    return CallLog(tmp_path / "ops.db", tmp_path / "checkpoints.jsonl", **log_kwargs)


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[MakeSandbox]:
    """Sandboxes with custom ``create_app`` settings (``clock=...`` among them) on tmp_path's
    sandbox.db, each on a free port; all stopped at the end."""
    started: list[SandboxServer] = []

    def make(**app_kwargs: Any) -> SandboxServer:
        started.append(serve_in_thread(tmp_path / "sandbox.db", **app_kwargs))
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> SandboxServer:
    """A fresh sandbox (default credentials ``sandbox``/``sandbox``) on a free 127.0.0.1 port."""
    return make_sandbox()


@pytest.fixture(scope="session")
def sandbox_port(tmp_path_factory: pytest.TempPathFactory) -> int:
    """One free port for the sandbox the app under test starts (once per test process)."""
    from tests.net import free_port

    return free_port()


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_port: int,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean world for the app: its own log database, no secrets, a known operator, a private sandbox port."""
    monkeypatch.setenv("OPS_DB_PATH", str(tmp_path / "ops.db"))
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "secrets.toml"))
    monkeypatch.setenv("OPS_OPERATOR", "tester@example.com")
    monkeypatch.setenv("SANDBOX_PORT", str(sandbox_port))
    monkeypatch.setenv("SANDBOX_DB_PATH", str(tmp_path_factory.getbasetemp() / "app-sandbox.db"))
    return tmp_path


REPO = Path(__file__).resolve().parent.parent

# One signed-in person per role, and one without any, as [access] in ``signed_in`` grants them.
USERS = {"finance": "fin@example.com", "qa": "tess@qa.example.com", "auditor": "aud@example.com",
         "admin": "admin@example.com", None: "nobody@example.com"}
# The roles of USERS as the secrets file grants them (every test that signs people in uses it).
ACCESS_SECRETS = """
[access]
finance = ["fin@example.com"]
qa = ["*@qa.example.com"]
auditor = ["aud@example.com"]
admin = ["admin@example.com"]
contact = "ops-admins@example.com"
"""
AUTH_SECRETS = """
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-test-cookie-secret-not-used-for-anything"
client_id = "ops-console-test"
client_secret = "not-a-secret"
# Nothing listens here: sign-in is never completed in tests (AppTest's at.user stands for it).
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
""" + ACCESS_SECRETS


ConfigureEnvironment = Callable[..., None]


@pytest.fixture
def configure_environment(monkeypatch: pytest.MonkeyPatch) -> ConfigureEnvironment:
    """Configure ``acquired-test`` or ``acquired-live`` as a deployment does, through its
    ``ACQUIRED_*_APP_ID/_APP_KEY`` variables, and ``_API_BASE`` when given (a test sandbox's)."""

    def configure(name: str, *, app_id: str = "sandbox", app_key: str = "sandbox", api_base: str | None = None) -> None:
        prefix = name.upper().replace("-", "_")
        monkeypatch.setenv(f"{prefix}_APP_ID", app_id)
        monkeypatch.setenv(f"{prefix}_APP_KEY", app_key)
        if api_base is not None:
            monkeypatch.setenv(f"{prefix}_API_BASE", api_base)

    return configure


@pytest.fixture
def console(sandbox: SandboxServer, app_env: Path) -> SessionsService:
    """A console on a sandbox of its own and the app's database (app_env: no secrets, a known operator)."""
    return SessionsService(sandbox_base_url=sandbox.base_url, db_path=app_env / "ops.db")


@pytest.fixture
def app_console(app_env: Path) -> SessionsService:
    """A console on the app's database and the sandbox the pages use (``ensure_sandbox``)."""
    return SessionsService(sandbox_base_url=ensure_sandbox().base_url, db_path=app_env / "ops.db")


@pytest.fixture
def signed_in(app_env: Path) -> dict[str | None, str]:
    """[auth] and [access] configured (OPS_SECRETS_PATH, which lib.access.policy reads); returns role → e-mail.

    ``st.login`` itself is never reached: under AppTest ``at.user`` is the signed-in person."""
    (app_env / "secrets.toml").write_text(AUTH_SECRETS)
    return USERS


TEST_ISSUER = "https://idp.example.com"


def id_token_claims(email: str | None, **claims: object) -> dict[str, object]:
    """What ``st.user`` holds after a sign-in: the ID token's claims (a verified ``email`` by default)."""
    base: dict[str, object] = {"is_logged_in": True, "iss": TEST_ISSUER, "sub": f"sub-{email}", "iat": 1_790_000_000,
                               "nonce": "n-0", "email": email, "email_verified": True}
    return {k: v for k, v in (base | claims).items() if v is not None}


def signed_in_as(at, email: str | None, **claims: object) -> None:  # type: ignore[no-untyped-def]
    """Make ``at`` run as ``email`` signed in with a verified e-mail, ``claims`` changing the ID
    token's (None: logged out)."""
    at.user = id_token_claims(email, **claims) if email or claims else {"is_logged_in": False}


@pytest.fixture
def open_page(app_env: Path):  # type: ignore[no-untyped-def]
    """Open a page the way a person does: app.py routes, then the page runs (query params allowed).

    ``user`` signs that e-mail in (with the ``signed_in`` fixture's secrets)."""
    from streamlit.testing.v1 import AppTest

    def _open(page: str | None = None, *, user: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
        if user:
            signed_in_as(at, user)
        run(at, **query)
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open
