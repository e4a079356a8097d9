"""Fault injection per request: header ``X-Sandbox-Fault: latency=<ms>,status=<code>,drop,drop-after,answer=<kind>``.

Faults apply to the ``/v1`` API except ``/v1/login``: a client that sends the header on every
call (as QA runs do) still gets its token, and the ``/sandbox`` views and the checkout page stay
reliable for the checks made after a fault.

Applied in this order: ``latency`` sleeps first; ``drop`` then cuts the connection before the
request is looked at (nothing stored); ``status`` answers that code with the error body (docs/contract.md, "Refusals") instead of
handling the request (nothing stored); ``drop-after`` lets the request be handled and stored,
then cuts the connection in place of the answer — a true unknown outcome for the client;
``answer`` lets the request be handled and stored, then puts one hostile member in front of the
members of a 2xx JSON object answer (see ``HOSTILE_MEMBERS``): an answer the client cannot keep
as JSON, about a session that really exists.

A cut closes the TCP connection without writing a byte, so the client sees no status line at
all. ASGI has no message for that, so this layer must be the outermost one (it is built around
Starlette's own error middleware) to hold uvicorn's ``send``: a bound method of the request
cycle, whose ``transport`` it closes.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib.fields.validation import Problem
from lib.sandbox.responses import error_response, validation_response

HEADER = "X-Sandbox-Fault"
EXEMPT_PATHS = frozenset({"/v1/login"})
# A latency beyond a minute tests nothing a minute does not, and an unbounded one ties up the server.
MAX_LATENCY_MS = 60_000
# Raw JSON text of one member an answer may carry that a careful client must still record.
HOSTILE_MEMBERS: dict[str, bytes] = {
    "long-decimal": b'"fee":0.12345678901234567890',  # more digits than a float holds
    "huge-exponent": b'"fee":1e400',  # beyond a float
    "escaped-surrogate": b'"note":"\\ud800"',  # valid JSON, not encodable as UTF-8
    "raw-surrogate": b'"note":"\xed\xa0\x80"',  # a surrogate written raw: not UTF-8 at all
    "deep": b'"nested":' + b"[" * 10_000 + b"]" * 10_000,
    "not-json": b'"note":undefined',
}
# How a latency fault waits (seconds); tests hand the app one that records the wait instead.
Sleep = Callable[[float], Awaitable[None]]
_USAGE = (f"latency=<ms 0-{MAX_LATENCY_MS}>, status=<code 400-599>, drop, drop-after, "
          f"answer=<{'|'.join(HOSTILE_MEMBERS)}>")


@dataclass(frozen=True)
class Faults:
    """What one request asked for."""

    latency_ms: int = 0
    status: int | None = None
    drop: bool = False
    drop_after: bool = False
    answer: str | None = None


def parse_faults(header: str) -> Faults:
    """Read the header's comma-separated faults; ValueError names the first one not understood."""
    latency_ms, status, drop, drop_after, answer = 0, None, False, False, None
    for item in (part.strip() for part in header.split(",")):
        name, sep, value = (s.strip() for s in item.partition("="))
        if name == "latency" and sep and value.isascii() and value.isdigit() and len(value) <= 6 \
                and int(value) <= MAX_LATENCY_MS:
            latency_ms = int(value)
        elif name == "status" and sep and value.isascii() and value.isdigit() and len(value) == 3 \
                and _is_error_status(int(value)):
            status = int(value)
        elif item == "drop":
            drop = True
        elif item == "drop-after":
            drop_after = True
        elif name == "answer" and sep and value in HOSTILE_MEMBERS:
            answer = value
        else:
            raise ValueError(f"{HEADER} has an unknown fault {item!r}, must be one of [{_USAGE}]")
    return Faults(latency_ms, status, drop, drop_after, answer)


class FaultInjector:
    """Outermost ASGI layer carrying out the ``X-Sandbox-Fault`` header."""

    def __init__(self, app: ASGIApp, sleep: Sleep = asyncio.sleep) -> None:
        self.app = app
        self.sleep = sleep

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
            await self.sleep(faults.latency_ms / 1000)
        if faults.drop:
            await cut_connection(receive, send)
            return
        reply = _CutInsteadOfReply(receive, send) if faults.drop_after else send
        if faults.answer is not None:
            reply = _HostileAnswer(reply, HOSTILE_MEMBERS[faults.answer])
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


class _HostileAnswer:
    """A ``send`` that puts ``member`` first in a 2xx JSON object answer (Content-Length fixed)."""

    def __init__(self, send: Send, member: bytes) -> None:
        self.send = send
        self.member = member
        self.start: Message | None = None
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if message.get("more_body", False):
            return
        start, body = self.start, self.body
        if 200 <= start["status"] < 300 and body.startswith(b"{"):
            body = b"{" + self.member + (b"," if body[1:].lstrip() != b"}" else b"") + body[1:]
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


def _targeted(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return scope["type"] == "http" and path.startswith("/v1/") and path not in EXEMPT_PATHS


def _is_error_status(code: int) -> bool:
    return 400 <= code <= 599 and code in {s.value for s in HTTPStatus}
