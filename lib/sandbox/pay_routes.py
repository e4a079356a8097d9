"""The sandbox's payment routes (docs/contract.md, "Payments"): the checkout pages that take a card,
the ``/v1/transactions`` API and the ``/sandbox`` views of webhook deliveries and their faults.

Handlers call the store on the event loop with no ``await`` between a read and the write it
decides; the payment rules themselves run inside ``BEGIN IMMEDIATE`` (``lib.sandbox.payments``),
so they also hold against other threads and processes. Pages follow POST/redirect/GET: a card
form posts to the link, which redirects to the challenge or to the result.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lib.fields.actions import ACTIONS, REVERSAL
from lib.fields.validation import InvalidRequest, Problem, validate_action
from lib.sandbox.cards import SUCCESS, TDS_PENDING, read_card
from lib.sandbox.checkout import (
    ALREADY_PAID,
    EXPIRED,
    NOT_VALID,
    STILL_WAITING,
    LinkView,
    render_challenge,
    render_gone,
    render_link,
    render_paid,
    render_result,
    render_waiting,
)
from lib.sandbox.payments import APPROVE, FAIL, TIMEOUT, Payments, Refused, Transaction
from lib.sandbox.responses import JSONBody, conflict_response
from lib.sandbox.store import SandboxStore, SessionRecord
from lib.sandbox.webhooks import WebhookFaults, Webhooks

STATUSES = ("success", "declined", "blocked", "error", "tds_error", "tds_expired", "tds_failed", "tds_pending")
LIMIT_MAX, LIMIT_DEFAULT = 100, 25
FORM_MAX_BYTES = 16 << 10  # a card form is four short fields
TIMER_MARGIN_S = 0.05


@dataclass(frozen=True)
class PayContext:
    """What the payment routes share with the rest of the app."""

    store: SandboxStore
    payments: Payments
    webhooks: Webhooks
    clock: Callable[[], datetime]
    read_json: Callable[[Request], Awaitable[dict[str, Any]]]  # the app's body reader (limits, exact numbers)
    read_raw: Callable[[Request, int], Awaitable[bytes]]

    def notify(self, txn: Transaction, now: datetime) -> None:
        """The §9 webhook for a payment's outcome, when its session has a ``webhook_url``."""
        if txn.webhook_url:
            self.webhooks.send(txn.webhook_url, txn.transaction_id, txn.status, txn.order_id, now)

    def settle_timeouts(self, now: datetime) -> None:
        for txn in self.payments.expire_challenges(now):
            self.notify(txn, now)


def checkout_routes(ctx: PayContext) -> list[BaseRoute]:
    """``/checkout/{session_id}`` (GET the page, POST a card), its challenge and its result pages."""

    def session_or_404(session_id: str) -> SessionRecord:
        record = ctx.store.get_session(session_id)
        if record is None:
            raise LinkGone(404, NOT_VALID, "invalid")
        return record

    def view(record: SessionRecord, now: datetime, txn: Transaction | None = None) -> LinkView:
        params = record.params["transaction"]
        if txn is not None:
            return LinkView(txn.order_id, txn.money("amount"), str(txn.row["currency"]), record.expires(), now)
        return LinkView(params["order_id"], params["amount"], params["currency"], record.expires(), now)

    def taken(record: SessionRecord, now: datetime, notice: str | None = None) -> str | None:
        """The page for a link that already took its payment or waits for a challenge, else None;
        ``notice`` says why a new attempt was refused."""
        _, found = ctx.payments.find(session_id=record.session_id, status=SUCCESS, limit=1)
        if found:
            return render_paid(view(record, now, found[0]), found[0].capture, notice)
        _, waiting = ctx.payments.find(session_id=record.session_id, status=TDS_PENDING, limit=1)
        if waiting:
            return render_waiting(view(record, now), _challenge_path(waiting[0]), STILL_WAITING if notice else None)
        return None

    async def page(request: Request) -> Response:
        now = ctx.clock()
        ctx.settle_timeouts(now)
        record = session_or_404(request.path_params["session_id"])
        shown = taken(record, now)
        if shown is not None:
            return HTMLResponse(shown)
        if record.expired(now):
            raise LinkGone(410, EXPIRED, "expired")
        return HTMLResponse(render_link(view(record, now)))

    async def pay(request: Request) -> Response:
        raw = await ctx.read_raw(request, FORM_MAX_BYTES)
        # No await from here on.
        now = ctx.clock()
        ctx.settle_timeouts(now)
        record = session_or_404(request.path_params["session_id"])
        shown = taken(record, now, ALREADY_PAID)
        if shown is not None:  # a second payment on a paid link: refused, and the page says why
            return HTMLResponse(shown, status_code=409)
        if record.expired(now):
            raise LinkGone(410, EXPIRED, "expired")
        form = read_card(_form(raw), now)
        if form.card is None:
            return HTMLResponse(render_link(view(record, now), form), status_code=400)
        try:
            txn = ctx.payments.pay(record, form.card, now)
        except Refused:  # another submission won between our check and the payment's transaction
            return HTMLResponse(taken(record, now, ALREADY_PAID) or render_link(view(record, now)), status_code=409)
        if txn.status == TDS_PENDING:
            # Settle it at its deadline even if nobody looks (pages and reads also settle it lazily,
            # which covers a restart in between); a little late, as the timer and the clock differ.
            delay = ctx.payments.tds_timeout.total_seconds() + TIMER_MARGIN_S
            asyncio.get_running_loop().call_later(delay, lambda: ctx.settle_timeouts(ctx.clock()))
            return RedirectResponse(_challenge_path(txn), status_code=303)
        ctx.notify(txn, now)
        return RedirectResponse(_result_path(txn), status_code=303)

    def transaction_of(request: Request) -> tuple[SessionRecord, Transaction]:
        record = session_or_404(request.path_params["session_id"])
        txn = ctx.payments.get(request.path_params["transaction_id"])
        if txn is None or txn.session_id != record.session_id:
            raise LinkGone(404, NOT_VALID, "invalid")
        return record, txn

    async def challenge(request: Request) -> Response:
        raw = await ctx.read_raw(request, FORM_MAX_BYTES) if request.method == "POST" else b""
        now = ctx.clock()
        ctx.settle_timeouts(now)
        record, txn = transaction_of(request)
        if request.method == "POST":
            decision = (_form(raw).get("decision") or "").strip()
            if decision not in (APPROVE, FAIL, TIMEOUT):
                return HTMLResponse(render_challenge(view(record, now, txn), _seconds_left(txn, now)), status_code=400)
            txn, changed = ctx.payments.settle_challenge(txn.transaction_id, decision, now)
            if changed:
                ctx.notify(txn, now)
        if txn.status != TDS_PENDING:
            return RedirectResponse(_result_path(txn), status_code=303)
        return HTMLResponse(render_challenge(view(record, now, txn), _seconds_left(txn, now)))

    async def result(request: Request) -> Response:
        now = ctx.clock()
        ctx.settle_timeouts(now)
        record, txn = transaction_of(request)
        if txn.status == TDS_PENDING:
            return RedirectResponse(_challenge_path(txn), status_code=303)
        retry = None
        if txn.status != SUCCESS and not record.expired(now) and taken(record, now) is None:
            retry = f"/checkout/{record.session_id}"
        return HTMLResponse(render_result(view(record, now, txn), txn.status, txn.reason, txn.capture, retry))

    return [
        Route("/checkout/{session_id}", page, methods=["GET"]),
        Route("/checkout/{session_id}", pay, methods=["POST"]),
        Route("/checkout/{session_id}/3ds/{transaction_id}", challenge, methods=["GET", "POST"]),
        Route("/checkout/{session_id}/result/{transaction_id}", result, methods=["GET"]),
    ]


def transaction_routes(ctx: PayContext) -> list[BaseRoute]:
    """``/v1/transactions`` (mounted under ``/v1`` behind the Bearer check)."""

    async def show(request: Request) -> Response:
        ctx.settle_timeouts(ctx.clock())
        txn = ctx.payments.get(request.path_params["transaction_id"])
        if txn is None:
            raise HTTPException(404)
        return JSONBody(txn.as_json())

    async def listing(request: Request) -> Response:
        ctx.settle_timeouts(ctx.clock())
        query = request.query_params
        problems: list[Problem] = []
        limit = _whole(query.get("limit"), LIMIT_DEFAULT, 1, LIMIT_MAX)
        if limit is None:
            problems.append(Problem(parameter="limit", reason=f"limit must be a whole number from 1 to {LIMIT_MAX}"))
        offset = _whole(query.get("offset"), 0, 0, None)
        if offset is None:
            problems.append(Problem(parameter="offset", reason="offset must be a whole number, zero or more"))
        status = query.get("status")
        if status is not None and status not in STATUSES:
            problems.append(Problem(parameter="status", reason=f"status format is invalid, must be [{','.join(STATUSES)}]"))
        if problems:
            raise InvalidRequest(problems)
        assert limit is not None and offset is not None
        count, found = ctx.payments.find(order_id=query.get("order_id"), status=status, limit=limit, offset=offset)
        return JSONBody({"meta": {"count": count, "limit": limit, "offset": offset},
                         "data": [t.as_json() for t in found]})

    def action(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def act(request: Request) -> Response:
            body = await ctx.read_json(request)
            # No await from here on.
            now = ctx.clock()
            txn = ctx.payments.get(request.path_params["transaction_id"])
            if txn is None:
                raise HTTPException(404)
            problems = validate_action(kind, body, str(txn.row["currency"]))
            if problems:
                raise InvalidRequest(problems)
            try:
                done = ctx.payments.act(kind, txn.transaction_id, body, now)
            except Refused as refused:
                return conflict_response(request.url.path, refused.problems)
            except KeyError:
                raise HTTPException(404) from None
            if kind == REVERSAL and body.get("webhook_url"):
                ctx.webhooks.send(str(body["webhook_url"]), done.action_id, SUCCESS, txn.order_id, now)
            return JSONBody({"status": "success", "transaction_id": done.action_id})
        return act

    return [
        Route("/transactions", listing, methods=["GET"]),
        Route("/transactions/{transaction_id}", show, methods=["GET"]),
        *(Route(f"/transactions/{{transaction_id}}/{kind}", action(kind), methods=["POST"]) for kind in ACTIONS),
    ]


def sandbox_routes(ctx: PayContext) -> list[BaseRoute]:
    """``GET /sandbox/webhooks[?transaction_id=]`` (the delivery records) and ``GET/PUT /sandbox/webhook-faults``."""

    async def deliveries(request: Request) -> Response:
        return JSONBody({"deliveries": ctx.webhooks.deliveries(request.query_params.get("transaction_id"))})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            body = await ctx.read_json(request)
            try:
                ctx.webhooks.faults = WebhookFaults.from_json(body)
            except ValueError as exc:
                raise InvalidRequest([Problem(parameter="body", reason=str(exc))]) from None
        return JSONBody(ctx.webhooks.faults.as_json())

    return [Route("/sandbox/webhooks", deliveries), Route("/sandbox/webhook-faults", faults, methods=["GET", "PUT"])]


class LinkGone(HTTPException):
    """A link page that cannot be shown (unknown 404, expired 410): answered as an HTML page."""

    def __init__(self, status_code: int, message: str, state: str) -> None:
        super().__init__(status_code)
        self.message = message
        self.state = state


async def gone_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LinkGone)
    return HTMLResponse(render_gone(exc.message, exc.state), status_code=exc.status_code)


def _form(raw: bytes) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each; undecodable bytes replaced)."""
    try:
        parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:  # more fields than any of our forms has: read as an empty form
        return {}
    return {name: values[0] for name, values in parsed.items()}


def _whole(text: str | None, default: int, low: int, high: int | None) -> int | None:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    value = int(text)
    return value if value >= low and (high is None or value <= high) else None


def _seconds_left(txn: Transaction, now: datetime) -> int:
    deadline = txn.row["tds_deadline"]
    return max(0, int((datetime.fromisoformat(deadline) - now).total_seconds())) if deadline else 0


def _challenge_path(txn: Transaction) -> str:
    return f"/checkout/{txn.session_id}/3ds/{txn.transaction_id}"


def _result_path(txn: Transaction) -> str:
    return f"/checkout/{txn.session_id}/result/{txn.transaction_id}"
