"""Login and Bearer tokens (docs/contract.md, "Environments and sign-in"): opaque random tokens, kept only as their SHA-256."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from lib.common.timefmt import utc_now
from lib.fields.validation import InvalidRequest, Problem
from lib.sandbox.responses import JSONBody, error_response
from lib.sandbox.store import SandboxStore

# What the sandbox reads the time from: an aware UTC datetime (tests pass one they move by hand).
Clock = Callable[[], datetime]


def digest(token: str) -> str:
    """What the store keeps instead of the token: a stolen copy of the file logs nobody in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Authenticator:
    """Checks credentials and tokens against one app id/key pair and the store."""

    def __init__(self, store: SandboxStore, app_id: str, app_key: str, token_ttl_seconds: int,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.app_id = app_id
        self.app_key = app_key
        self.ttl = token_ttl_seconds
        self.clock = clock

    def login(self, path: str, body: dict[str, object]) -> JSONBody:
        """``POST /v1/login``: 200 with a fresh token, 400 for a missing field, 401 for wrong ones."""
        problems = [p for p in (_missing(name, body.get(name)) for name in ("app_id", "app_key")) if p]
        if problems:
            raise InvalidRequest(problems)
        # Both compared, in constant time, so a wrong id and a wrong key take equally long.
        ok_id = hmac.compare_digest(str(body["app_id"]).encode(), self.app_id.encode())
        ok_key = hmac.compare_digest(str(body["app_key"]).encode(), self.app_key.encode())
        if not (ok_id and ok_key):
            return error_response(401, path)
        token = secrets.token_urlsafe(32)
        self.store.add_token(digest(token), self.clock(), timedelta(seconds=self.ttl))
        return JSONBody({"token_type": "Bearer", "expires_in": self.ttl, "access_token": token})

    def authorised(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        return scheme.lower() == "bearer" and bool(token) and self.store.token_valid(digest(token), self.clock())


class RequireBearer:
    """ASGI layer in front of the protected ``/v1`` routes: a missing, forged or expired token gets
    the 401 body (docs/contract.md, "Environments and sign-in") naming the path, before any route (even an unknown one) is looked at."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if scope["type"] == "http" and not self.authenticator.authorised(request.headers.get("authorization")):
            await error_response(401, request.url.path)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _missing(name: str, value: object) -> Problem | None:
    if value is None or value == "":
        return Problem(parameter=name, reason=f"{name} can not be empty")
    if not isinstance(value, str):
        return Problem(parameter=name, reason=f"{name} must be a string")
    return None
