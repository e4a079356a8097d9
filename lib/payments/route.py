"""The HTTP route Acquired posts webhooks to: ``POST /webhooks/acquired/{environment}``, and the
server's sweep for the webhooks that never come.

Served by the console's own server beside the pages (``app.py`` builds ``st.App`` with these
routes and this lifespan). The route needs no sign-in and trusts nothing but a valid ``Hash``: the
receiver (``lib.payments.webhooks``) decides; this only reads the raw body (bounded), hands it over
on a worker thread (SQLite and the lookup block) and answers the verdict's status with a small
JSON body. The sweep runs every 30 s (``OPS_RECONCILE_EVERY_S``) while the server runs (``lib.payments.reconcile``).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lib.payments.webhooks import MAX_BODY_BYTES, WebhookReceiver
from lib.settings import WEBHOOK_PATH


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, reading at most one byte past ``limit`` (the receiver refuses a longer one)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


def routes(receiver: Callable[[], WebhookReceiver]) -> list[Route]:
    """``receiver`` is called per request (the console's one receiver, built on first use)."""

    async def webhook(request: Request) -> Response:
        body = await _body(request, MAX_BODY_BYTES)
        environment = request.path_params["environment"]
        receipt = await run_in_threadpool(receiver().receive, environment, body, dict(request.headers))
        return JSONResponse({"status": receipt.verdict.value, "reason": receipt.reason},
                            status_code=receipt.http_status)

    return [Route(WEBHOOK_PATH, webhook, methods=["POST"])]


def sweeping(sweep: Callable[[], object], every_s: float) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """An ASGI lifespan that runs ``sweep`` on a worker thread every ``every_s`` seconds until the
    server stops. A failing sweep is logged and tried again next time; it never stops the server."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await run_in_threadpool(sweep)
            except Exception:  # noqa: BLE001 - the next sweep tries again; the pages must keep running
                logging.getLogger(__name__).exception("the payments sweep failed")

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(loop())
        try:
            yield None
        finally:
            task.cancel()

    return lifespan
