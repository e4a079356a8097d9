"""Helpers for the browser tests: a real ``streamlit run app.py`` and Debian's chromium via Playwright.

Facts these rely on are in shared/streamlit-notes.md (launch args, how to wait for a run, the
``pages/`` quirk: request a page URL first on a fresh server). Never ``playwright install``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from tests.net import free_port

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
RUN_TIMEOUT_MS = 15_000


def require_chromium() -> Path:
    """Debian's chromium, else skip with the reason; under ``CI=true`` a missing browser FAILS."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} not found: run `make browser` (apt-get install chromium); never `playwright install`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def require_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the dev requirements install it
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and playwright is not importable: {exc}", pytrace=False)
        pytest.skip(f"playwright is not importable: {exc}")


@dataclass
class AppServer:
    """One ``streamlit run app.py`` started by the test, stopped by its own PID."""

    process: subprocess.Popen[bytes]
    port: int
    sandbox_port: int
    log_path: Path
    _log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def work(self) -> Path:
        """The private folder of this run (its databases and the server's log)."""
        return self.log_path.parent

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).text.strip() == "ok":
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"streamlit not healthy after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to this PID only, SIGKILL to the same PID if it does not finish in time."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(STOP_TIMEOUT_S)
        finally:
            self._log.close()


def app_environment(work: Path, sandbox_port: int, operator: str) -> dict[str, str]:
    """A clean world: private databases, no secrets file, a known operator, a private sandbox port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACQUIRED_", "OPS_", "SANDBOX_"))}
    env.update({
        "OPS_DB_PATH": str(work / "ops.db"),
        "SANDBOX_DB_PATH": str(work / "sandbox.db"),
        "SANDBOX_PORT": str(sandbox_port),
        "OPS_OPERATOR": operator,
        "OPS_SECRETS_PATH": str(work / "no-secrets.toml"),  # does not exist: only the sandbox is offered
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


@contextmanager
def streamlit_app(work: Path, *, operator: str = "e2e@example.com", extra_env: Mapping[str, str] | None = None,
                  script: str = "app.py", port: int | None = None) -> Iterator[AppServer]:
    """Start ``streamlit run <script>`` on free ports (or ``port``, when its URL must be known first, as
    a sign-in's redirect_uri), wait for ``/_stcore/health``, always stop it."""
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    sandbox_port = free_port()
    while sandbox_port == port:
        sandbox_port = free_port()
    env = app_environment(work, sandbox_port, operator) | dict(extra_env or {})
    log_path = work / "streamlit.log"
    log = log_path.open("wb")
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    process = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    server = AppServer(process, port, sandbox_port, log_path, log)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@contextmanager
def browser_app(work: Path, *, operator: str, log_name: str) -> Iterator[AppServer]:
    """A browser test module's server: skipped (or failed under CI=true) without Playwright or
    chromium, and its log kept under ``log_name`` whatever happens."""
    require_playwright()
    require_chromium()
    with streamlit_app(work, operator=operator) as server:
        try:
            yield server
        finally:
            save_log(server, log_name)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (skip or, under CI=true, fail when it is missing)."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(browser: Any, *, viewport: Mapping[str, int] | None = None,
             timezone_id: str = "Europe/London") -> Iterator[Any]:
    """A fresh context (own cookies, own Streamlit session) and page; closed afterwards."""
    context = browser.new_context(viewport=dict(viewport or {"width": 1400, "height": 1000}),
                                  timezone_id=timezone_id, locale="en-GB")
    context.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@contextmanager
def chromium_page(**options: Any) -> Iterator[Any]:
    """One browser and one page, for a quick script."""
    with chromium() as browser, new_page(browser, **options) as page:
        yield page


def wait_for_run(page: Any, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait for Streamlit to finish the run an action started (shared/streamlit-notes.md).

    Sleep ~250 ms so the run has begun, then CONNECTED, then notRunning, then no skeleton. A
    ticking fragment flips the script state to running every second: assertions after this
    should still use ``expect(...)`` (it retries) rather than one-off reads.
    """
    page.wait_for_timeout(250)
    page.locator("[data-testid=stApp][data-test-connection-state=CONNECTED]").wait_for(timeout=timeout_ms)
    page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for(timeout=timeout_ms)
    page.locator("[data-testid=stSkeleton]").first.wait_for(state="detached", timeout=timeout_ms)


def goto(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_run(page)


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under tests/artifacts/ (git-ignored); never fails the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    except Exception as exc:  # noqa: BLE001 - a screenshot is evidence, not a check
        print(f"screenshot {name} failed: {exc}")
    return path


def clear_failure_shots() -> None:
    """Screenshots of an earlier failed run would mislead: remove them before a new run."""
    for old in ARTIFACTS.glob("FAILED-*.png"):
        old.unlink(missing_ok=True)


def save_log(server: AppServer, name: str = "streamlit") -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        shutil.copyfile(server.log_path, ARTIFACTS / f"{name}.log")


def mmss_seconds(text: str) -> int:
    """``09:58`` → 598, ``1:02:03`` → 3723 (the countdown formats of lib.sessions.countdown)."""
    parts = [int(p) for p in text.strip().split(":")]
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


def records(grid: Any) -> list[dict[str, str]]:
    """The rows of a dataframe (those drawn: a long grid draws the ones in view), as {column header: cell text}."""
    rows: list[dict[str, str]] = grid.evaluate("""el => {
        const table = el.querySelector("table[role=grid]");
        const names = {};
        table.querySelectorAll("[role=columnheader]").forEach(th => {
            names[th.getAttribute("aria-colindex")] = th.textContent.trim(); });
        return [...table.querySelectorAll("tbody [role=row]")].map(tr => Object.fromEntries(
            [...tr.querySelectorAll("[role=gridcell]")]
                .filter(td => names[td.getAttribute("aria-colindex")])
                .map(td => [names[td.getAttribute("aria-colindex")], td.textContent.trim()])));
    }""")
    return rows
