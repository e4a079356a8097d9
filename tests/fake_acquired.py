"""A small stand-in for the API's payment routes (docs/contract.md, "Payments"), over real HTTP.

The project's sandbox is getting its payments on another branch; until then the payments tests
speak to this: login, create a session, ``GET /v1/transactions/{id}`` and ``?order_id=``, and
capture / void / refund / reversal with the contract's rules (409 naming the field). It answers
``/sandbox/info`` as the sandbox does, so a console started with ``SANDBOX_PORT`` pointing here
uses it. Tests drive it from Python: ``pay`` makes a transaction for a session, ``hold`` makes the
next money operation take effect and then answer too late (an unknown outcome).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lib.common import jsonutil
from lib.sandbox.runtime import bind_socket, uvicorn_config

APP_ID = APP_KEY = "sandbox"


def sign(body: bytes, key: str = APP_KEY) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def delivery(transaction_id: str, status: str, order_id: str, *, webhook_id: str | None = None,
             webhook_type: str = "status_update") -> bytes:
    """A §9 body as Acquired sends it: compact JSON."""
    return jsonutil.dumps({"webhook_type": webhook_type, "webhook_id": webhook_id or str(uuid.uuid4()),
                           "timestamp": int(time.time()),
                           "webhook_body": {"transaction_id": transaction_id, "status": status,
                                            "order_id": order_id}}).encode()


def _json(value: Any, status: int = 200) -> Response:
    return Response(jsonutil.dumps(value), status_code=status, media_type="application/json")


def _conflict(path: str, parameter: str, reason: str) -> Response:
    return _json({"status": "error", "error_type": "conflict", "title": "There was a conflict when trying to "
                  "complete your request.", "instance": path,
                  "invalid_parameters": [{"parameter": parameter, "reason": f"{parameter} {reason}"}]}, 409)


@dataclass
class FakeTxn:
    transaction_id: str
    order_id: str
    amount: Decimal
    currency: str
    status: str
    capture: bool
    reason: str | None = None
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    voided: bool = False
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_json(self, figures: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "transaction_id": self.transaction_id, "status": self.status, "reason": self.reason, "mid": "1234",
            "payment_method": "card", "transaction_type": "auth_capture" if self.capture else "auth_only",
            "transaction": {"order_id": self.order_id, "amount": self.amount, "currency": self.currency,
                            "moto": False, "capture": self.capture},
            "card": {"number": "411111******1111", "scheme": "visa"}, "created": self.created}
        if figures:
            body["amounts"] = {"authorised": self.amount, "captured": self.captured, "refunded": self.refunded}
        return body


@dataclass
class FakeAcquired:
    figures: bool = True  # whether a transaction says how much is captured and refunded
    transactions: dict[str, FakeTxn] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: list[tuple[str, str, Any]] = field(default_factory=list)
    held: float = 0.0  # seconds the next money operation waits after taking effect
    base_url: str = ""  # where it answers, once served
    slow_lookups: float = 0.0  # seconds every GET of a transaction waits before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pay(self, session_id: str, status: str = "success", *, reason: str | None = None,
            capture: bool | None = None) -> FakeTxn:
        session = self.sessions[session_id]["transaction"]
        capture = session.get("capture", True) if capture is None else capture
        txn = FakeTxn(uuid.uuid4().hex, session["order_id"], Decimal(str(session["amount"])), session["currency"],
                      status, capture, reason)
        if status == "success" and capture:
            txn.captured = txn.amount
        self.transactions[txn.transaction_id] = txn
        return txn

    def hold(self, seconds: float) -> None:
        self.held = seconds

    # --- HTTP -----------------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        body = jsonutil.loads(await request.body())
        if body.get("app_id") != APP_ID or body.get("app_key") != APP_KEY:
            return _json({"status": "error", "error_type": "unauthorized"}, 401)
        return _json({"token_type": "Bearer", "expires_in": 3600, "access_token": "fake-token"})

    async def create(self, request: Request) -> Response:
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = jsonutil.loads(await request.body())
        return _json({"session_id": session_id}, 201)

    async def one(self, request: Request) -> Response:
        if self.slow_lookups:
            await asyncio.sleep(self.slow_lookups)
        txn = self.transactions.get(request.path_params["transaction_id"])
        if txn is None:
            return _json({"status": "error", "error_type": "not_found", "instance": request.url.path}, 404)
        return _json(txn.as_json(self.figures))

    async def many(self, request: Request) -> Response:
        order_id = request.query_params.get("order_id")
        data = [t.as_json(self.figures) for t in reversed(self.transactions.values()) if t.order_id == order_id]
        return _json({"meta": {"count": len(data), "limit": 100, "offset": 0}, "data": data})

    async def act(self, request: Request) -> Response:
        raw = await request.body()
        body = jsonutil.loads(raw) if raw else {}
        operation, path = request.path_params["operation"], request.url.path
        with self.lock:
            txn = self.transactions.get(request.path_params["transaction_id"])
            if txn is None:
                return _json({"status": "error", "error_type": "not_found", "instance": path}, 404)
            refusal = self._apply(txn, operation, body)
            if refusal:
                return _conflict(path, *refusal)
            self.actions.append((operation, txn.transaction_id, body.get("amount")))
            held, self.held = self.held, 0.0
        if held:
            await asyncio.sleep(held)  # taken, but the answer comes too late
        return _json({"status": "success", "transaction_id": uuid.uuid4().hex})

    def _apply(self, txn: FakeTxn, operation: str, body: dict[str, Any]) -> tuple[str, str] | None:
        amount = body.get("amount")
        if txn.status != "success":
            return "transaction", "can not be changed: it did not succeed"
        if operation == "capture":
            if txn.capture or txn.captured or txn.voided:
                return "transaction", "is captured or voided already"
            if amount is not None and amount > txn.amount:
                return "amount", "must be at most the authorised amount"
            txn.captured = txn.amount if amount is None else amount
        elif operation == "void":
            if txn.captured or txn.voided:
                return "transaction", "is captured or voided already"
            txn.voided = True
        elif operation == "refund":
            if amount is None or txn.refunded + amount > txn.captured:
                return "amount", "must be at most what is left to refund"
            txn.refunded += amount
        return None

    def app(self) -> Starlette:
        def info(_: Request) -> Response:
            return _json({"service": "acquired-sandbox", "version": "fake"})

        return Starlette(routes=[
            Route("/v1/login", self.login, methods=["POST"]),
            Route("/v1/payment-sessions", self.create, methods=["POST"]),
            Route("/v1/transactions", self.many),
            Route("/v1/transactions/{transaction_id}", self.one),
            Route("/v1/transactions/{transaction_id}/{operation}", self.act, methods=["POST"]),
            Route("/sandbox/info", info),
        ])


class FakeServer:
    """The fake on uvicorn in a daemon thread, on ``port`` (0: a free one)."""

    def __init__(self, fake: FakeAcquired, port: int = 0) -> None:
        sock = bind_socket("127.0.0.1", port)
        self.port = sock.getsockname()[1]
        self.fake = fake
        fake.base_url = self.base_url
        self._server = uvicorn.Server(uvicorn_config(fake.app()))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
