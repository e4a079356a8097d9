"""Receiving Acquired's webhooks (docs/contract.md, "Payments"): verify, record, confirm, answer.

One delivery is: the raw body bytes, the headers, and the environment named by the URL
(``/webhooks/acquired/{environment}``). It is trusted for nothing but a valid ``Hash``: the
lower-case hex HMAC-SHA256 of the raw body keyed with that environment's ``app_key``, compared
with ``hmac.compare_digest``. The verdict is one of:

- **refused** (4xx, changes nothing): unknown or unconfigured environment (404), missing or wrong
  ``Hash`` (401), a body that is not JSON or not §9's shape (400), a body over ``MAX_BODY_BYTES``
  (413);
- **duplicate** (200): a ``webhook_id`` already recorded for that environment (Acquired retries
  until it gets a 200): recorded as a duplicate, acted on by nothing;
- **accepted** (200): recorded once in ``webhook_deliveries`` in the same transaction as its log
  entry. A ``status_update`` naming a transaction is then *confirmed*: the transaction is looked
  up (a logged client call) and what the lookup says — not what the webhook claimed — is recorded,
  in the lookup's result entry's transaction. Other types are recorded and acted on by none.

Every delivery, whatever its verdict, is one call-log entry of kind ``webhook`` with what an
auditor needs: when (the entry's time), the environment, the webhook id and type, the transaction
id, order id and status as claimed, the verdict and the HTTP status answered, and the body as
received (its text, redacted like every detail, with the SHA-256 of the exact bytes).

**The lookup runs in the request.** Acquired waits at most 10 s for the 200. The lookup is one GET
to the API the console already talks to (a few milliseconds to the sandbox, tens to hundreds to
Acquired), made with timeouts cut to ``LOOKUP_TIMEOUTS`` so a slow API cannot hold the answer past
the deadline even with a login first. Doing it in the request needs no queue that a restart could
lose, and the answer's log shows the whole story in order. The 200 does not wait on the lookup's
success: the delivery is already recorded, and a lookup that fails leaves it ``failed`` for
reconciliation (``lib.payments.reconcile``) and for the retry of a delivery whose 200 came too late
(a duplicate whose first confirmation failed is confirmed again).
"""
from __future__ import annotations

import hashlib
import hmac
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlite_utils import Database

from lib.api.errors import ApiError, NotFound
from lib.api.transactions import PaymentsClient, Transaction
from lib.calllog.interface import CallLogStore
from lib.calllog.kinds import WEBHOOK
from lib.common import jsonutil
from lib.payments.store import PaymentStore
from lib.settings import ENVIRONMENTS, WEBHOOK_PATH
from lib.storage.db import connect, immediate

WEBHOOK_OPERATOR = "acquired-webhook"  # who the log names for a delivery and its confirming lookup
NO_ENVIRONMENT = "-"
MAX_BODY_BYTES = 64 * 1024  # a delivery is a few hundred bytes
LOOKUP_TIMEOUTS = (2.0, 3.0)  # connect, read: a login and the lookup stay well under Acquired's 10 s
STATUS_UPDATE = "status_update"
KEPT_HEADERS = ("hash", "company-id", "mid", "webhook-version", "content-type", "user-agent")
# What became of an accepted delivery's claim.
PENDING, CONFIRMED, CONTRADICTED, NOT_FOUND, FAILED, NOTHING = (
    "pending", "confirmed", "contradicted", "not_found", "lookup_failed", "nothing_to_confirm")


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REFUSED = "refused"


@dataclass(frozen=True)
class Receipt:
    """What the route answers, and what the log recorded."""

    verdict: Verdict
    http_status: int
    reason: str
    entry_seq: int
    confirmation: str | None = None  # for an accepted status_update: what the lookup found


@dataclass(frozen=True)
class Claim:
    """What a delivery says (nothing of it is believed until looked up)."""

    webhook_id: str
    webhook_type: str
    transaction_id: str | None
    status: str | None
    order_id: str | None
    timestamp: Any


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Raced(Exception):
    """Another request recorded the same webhook_id first: this one is a duplicate after all."""


def signature(body: bytes, key: bytes) -> str:
    """The ``Hash`` Acquired sends: lower-case hex HMAC-SHA256 of the raw body."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def hash_matches(body: bytes, given: str | None, key: bytes) -> bool:
    """Constant-time comparison of the ``Hash`` header with the body's signature."""
    if not given:
        return False
    return hmac.compare_digest(signature(body, key).encode("ascii"), given.strip().lower().encode("utf-8", "replace"))


def _text(value: Any, limit: int = 200) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def parse(body: bytes) -> Claim:
    """§9's body, or :class:`Refused` (400) naming what is wrong."""
    try:
        value = jsonutil.loads(body, max_depth=jsonutil.BODY_MAX_DEPTH)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, "the body is not a JSON object")
    webhook_id, webhook_type = _text(value.get("webhook_id")), _text(value.get("webhook_type"))
    if webhook_id is None or webhook_type is None:
        raise Refused(400, "webhook_id and webhook_type must be non-empty strings")
    inner = value.get("webhook_body")
    if webhook_type == STATUS_UPDATE:
        if not isinstance(inner, dict) or not isinstance(inner.get("status"), str):
            raise Refused(400, "a status_update needs webhook_body.status")
        for name in ("transaction_id", "order_id"):
            if inner.get(name) is not None and not isinstance(inner.get(name), str):
                raise Refused(400, f"webhook_body.{name} must be a string")
    inner = inner if isinstance(inner, dict) else {}
    return Claim(webhook_id, webhook_type, _text(inner.get("transaction_id")), _text(inner.get("status")),
                 _text(inner.get("order_id")), value.get("timestamp"))


def _claimed(body: bytes) -> Claim:
    """What a refused body claims, as far as it can be read (for the auditor; never raises)."""
    members = jsonutil.read_answer(body[:MAX_BODY_BYTES]).members
    inner = members.get("webhook_body")
    inner = inner if isinstance(inner, dict) else {}
    return Claim(_text(members.get("webhook_id")) or "", _text(members.get("webhook_type")) or "",
                 _text(inner.get("transaction_id")), _text(inner.get("status")), _text(inner.get("order_id")),
                 members.get("timestamp") if isinstance(members.get("timestamp"), (int, str)) else None)


def _body_as_received(body: bytes) -> dict[str, Any]:
    kept = body[:MAX_BODY_BYTES]
    try:
        shown: dict[str, Any] = {"body": kept.decode("utf-8")}
    except UnicodeDecodeError:
        shown = {"body_base64": b64encode(kept).decode("ascii")}
    return {**shown, "body_bytes": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
            **({"body_truncated": True} if len(body) > MAX_BODY_BYTES else {})}


class WebhookReceiver:
    """Turns deliveries into verdicts, log entries and (after a lookup) recorded transactions."""

    def __init__(self, log: CallLogStore, store: PaymentStore, *, key_of: Callable[[str], bytes | None],
                 lookup_client: Callable[[str], PaymentsClient], clock: Callable[[], datetime]) -> None:
        self.log = log
        self.store = store
        self.key_of = key_of
        self.lookup_client = lookup_client
        self.clock = clock

    def receive(self, environment: str, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """Decide, record, confirm; the HTTP status to answer is in the receipt."""
        lowered = {k.lower(): v for k, v in headers.items()}
        known = environment in ENVIRONMENTS
        try:
            if len(body) > MAX_BODY_BYTES:
                raise Refused(413, f"the body is over {MAX_BODY_BYTES} bytes")
            key = self.key_of(environment) if known else None
            if key is None:
                raise Refused(404, "no such environment is configured in this console")
            if not lowered.get("hash"):
                raise Refused(401, "the Hash header is missing")
            if not hash_matches(body, lowered.get("hash"), key):
                raise Refused(401, "the Hash does not match the body (signed with another key, or altered)")
            claim = parse(body)
        except Refused as refused:
            seq = self._record(environment if known else NO_ENVIRONMENT, environment, _claimed(body), body, lowered,
                               Verdict.REFUSED, refused.status, refused.reason)
            return Receipt(Verdict.REFUSED, refused.status, refused.reason, seq)
        earlier = self.store.delivery(environment, claim.webhook_id)
        session_id = self.store.session_for_order(environment, claim.order_id)
        if earlier is None:
            try:
                seq = self._record(environment, environment, claim, body, lowered, Verdict.ACCEPTED, 200,
                                   "verified", accept=True, session_id=session_id)
            except _Raced:
                earlier = self.store.delivery(environment, claim.webhook_id)
            else:
                return Receipt(Verdict.ACCEPTED, 200, "verified", seq, self._confirm(environment, claim, session_id))
        seq = self._record(environment, environment, claim, body, lowered, Verdict.DUPLICATE, 200,
                           f"webhook_id already recorded (log entry {earlier['entry_seq'] if earlier else '?'})",
                           session_id=session_id)
        confirmation = None
        if earlier is not None and earlier["confirmation"] in (PENDING, FAILED):
            confirmation = self._confirm(environment, claim, session_id)  # the first one never completed
        return Receipt(Verdict.DUPLICATE, 200, "already recorded", seq, confirmation)

    def _record(self, environment: str, named: str, claim: Claim, body: bytes, headers: Mapping[str, str],
                verdict: Verdict, status: int, reason: str, *, accept: bool = False,
                session_id: str | None = None) -> int:
        """One ``webhook`` entry (filed under its order's session when the Hash held); for an
        accepted delivery, its row in the same transaction.

        An accepted delivery that a lookup will confirm is committed without its own fsync: the
        lookup's result is committed durably before the answer goes back, and that commit syncs
        this entry too (one fsync per delivery, not two). Anything else is durable at once."""
        now = self.clock()
        confirmation = PENDING if claim.webhook_type == STATUS_UPDATE and claim.transaction_id else NOTHING

        def then(db: Database, seq: int) -> None:
            if not self.store.record_delivery(db, environment, webhook_id=claim.webhook_id,
                                              webhook_type=claim.webhook_type, transaction_id=claim.transaction_id,
                                              order_id=claim.order_id, claimed_status=claim.status, seq=seq, now=now,
                                              confirmation=confirmation):
                raise _Raced(claim.webhook_id)

        detail = {"verdict": verdict.value, "reason": reason, "http_status": status, "environment_in_url": named[:200],
                  "webhook_id": claim.webhook_id or None, "webhook_type": claim.webhook_type or None,
                  "timestamp": claim.timestamp, "transaction_id": claim.transaction_id,
                  "status_claimed": claim.status, "order_id": claim.order_id,
                  "headers": {k: headers[k] for k in KEPT_HEADERS if k in headers}, **_body_as_received(body)}
        path = WEBHOOK_PATH.replace("{environment}", named[:64])
        return self.log.append(WEBHOOK, operator=WEBHOOK_OPERATOR, environment=environment, method="POST",
                               endpoint=WEBHOOK_PATH, path=path, session_id=session_id, order_id=claim.order_id,
                               http_status=status,
                               outcome=verdict.value, detail=detail, then=then if accept else None,
                               durable=not (accept and confirmation == PENDING))

    def _confirm(self, environment: str, claim: Claim, session_id: str | None) -> str:
        """Look the claimed transaction up and record what the API says; the confirmation's word."""
        if claim.webhook_type != STATUS_UPDATE or not claim.transaction_id:
            return NOTHING
        found: list[str] = [FAILED]

        def record(db: Database, seq: int, txn: Transaction | None) -> None:
            if txn is None:
                found[0] = NOT_FOUND
            else:
                self.store.record_lookup(db, environment, txn, seq=seq, now=self.clock())
                found[0] = CONFIRMED if txn.status == (claim.status or "").lower() else CONTRADICTED
            self.store.confirm_delivery(db, environment, claim.webhook_id, found[0], seq)

        try:
            self.lookup_client(environment).transaction(claim.transaction_id, session_id=session_id, record=record)
        except NotFound as exc:
            found[0] = NOT_FOUND
            self._settle(environment, claim, NOT_FOUND, exc.entry_seq)
        except (ApiError, ValueError) as exc:  # ValueError: an id the client refuses to put in a path
            self._settle(environment, claim, FAILED, getattr(exc, "entry_seq", None))
        return found[0]

    def _settle(self, environment: str, claim: Claim, confirmation: str, seq: int | None) -> None:
        with self.log.failures_explained("written"), immediate(connect(self.log.db_path)) as db:
            self.store.confirm_delivery(db, environment, claim.webhook_id, confirmation, seq)
