"""The payments service: did the customer pay, and capture, void or refund — one call each, typed.

Pages and ``ui/`` reach the payments area only through this module (the webhook route too, via
:func:`webhook_routes`). It sits on the sessions service's call log, registry and clock, and
keeps its own tables (``lib.payments.store``) in the same database. Rules that hold whatever a
page shows: who may move money where (``lib.access``: capture, void, refund), the live guard (the
typed amount and the ceiling, as for creates), what is left to capture or refund (refused at the
field before sending), and an operation that got no answer is never sent again: the transaction
is looked up instead and what it says is recorded.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlite_utils import Database
from starlette.routing import Route

from lib import settings
from lib.access import events
from lib.access.policy import AccessDenied, Action, Identity
from lib.api.errors import ApiError, UnknownOutcome
from lib.api.transactions import ActionRefused, ActionResult, PaymentsClient, Transaction
from lib.calllog.kinds import PAYMENT_RESOLUTION as RESOLUTION
from lib.common.tcp import nodelay_on_accepted_connections
from lib.common.timefmt import parse_utc
from lib.fields.validation import ActionRequest, InvalidRequest, Problem
from lib.payments import rules
from lib.payments.models import PaymentState, PaymentStatus, TransactionRecord, derive, reason_words
from lib.payments.reconcile import Reconciled, reconcile_order
from lib.payments.route import routes, sweeping
from lib.payments.rules import MoneyResult, OperationNotAllowed, PaymentNotFound, typed_amount
from lib.payments.store import DONE, NOT_SENT, REFUSED, SETTLED, UNKNOWN, Operation, SqlitePaymentStore
from lib.payments.webhooks import LOOKUP_TIMEOUTS, WEBHOOK_OPERATOR, Receipt, Verdict, WebhookReceiver
from lib.sessions import live_safety
from lib.sessions.live_safety import LiveConfirmationRequired, LiveLimitExceeded
from lib.sessions.models import QA_TAG_PREFIX, Session, SessionNotFound
from lib.sessions.service import SessionsService
from lib.settings import ConfigError

__all__ = [  # what pages and ui/ use of the payments area, besides the service itself
    "AccessDenied", "ActionRefused", "LiveConfirmationRequired", "LiveLimitExceeded", "InvalidRequest", "MoneyResult", "Operation", "OperationNotAllowed", "PaidNotice",
    "PaymentNotFound", "PaymentState", "PaymentStatus", "PaymentsService", "Problem", "Receipt", "RecentPayment",
    "Reconciled", "SessionNotFound", "TransactionRecord", "UnknownOutcome", "Verdict", "payments_lifespan",
    "reason_words", "webhook_routes",
]

# The recent-payments view by default: what was paid (or authorised) and what expired unpaid.
RECONCILER = "payments-reconciler"  # who the log names for the server's own lookups
DEFAULT_RECENT = frozenset({PaymentStatus.PAID, PaymentStatus.AUTHORISED, PaymentStatus.REFUNDED_PARTLY,
                            PaymentStatus.REFUNDED, PaymentStatus.EXPIRED_UNPAID})


@dataclass(frozen=True)
class RecentPayment:
    """One session of the recent-payments view with its payment status."""

    session_id: str
    environment: str
    order_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    amount: Decimal | None
    currency: str | None
    state: PaymentState


@dataclass(frozen=True)
class PaidNotice:
    """A payment newly known on a creator's session (a toast): ``seq`` is the next marker."""

    session_id: str
    order_id: str
    text: str
    seq: int


_shared_lock = threading.Lock()
_shared: dict[str, PaymentsService] = {}


def _today_utc(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date(), time(), UTC)


def _as_transaction(record: TransactionRecord) -> Transaction:
    """What the client needs to know of a recorded transaction (its facts for the log entry)."""
    return Transaction(record.transaction_id, record.status, record.reason, record.order_id, record.amount,
                       record.currency, record.capture, record.captured, record.refunded, record.created)


class PaymentsService:
    def __init__(self, sessions: SessionsService) -> None:
        self.sessions = sessions
        self.log = sessions.log
        self.store = SqlitePaymentStore(sessions.db_path)
        self.receiver = WebhookReceiver(self.log, self.store, key_of=settings.webhook_key,
                                        lookup_client=self.lookup_client, clock=lambda: self.clock())

    @classmethod
    def for_console(cls, sessions: SessionsService) -> PaymentsService:
        return cls(sessions)

    @classmethod
    def shared(cls) -> PaymentsService:
        """The process's one service on the configured database and the local sandbox, built on first
        use (what the webhook route answers with; the pages build theirs on the frame's sessions)."""
        key = str(settings.ops_db_path())
        with _shared_lock:
            if key not in _shared:
                _shared[key] = cls(SessionsService.with_local_sandbox(Path(key)))
            return _shared[key]

    def clock(self) -> datetime:
        return self.sessions.clock()

    def client(self, env_name: str, operator: str) -> PaymentsClient:
        return PaymentsClient(self.sessions.environment(env_name), operator=operator, log=self.log, clock=self.clock)

    def lookup_client(self, env_name: str) -> PaymentsClient:
        """The client that confirms webhooks: short timeouts, so the answer stays within 10 s."""
        env = self.sessions.environment(env_name)
        env = replace(env, connect_timeout=min(env.connect_timeout, LOOKUP_TIMEOUTS[0]),
                      read_timeout=min(env.read_timeout, LOOKUP_TIMEOUTS[1]))
        return PaymentsClient(env, operator=WEBHOOK_OPERATOR, log=self.log, clock=self.clock)

    # --- webhooks -------------------------------------------------------------------------------
    def receive_webhook(self, environment: str, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """One delivery, raw: verified, recorded, confirmed by a lookup (``lib.payments.webhooks``)."""
        return self.receiver.receive(environment, body, headers)

    # --- status -------------------------------------------------------------------------------------
    def statuses(self, sessions: Sequence[Session]) -> dict[str, PaymentState]:
        """The payment status of many sessions in one query (the Active sessions grid, every second)."""
        known = self.store.for_sessions([s.session_id for s in sessions])
        now = self.clock()
        return {s.session_id: derive(s.session_id, known[s.session_id], expired=s.expired(now)) for s in sessions}

    def active_statuses(self, session_ids: Sequence[str]) -> dict[str, PaymentState]:
        """:meth:`statuses` for sessions known to be live (the Active grid's ``Session`` column):
        one query, no session rows needed."""
        known = self.store.for_sessions(session_ids)
        return {s: derive(s, known[s], expired=False) for s in session_ids}

    def status(self, session_id: str) -> PaymentState:
        return self.statuses([self.sessions.session(session_id)])[session_id]

    def transactions_of(self, session_id: str) -> list[TransactionRecord]:
        """Every transaction known for a session, newest first (declined attempts included)."""
        found = self.store.for_sessions([session_id])[session_id]
        return sorted(found, key=lambda t: t.created or t.known_at, reverse=True)

    def transaction(self, env_name: str, transaction_id: str) -> TransactionRecord:
        record = self.store.transaction(env_name, transaction_id)
        if record is None:
            raise PaymentNotFound(f"transaction {transaction_id} is not known in {env_name}")
        return record

    def operations(self, env_name: str, transaction_id: str) -> list[Operation]:
        return self.store.operations(env_name, transaction_id)

    def undecided(self, env_name: str, transaction_id: str) -> list[Operation]:
        """The operations on a transaction that got no answer and are not settled yet (never resent:
        looked up, and settled by a person when the lookup cannot say)."""
        return [op for op in self.operations(env_name, transaction_id) if op.state == UNKNOWN]

    def confirmation_needed(self, env_name: str, record: TransactionRecord, operation: str,
                            typed: str | None) -> str | None:
        """In a live environment, what the person must type to confirm ``operation`` of ``typed``
        (``12.50 GBP``: what would move); None outside live, or while the amount is not readable
        (the form shows that at its field)."""
        try:
            live = self.sessions.environment(env_name).live
        except ConfigError:  # not configured (any more): the operation itself is refused and says why
            return None
        if not live or not record.currency:
            return None
        try:
            amount = typed_amount(typed, record.currency) if typed and typed.strip() else None
        except InvalidRequest:
            return None
        moved = amount if amount is not None else (
            record.left_to_capture if operation == "capture" else record.amount)
        return None if moved is None else live_safety.confirmation_text(moved, record.currency)

    def recent(self, env_name: str, *, statuses: Iterable[PaymentStatus] | None = DEFAULT_RECENT,
               order_id: str | None = None, creator: str | None = None, since: datetime | None = None,
               include_qa: bool = False) -> list[RecentPayment]:
        """Sessions created since ``since`` (default: today, UTC) with their payment status, newest
        first, kept when their status is in ``statuses`` (None: any). Two queries, whatever the count."""
        now = self.clock()
        rows = self.store.recent_sessions(env_name, since or _today_utc(now), creator=creator, order_id=order_id)
        rows = [r for r in rows if include_qa or not any(t.startswith(QA_TAG_PREFIX) for t in _tags(r["tags"]))]
        known = self.store.for_sessions([r["session_id"] for r in rows])
        wanted = None if statuses is None else frozenset(statuses)
        found = []
        for r in rows:
            expires_at = parse_utc(r["expires_at"])
            state = derive(r["session_id"], known[r["session_id"]], expired=now >= expires_at)
            if wanted is None or state.status in wanted:
                found.append(RecentPayment(r["session_id"], r["environment"], r["order_id"], r["created_by"],
                                           parse_utc(r["created_at"]), expires_at,
                                           None if r["amount"] is None else Decimal(r["amount"]), r["currency"], state))
        return found

    # --- telling the creator -----------------------------------------------------------------------
    def paid_marker(self) -> int:
        """Where a new browser session starts counting "newly paid" from (nothing before it is news)."""
        return self.store.last_paid_seq()

    def newly_paid(self, creator: str, marker: int) -> tuple[list[PaidNotice], int]:
        """Payments first known after ``marker`` on ``creator``'s sessions, and the next marker."""
        found = self.store.paid_since(creator, marker)
        notices = [PaidNotice(str(t.session_id), order, derive(str(t.session_id), [t], expired=False).text,
                              int(t.paid_seq or 0)) for t, order in found]
        return notices, max([marker, *(n.seq for n in notices)])

    # --- lookups --------------------------------------------------------------------------------------
    def look_up(self, env_name: str, who: Identity, transaction_id: str) -> TransactionRecord:
        """Ask the API for a transaction and record what it says (settling operations with no answer
        when its figures allow). ``NotFound`` when the API does not know it."""
        events.enforce(self.log, who, "view_session")
        self.client(env_name, who.operator).transaction(transaction_id, record=self._recorder(env_name))
        return self.transaction(env_name, transaction_id)

    def _recorder(self, env_name: str) -> Callable[[Database, int, Transaction | None], None]:
        def record(db: Database, seq: int, txn: Transaction | None) -> None:
            if txn is not None:
                self.store.record_lookup(db, env_name, txn, seq=seq, now=self.clock())
        return record

    def reconcile_session(self, who: Identity, session_id: str) -> Reconciled:
        """On demand: list the session's order's transactions and record them (idempotent)."""
        events.enforce(self.log, who, "view_session")
        session = self.sessions.session(session_id)
        client = self.client(session.environment, who.operator)
        return reconcile_order(client, self.store, session.environment, session_id, session.order_id, self.clock)

    def reconcile_due(self, env_name: str, operator: str = RECONCILER, *,
                      within: timedelta = timedelta(days=1), limit: int = 20) -> list[Reconciled]:
        """The sessions that expired (in the last ``within``) with no payment known and were not
        looked at since: list their orders' transactions. The first failed lookup ends the round
        (the API is down, or does not list transactions): the rest wait for the next one."""
        now = self.clock()
        client = self.client(env_name, operator)
        done = []
        for session_id, order_id in self.store.due_for_reconciliation(env_name, now, now - within)[:limit]:
            try:
                done.append(reconcile_order(client, self.store, env_name, session_id, order_id, self.clock))
            except ApiError:
                break
        return done

    def sweep(self) -> int:
        """:meth:`reconcile_due` in every configured environment (the server runs it every
        ``settings.reconcile_every_s()``, 30 s by default); how many sessions were reconciled."""
        return sum(len(self.reconcile_due(env)) for env in self.sessions.environments())

    # --- money ------------------------------------------------------------------------------------
    def capture(self, env_name: str, who: Identity, transaction_id: str, amount: str | None = None, *,
                confirm: str | None = None) -> MoneyResult:
        """Capture an authorisation: all of it, or ``amount`` (typed text; the rest is released)."""
        return self._operate("capture", env_name, who, transaction_id, amount, None, confirm)

    def void(self, env_name: str, who: Identity, transaction_id: str, *, confirm: str | None = None) -> MoneyResult:
        """Release an authorisation not captured."""
        return self._operate("void", env_name, who, transaction_id, None, None, confirm)

    def refund(self, env_name: str, who: Identity, transaction_id: str, amount: str, reference: str, *,
               confirm: str | None = None) -> MoneyResult:
        """Refund ``amount`` (typed text) of what was captured, with a statement ``reference``."""
        return self._operate("refund", env_name, who, transaction_id, amount, reference, confirm)

    def _operate(self, operation: Action, env_name: str, who: Identity, transaction_id: str, typed: str | None,
                 reference: str | None, confirm: str | None) -> MoneyResult:
        events.enforce(self.log, who, operation, env_name)
        before = self.transaction(env_name, transaction_id)
        currency = before.currency or ""
        amount = typed_amount(typed, currency) if typed is not None and typed.strip() else None
        if operation == "refund" and amount is None:
            raise InvalidRequest([Problem(parameter="amount", reason="amount can not be empty")])
        body: dict[str, Any] = {} if amount is None else {"amount": amount}
        if reference is not None:
            body["reference"] = reference
        ActionRequest.parse(operation, body, currency)  # every field problem at once, nothing reserved yet
        rules.check(operation, before, amount)
        moved = amount if amount is not None else (before.left_to_capture if operation == "capture" else before.amount)
        live_safety.guard(self.sessions.environment(env_name).live, moved or Decimal(0), currency, confirm)
        op_id = self.store.reserve(env_name, transaction_id, operation, amount, reference, who.operator, self.clock(),
                                   lambda record: rules.check(operation, record, amount))
        return self._send(operation, env_name, who, before, body, op_id, amount)

    def _send(self, operation: str, env_name: str, who: Identity, before: TransactionRecord, body: dict[str, Any],
              op_id: int, amount: Decimal | None) -> MoneyResult:
        def taken(db: Database, seq: int, result: ActionResult) -> None:
            self.store.apply_operation(db, env_name, before.transaction_id, operation, amount, seq=seq, now=self.clock())
            self.store.finish(db, op_id, DONE, seq=seq, action_id=result.action_id)

        def unknown(db: Database, seq: int) -> None:
            self.store.finish(db, op_id, UNKNOWN, seq=seq)

        client = self.client(env_name, who.operator)
        try:
            result = client.act(operation, before.transaction_id, body, about=_as_transaction(before),
                                session_id=before.session_id, record=taken, on_unknown=unknown)
        except UnknownOutcome:
            self._look_up_quietly(client, env_name, before.transaction_id)  # never resent: asked instead
            raise
        except ApiError as exc:
            sent = exc.status is not None
            self.store.finish(None, op_id, REFUSED if sent else NOT_SENT, seq=exc.entry_seq)
            raise
        except BaseException:
            # The log failed around the call (CallLogUnavailable) or the process is stopping: whether
            # it left is not known here, so the operation holds what it reserved until looked up.
            self.store.finish(None, op_id, UNKNOWN)
            raise
        return MoneyResult(operation, amount, before, self.transaction(env_name, before.transaction_id),
                           result.action_id, result.entry_seq)

    def settle(self, env_name: str, who: Identity, op_id: int, *, took_effect: bool, note: str = "") -> int:
        """A person settles an operation that got no answer, when the API's answer cannot (no
        figures): a ``payment_resolution`` entry says who decided what; ``took_effect`` applies
        the operation to the record in the same transaction. Returns the entry's seq."""
        op = self.store.operation(op_id)
        if op is None or op.environment != env_name or op.state != UNKNOWN:
            raise LookupError(f"operation {op_id} in {env_name} is not waiting to be settled")
        events.enforce(self.log, who, cast(Action, op.operation), env_name)

        def then(db: Database, seq: int) -> None:
            if took_effect:
                self.store.apply_operation(db, env_name, op.transaction_id, op.operation, op.amount, seq=seq,
                                           now=self.clock())
            self.store.finish(db, op_id, SETTLED, seq=seq)

        return self.log.append(RESOLUTION, operator=who.operator, environment=env_name, method="POST",
                               path=f"/v1/transactions/{op.transaction_id}/{op.operation}",
                               amount=op.amount, detail={"operation_id": op_id, "took_effect": took_effect,
                                                         "note": note.strip(), "request_seq": op.entry_seq},
                               then=then)

    def _look_up_quietly(self, client: PaymentsClient, env_name: str, transaction_id: str) -> None:
        """After an unknown outcome: record what the API says now, if it answers (it may not)."""
        with suppress(ApiError):
            client.transaction(transaction_id, record=self._recorder(env_name))


def _tags(text: Any) -> list[str]:
    try:
        value = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        return []
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def webhook_routes(service: Callable[[], PaymentsService] | None = None) -> list[Route]:
    """The Starlette routes serving ``/webhooks/acquired/{environment}`` (``lib.payments.route``),
    answered by ``service()`` (default: :meth:`PaymentsService.shared`)."""
    factory = service or PaymentsService.shared
    return routes(lambda: factory().receiver)


def payments_lifespan(service: Callable[[], PaymentsService] | None = None) -> Callable[[Any], Any]:
    """The server's lifespan: :meth:`PaymentsService.sweep` every ``settings.reconcile_every_s()``.

    Built before the server accepts a connection, so it also turns Nagle's algorithm off for the
    server's connections (``lib.common.tcp``): a webhook must be answered at once, not 40 ms late."""
    nodelay_on_accepted_connections()
    factory = service or PaymentsService.shared
    return sweeping(lambda: factory().sweep(), settings.reconcile_every_s())

