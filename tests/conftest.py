"""Shared fixtures."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.sandbox import SandboxServer, serve_in_thread


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """A fresh sandbox (default credentials ``sandbox``/``sandbox``) on a free 127.0.0.1 port."""
    server = serve_in_thread(tmp_path / "sandbox.db")
    yield server
    server.stop()
