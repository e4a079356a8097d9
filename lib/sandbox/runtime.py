"""Running the sandbox beside the console: uvicorn in a daemon thread, or one already running.

Shape: we bind the socket ourselves (port 0 = a free port, and
the real port is known before the thread starts), the thread is a daemon (a non-daemon thread
makes Streamlit hang on exit), we wait for ``server.started``, and ``atexit`` stops it cleanly.
"""
from __future__ import annotations

import atexit
import errno
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests
import uvicorn
from starlette.types import ASGIApp

from lib import settings
from lib.sandbox.app import SERVICE, create_app
from lib.sandbox.webhooks import WebhookFaults, WebhookSettings
from lib.settings import sandbox_credentials
from lib.storage.db import close_thread_connections

START_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 1.0


def uvicorn_config(app: ASGIApp, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn setup: h11 (whose request cycle exposes the transport that fault ``drop``
    closes), quiet logs, no lifespan (the app has none)."""
    options: dict[str, Any] = {"http": "h11", "lifespan": "off", "log_level": "warning", "access_log": False,
                               "timeout_graceful_shutdown": 3}
    return uvicorn.Config(app, **(options | overrides))


def app_kwargs_from_env() -> dict[str, Any]:
    """``create_app`` keyword arguments from the sandbox's settings (``lib.settings``)."""
    credentials = sandbox_credentials()  # the same place the client reads them from
    s = settings.sandbox_settings()
    return {
        "app_id": credentials.app_id,
        "app_key": credentials.app_key,
        "token_ttl_seconds": s.token_ttl_seconds,
        "session_ttl_seconds": s.session_ttl_seconds,
        "update_extends": s.update_extends,
        "tds_timeout_seconds": s.tds_timeout_seconds,
        "webhooks": WebhookSettings(retry_seconds=s.webhook_retry_seconds, give_up_seconds=s.webhook_give_up_seconds,
                                    timeout_seconds=s.webhook_timeout_seconds,
                                    faults=WebhookFaults.parse(s.webhook_faults)),
    }


def port_from_env() -> int:
    return settings.sandbox_settings().port


class SandboxServer:
    """A sandbox this process runs in a daemon thread."""

    started_here: Literal[True] = True

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int,
                 app: ASGIApp | None = None) -> None:
        self._server = server
        self._thread = thread
        self.app = app
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._server.should_exit

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to finish (in-flight requests get a few seconds) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        webhooks = getattr(getattr(self.app, "state", None), "webhooks", None)
        if webhooks is not None:
            webhooks.stop()
        atexit.unregister(self.stop)


@dataclass(frozen=True)
class ExternalSandbox:
    """A sandbox someone else started (another process or an earlier ``serve_in_thread``)."""

    base_url: str
    started_here: Literal[False] = False

    @property
    def running(self) -> bool:
        return is_sandbox(self.base_url)


Sandbox = SandboxServer | ExternalSandbox


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port``; OSError (e.g. EADDRINUSE) if it is taken.

    proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve_in_thread(db_path: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                    **app_kwargs: Any) -> SandboxServer:
    """Start the sandbox on ``host:port`` (0 = a free port) and return once it accepts requests.

    OSError (e.g. EADDRINUSE) comes from binding, before any thread starts.
    """
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    app = create_app(db_path, **app_kwargs)
    server = uvicorn.Server(uvicorn_config(app))
    thread = threading.Thread(target=_run, args=(server, sock), name=f"acquired-sandbox:{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()
        raise RuntimeError(f"the sandbox did not start on {host}:{bound_port}")
    sandbox = SandboxServer(server, thread, host, bound_port, app)
    atexit.register(sandbox.stop)
    return sandbox


def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        close_thread_connections()


def is_sandbox(base_url: str) -> bool:
    """Whether ``base_url`` answers ``/sandbox/info`` as our sandbox."""
    try:
        reply = requests.get(f"{base_url}/sandbox/info", timeout=PROBE_TIMEOUT_S)
        return reply.ok and reply.json().get("service") == SERVICE
    except (requests.RequestException, ValueError, AttributeError):
        return False


class Sandboxes:
    """The sandboxes a process found or started, by port: each started at most once and reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_port: dict[int, Sandbox] = {}

    def ensure(self, port: int, db_path: Path) -> Sandbox:
        with self._lock:
            known = self._by_port.get(port)
            if known is not None and known.running:
                return known
            self._by_port[port] = sandbox = _reuse_or_start(port, db_path)
            return sandbox

    def stop_started(self) -> None:
        """Stop the sandboxes started here and forget them all."""
        with self._lock:
            known, self._by_port = list(self._by_port.values()), {}
        for sandbox in known:
            if isinstance(sandbox, SandboxServer):
                sandbox.stop()


# The process's sandboxes: every console tab reaches the same one.
SANDBOXES = Sandboxes()


def ensure_sandbox(port: int | None = None, db_path: str | Path | None = None, *,
                   sandboxes: Sandboxes = SANDBOXES) -> Sandbox:
    """The sandbox for this process, started at most once (per port) and reused on every call.

    A sandbox already answering on ``port`` (default ``SANDBOX_PORT``, 8765) is reused, e.g. one
    another Streamlit process started; otherwise one starts here on that port, or on a free port
    when something that is not our sandbox holds it. Settings come from ``SANDBOX_*``.
    ``sandboxes`` remembers them (by default the process's ``SANDBOXES``).
    """
    port = port_from_env() if port is None else port
    return sandboxes.ensure(port, Path(db_path) if db_path else settings.sandbox_db_path())


def _reuse_or_start(port: int, db_path: Path) -> Sandbox:
    base_url = f"http://127.0.0.1:{port}"
    if is_sandbox(base_url):
        return ExternalSandbox(base_url)
    try:
        return serve_in_thread(db_path, port=port, **app_kwargs_from_env())
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
    # Someone took the port between the probe and the bind: a sandbox racing us, or a stranger.
    if is_sandbox(base_url):
        return ExternalSandbox(base_url)
    return serve_in_thread(db_path, port=0, **app_kwargs_from_env())
