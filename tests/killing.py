"""Killing the console mid-call, for tests: the request really reaches the API, then the process "dies".

``SystemExit`` is not a ``requests`` error, so nothing after the HTTP call runs: no result entry,
exactly as after a crash, a deploy or a power cut.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from lib.api.client import Client, Transport
from lib.calllog.log import CallLog
from lib.fields.validation import SessionRequest
from lib.sessions.service import SessionsService

OPERATOR = "ann@example.com"


class Killed(SystemExit):
    """The process dying after the API acted."""


class _SendThenDie:
    def __init__(self, http: Transport) -> None:
        self.http = http

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.http.request(*args, **kwargs)  # the API receives and acts on it …
        raise Killed(137)  # … and the console never writes the result


def killed_client(console: SessionsService, operator: str = OPERATOR) -> Client:
    """A sandbox client of ``console`` whose next call is sent and then killed."""
    client = console.client("sandbox", operator)
    client.login()  # the token is cached: the next request is the call itself
    client.http = _SendThenDie(client.http)
    return client


def backdated_kill(db_path: Path, sandbox_url: str, *, session_id: str | None = None,
                   order_id: str = "ord-page") -> None:
    """A killed create for ``order_id`` (or update of ``session_id`` to 30.00) whose request entry
    is 10 minutes old: long past any answer deadline."""
    old = SessionsService(sandbox_base_url=sandbox_url, db_path=db_path)
    old.log = CallLog(db_path, clock=lambda: datetime.now(UTC) - timedelta(minutes=10))
    client = killed_client(old)
    try:
        if session_id:
            client.update_session(session_id, {"transaction": {"amount": Decimal("30.00")}})
        else:
            client.create_session(SessionRequest.parse(
                {"transaction": {"order_id": order_id, "amount": Decimal("10.00"), "currency": "gbp"}}))
    except Killed:
        return
    raise AssertionError("the call was not killed")
