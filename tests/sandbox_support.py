"""Talking to a test sandbox as the console's client does, shared by the client-level tests."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from lib.sandbox import SandboxServer
from lib.sessions.recorder import RegistryRecorder
from lib.settings import Credentials, Environment

RECORDER = RegistryRecorder()  # what the sessions service hands the client: sessions go into the registry


def order(order_id: str = "ord-1", amount: str = "15.02", currency: str = "gbp") -> dict[str, Any]:
    """The smallest create body: one transaction, its amount an exact Decimal."""
    return {"transaction": {"order_id": order_id, "amount": Decimal(amount), "currency": currency}}


def sandbox_env(base_url: str, *, app_key: str = "sandbox", ttl: int = 600, read_timeout: float = 10.0) -> Environment:
    """The ``sandbox`` environment at ``base_url`` (checkout links included), with timeouts a test can afford."""
    return Environment("sandbox", f"{base_url}/v1", Credentials("sandbox", app_key),
                       checkout_url_template=f"{base_url}/checkout/{{session_id}}", session_ttl_seconds=ttl,
                       connect_timeout=2.0, read_timeout=read_timeout)


def sessions_for(sandbox: SandboxServer, order_id: str) -> list[dict[str, Any]]:
    """What the sandbox holds for ``order_id`` (``/sandbox/sessions``), newest first; [] when refused."""
    found = requests.get(f"{sandbox.base_url}/sandbox/sessions", params={"order_id": order_id}, timeout=5)
    return list(found.json()["sessions"]) if found.ok else []
