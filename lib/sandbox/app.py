"""The sandbox's HTTP application: the ``/v1`` API, read-only ``/sandbox`` views and the checkout page.

Handlers call the SQLite store directly on the event loop: every call is a local write or read of
well under a millisecond, and with no ``await`` between a PUT's read and its write, one thread per
server makes that read-merge-write atomic against other requests without a lock.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from lib.common.jsonutil import BODY_MAX_DEPTH, LoneSurrogate, TooDeep, dumps, inexact_numbers, loads
from lib.common.timefmt import utc_now
from lib.fields.validation import BODY_NOT_OBJECT, InvalidRequest, Problem, validate_create, validate_update
from lib.sandbox.auth import Authenticator, Clock, RequireBearer
from lib.sandbox.faults import FaultInjector, Sleep
from lib.sandbox.pay_routes import LinkGone, PayContext, checkout_routes, gone_page, sandbox_routes, transaction_routes
from lib.sandbox.payments import Payments
from lib.sandbox.responses import JSONBody, error_response, validation_response
from lib.sandbox.store import SandboxStore
from lib.sandbox.webhooks import Webhooks, WebhookSettings

VERSION = "1.0"
SERVICE = "acquired-sandbox"
BODY_NOT_JSON = Problem(parameter="body", reason="body is not valid JSON")
BODY_TOO_DEEP = Problem(parameter="body", reason=f"body is nested more than {BODY_MAX_DEPTH} levels deep")
BODY_NOT_UNICODE = Problem(parameter="body", reason="body has a lone surrogate escape, which is not valid Unicode text")
# The largest request body read (1 MiB: a session is a few kilobytes); a larger one is a 413 before
# it is parsed, which also bounds every string no schema rule limits (custom_data).
MAX_BODY_BYTES = 1 << 20


class BodyTooLarge(Exception):
    """A request body over ``MAX_BODY_BYTES`` (answered 413 with the standard error body, naming the limit)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` (a declared
    Content-Length first, then the bytes as they stream in), so a huge body is never held."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class SandboxApp(Starlette):
    """Starlette with the fault injector outside everything, Starlette's error layer included,
    so it receives the server's own ``send`` (see :mod:`lib.sandbox.faults`)."""

    def __init__(self, *args: Any, fault_sleep: Sleep = asyncio.sleep, **kwargs: Any) -> None:
        self.fault_sleep = fault_sleep  # read by build_middleware_stack, which Starlette calls lazily
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return FaultInjector(super().build_middleware_stack(), self.fault_sleep)


def create_app(db_path: str | Path, *, app_id: str = "sandbox", app_key: str = "sandbox",
               token_ttl_seconds: int = 3600, session_ttl_seconds: int = 600,
               update_extends: bool = False, max_body_bytes: int = MAX_BODY_BYTES,
               clock: Clock = utc_now, fault_sleep: Sleep = asyncio.sleep,
               tds_timeout_seconds: float = 300, webhooks: WebhookSettings | None = None) -> Starlette:
    """The sandbox on the SQLite file ``db_path``.

    ``update_extends`` (env ``SANDBOX_UPDATE_EXTENDS=1``) makes a PUT restart the session's
    lifetime; by default an update keeps the original expiry, (docs/contract.md, "Sessions").
    ``clock`` is the only time the sandbox reads: token and session expiry and every timestamp
    it stores or shows (a test moves it to expire a token or a session without waiting);
    ``fault_sleep`` is how a ``latency`` fault waits (a test records the wait instead of timing it).
    ``tds_timeout_seconds`` is how long a 3-D Secure challenge waits for an answer; ``webhooks``
    the delivery schedule and fault switches (``lib.sandbox.webhooks``). The webhook worker is
    ``app.state.webhooks``: stop it with the server.
    """
    store = SandboxStore(db_path)
    auth = Authenticator(store, app_id, app_key, token_ttl_seconds, clock)
    session_ttl = timedelta(seconds=session_ttl_seconds)
    sender = Webhooks(store, app_key, webhooks, clock=clock)

    async def read_json(request: Request) -> dict[str, Any]:
        raw = await read_body(request, max_body_bytes)
        return {} if not raw.strip() else _parse_object(raw)  # an action with no body is an empty one

    pay = PayContext(store, Payments(store, timedelta(seconds=tds_timeout_seconds)), sender, clock, read_json,
                     read_body)

    async def login(request: Request) -> Response:
        return auth.login(request.url.path, _parse_object(await read_body(request, max_body_bytes)))

    async def create_session(request: Request) -> Response:
        payload = _parse_object(await read_body(request, max_body_bytes))
        problems = validate_create(payload)
        if problems:
            raise InvalidRequest(problems)
        session_id = store.create_session(payload, clock(), session_ttl)
        return JSONBody({"session_id": session_id}, status_code=201)

    async def update_session(request: Request) -> Response:
        raw = await read_body(request, max_body_bytes)
        # No await from here on: the read, merge and write of this PUT cannot interleave with another's.
        now = clock()
        record = store.get_session(request.path_params["session_id"])
        if record is None or record.expired(now):
            raise HTTPException(404)
        merged, problems = validate_update(record.params, _parse_object(raw))
        if problems:
            raise InvalidRequest(problems)
        store.add_version(record.session_id, merged, now, now + session_ttl if update_extends else None)
        return JSONBody({"status": "success"})

    async def info(request: Request) -> Response:
        return JSONBody({"service": SERVICE, "version": VERSION, "token_ttl_seconds": token_ttl_seconds,
                         "session_ttl_seconds": session_ttl_seconds})

    async def show_session(request: Request) -> Response:
        record = store.get_session(request.path_params["session_id"])
        if record is None:
            raise HTTPException(404)
        return JSONBody(record.as_json(clock()))

    async def find_sessions(request: Request) -> Response:
        order_id = request.query_params.get("order_id")
        if not order_id:
            raise InvalidRequest([Problem(parameter="order_id", reason="order_id can not be empty")])
        now = clock()
        return JSONBody({"sessions": [r.as_json(now) for r in store.find_sessions(order_id)]})

    app = SandboxApp(
        fault_sleep=fault_sleep,
        routes=[
            Route("/v1/login", login, methods=["POST"]),
            Mount("/v1", routes=[
                Route("/payment-sessions", create_session, methods=["POST"]),
                Route("/payment-sessions/{session_id}", update_session, methods=["PUT"]),
                *transaction_routes(pay),
            ], middleware=[Middleware(RequireBearer, authenticator=auth)]),
            Route("/sandbox/info", info),
            Route("/sandbox/sessions", find_sessions),
            Route("/sandbox/sessions/{session_id}", show_session),
            *sandbox_routes(pay),
            *checkout_routes(pay),
        ],
        exception_handlers={LinkGone: gone_page, HTTPException: _http_error, InvalidRequest: _invalid,
                            BodyTooLarge: _too_large},
    )
    app.state.webhooks = sender
    sender.resume()
    return app


def _parse_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in the body, amounts as Decimals; anything else is a 400, never a 500.

    Numbers a float cannot carry exactly (more digits than a double holds, 1e400) are refused at
    their field: the sandbox reads numbers as a double-based API would, and amounts must stay
    exact end to end.
    """
    try:
        payload = loads(raw, max_depth=BODY_MAX_DEPTH)
        dumps(payload)
    except TooDeep:
        raise InvalidRequest([BODY_TOO_DEEP]) from None
    except LoneSurrogate:
        raise InvalidRequest([BODY_NOT_UNICODE]) from None
    except ValueError:
        raise InvalidRequest([BODY_NOT_JSON]) from None
    inexact = inexact_numbers(payload)
    if inexact:
        raise InvalidRequest([Problem(parameter=path, reason=f"{path} must be a number of at most 15 significant "
                                                             "digits (what a double carries exactly)")
                              for path in inexact])
    if not isinstance(payload, dict):
        raise InvalidRequest([BODY_NOT_OBJECT])
    return payload


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, request.url.path, exc.headers)


async def _too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return error_response(413, request.url.path, title=f"The request body is larger than {exc.limit} bytes, "
                          "the most this API accepts.")


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidRequest)
    return validation_response(request.url.path, exc.problems)
