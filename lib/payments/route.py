"""The HTTP route Acquired posts webhooks to: ``POST /webhooks/acquired/{environment}``.

Served by the console's own server beside the pages (``app.py`` builds ``st.App`` with these
routes). It needs no sign-in and trusts nothing but a valid ``Hash``: the receiver
(``lib.payments.webhooks``) decides; this only reads the raw body (bounded), hands it over on a
worker thread (SQLite and the lookup block) and answers the verdict's status with a small JSON body.
"""
from __future__ import annotations

from collections.abc import Callable

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
