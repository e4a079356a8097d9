"""A provider's refusal at ``/oauth2callback``, recorded and said, instead of a silent loop.

Streamlit answers a callback carrying ``error`` (the provider refused the sign-in: a ``prompt``
value it does not support, a denied consent, …) with a redirect to the console and one server-log
line, so the person just sees the Sign in prompt again. This ASGI middleware, placed before
Streamlit's routes, records the refusal in the call log and sends the person to the console with
``?sign_in_failed=<error code>``, which the Sign in page explains. Successful callbacks pass through.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

CALLBACK_PATH = "/oauth2callback"
FAILED_PARAM = "sign_in_failed"  # the query parameter the Sign in page reads
_CODE = re.compile(r"[^a-z0-9_.-]")
_LOGGER = logging.getLogger(__name__)


def error_code(raw: str) -> str:
    """The provider's ``error`` as a short code safe in a URL and a log (OAuth codes are ``[a-z_]``)."""
    return _CODE.sub("", raw.strip().lower())[:60] or "unknown"


class SignInErrors:
    """ASGI middleware: ``record(code, description)`` then a redirect to ``/?sign_in_failed=code``."""

    def __init__(self, app: ASGIApp, /, *, record: Callable[[str, str | None], object]) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).endswith(CALLBACK_PATH):
            query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
            if query.get("error"):
                code = error_code(query["error"][0])
                descriptions = query.get("error_description") or [""]
                try:
                    await run_in_threadpool(self.record, code, descriptions[0][:500] or None)
                except Exception:  # the refusal already happened: say it even if the log cannot take it
                    _LOGGER.exception("could not record the provider's refusal %s", code)
                base = str(scope.get("path", ""))[: -len(CALLBACK_PATH)] or ""
                location = f"{base}/?{urlencode({FAILED_PARAM: code})}"
                await send({"type": "http.response.start", "status": 302,
                            "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
