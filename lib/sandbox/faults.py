"""Fault injection per request: header ``X-Sandbox-Fault: latency=<ms>,status=<code>,drop,drop-after``.

Faults apply to the ``/v1`` API except ``/v1/login``: a client that sends the header on every
call (as QA runs do) still gets its token, and the ``/sandbox`` views and the checkout page stay
reliable for the checks made after a fault.

Applied in this order: ``latency`` sleeps first; ``drop`` then cuts the connection before the
request is looked at (nothing stored); ``status`` answers that code with the §6 body instead of
handling the request (nothing stored); ``drop-after`` lets the request be handled and stored,
then cuts the connection in place of the answer — a true unknown outcome for the client.

A cut closes the TCP connection without writing a byte, so the client sees no status line at
all. ASGI has no message for that, so this layer must be the outermost one (it is built around
Starlette's own error middleware) to hold uvicorn's ``send``: a bound method of the request
cycle, whose ``transport`` it closes.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib.sandbox.responses import error_response, validation_response
from lib.validation import Problem

HEADER = "X-Sandbox-Fault"
EXEMPT_PATHS = frozenset({"/v1/login"})
_USAGE = "latency=<ms>, status=<code 400-599>, drop, drop-after"


@dataclass(frozen=True)
class Faults:
    """What one request asked for."""

    latency_ms: int = 0
    status: int | None = None
    drop: bool = False
    drop_after: bool = False


def parse_faults(header: str) -> Faults:
    """Read the header's comma-separated faults; ValueError names the first one not understood."""
    latency_ms, status, drop, drop_after = 0, None, False, False
    for item in (part.strip() for part in header.split(",")):
        name, sep, value = (s.strip() for s in item.partition("="))
        if name == "latency" and sep and value.isdigit():
            latency_ms = int(value)
        elif name == "status" and sep and value.isdigit() and _is_error_status(int(value)):
            status = int(value)
        elif item == "drop":
            drop = True
        elif item == "drop-after":
            drop_after = True
        else:
            raise ValueError(f"{HEADER} has an unknown fault {item!r}, must be one of [{_USAGE}]")
    return Faults(latency_ms, status, drop, drop_after)


class FaultInjector:
    """Outermost ASGI layer carrying out the ``X-Sandbox-Fault`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = Headers(scope=scope).get(HEADER) if _targeted(scope) else None
        if header is None:
            await self.app(scope, receive, send)
            return
        try:
            faults = parse_faults(header)
        except ValueError as exc:
            problem = Problem(parameter=HEADER, reason=str(exc))
            await validation_response(scope["path"], [problem])(scope, receive, send)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.drop:
            await cut_connection(receive, send)
            return
        reply = _CutInsteadOfReply(receive, send) if faults.drop_after else send
        if faults.status is not None:
            await error_response(faults.status, scope["path"])(scope, receive, reply)
        else:
            await self.app(scope, receive, reply)


async def cut_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection with nothing written, and wait until the server has seen it go.

    Waiting for ``http.disconnect`` matters: once uvicorn knows the client is gone it neither
    writes a late reply nor logs the request as one that returned without a response.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cutting a connection needs uvicorn's HTTP/1.1 send (a request cycle with a transport)")
    transport.close()
    while (await receive())["type"] != "http.disconnect":
        pass


class _CutInsteadOfReply:
    """A ``send`` that cuts the connection when the reply starts and swallows the rest of it."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.cut = False

    async def __call__(self, message: Message) -> None:
        if not self.cut:
            self.cut = True
            await cut_connection(self.receive, self.send)


def _targeted(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return scope["type"] == "http" and path.startswith("/v1/") and path not in EXEMPT_PATHS


def _is_error_status(code: int) -> bool:
    return 400 <= code <= 599 and code in {s.value for s in HTTPStatus}
