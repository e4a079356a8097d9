"""The sessions service: everything the session pages do and show, one call each, typed.

Pages and ``ui/`` reach the sessions area only through this module. A :class:`SessionsService`
holds the process-wide pieces (the call log and session registry on one SQLite file, the
running sandbox's address, the clock) and carries the rules that must hold whatever a page shows:
who may act where (``lib.access``), the environment a session belongs to, expiry, the live-money
checks, masking personal data for the roles that must not see it. The HTTP client sends and
logs; what it returns is recorded in the registry here, in the same transaction as the log entry.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from lib import settings
from lib.access import events, masking
from lib.access.policy import Identity
from lib.api.client import Client, Created, Updated
from lib.api.errors import ApiError, NetworkError, UnknownOutcome, ValidationFailed
from lib.audit.interface import AuditStore
from lib.audit.store import SqliteAuditStore
from lib.calllog.interface import CallLogStore
from lib.calllog.log import CallLog
from lib.common.timefmt import local as local_time
from lib.common.timefmt import utc_now, zone
from lib.fields.schema import AMOUNT, CURRENCY, ORDER_ID, Leaf, TransactionFacts, currency_label, leaf, leaves, title_of
from lib.fields.validation import InvalidRequest, Problem, SessionRequest, SessionUpdate, merge
from lib.sandbox.runtime import ensure_sandbox
from lib.sessions import form_values, links, live_safety, reconcile, registry
from lib.sessions.form_values import (
    amount_rules,
    check_create,
    curl_command,
    describe,
    is_empty,
    preview_json,
    update_defaults,
    update_values,
)
from lib.sessions.interface import SessionStore
from lib.sessions.live_safety import LiveConfirmationRequired, LiveLimitExceeded, LiveSafetyError
from lib.sessions.models import (
    QA_TAG_PREFIX,
    RECREATES_TAG_PREFIX,
    Call,
    Change,
    OrderHasLiveSession,
    PendingUpdate,
    Session,
    SessionElsewhere,
    SessionExpired,
    SessionNotFound,
    SessionView,
    UnknownAttempt,
    UpdatePreview,
    Version,
    amount_text,
    calls_of,
    unanswered_update,
)
from lib.sessions.reconcile import Unanswered
from lib.sessions.recorder import RegistryRecorder
from lib.sessions.registry import Registry
from lib.sessions.rows import (
    active_columns,
    active_rows,
    call_rows,
    change_rows,
    expired_rows,
    session_label,
    version_rows,
)
from lib.sessions.sharing import Countdown, Share, countdown_at, live_confirmation_text, share
from lib.sessions.unanswered_calls import UnansweredCalls
from lib.settings import ConfigError, Environment, ops_db_path

WEBHOOK_URL = "webhook_url"  # the field the API posts payment outcomes to (top level: not a dotted path)

__all__ = [  # what pages and ui/ use of the sessions area, besides the service itself
    "AMOUNT", "CURRENCY", "ORDER_ID", "QA_TAG_PREFIX", "ApiError", "Call", "ConfigError", "Countdown", "Created",
    "Environment", "InvalidRequest", "Leaf", "TransactionFacts", "LiveConfirmationRequired", "LiveLimitExceeded", "LiveSafetyError",
    "NetworkError", "Problem", "Session", "Share", "UnknownOutcome", "Updated", "ValidationFailed", "countdown_at",
    "live_confirmation_text", "local_time", "zone", "OrderHasLiveSession", "PendingUpdate", "SessionElsewhere",
    "SessionExpired", "SessionNotFound", "SessionView", "UnknownAttempt", "UpdatePreview", "Unanswered", "amount_text", "Version", "active_columns", "amount_rules", "call_rows", "change_rows",
    "check_create", "curl_command", "currency_label", "describe", "is_empty", "expired_rows", "form_defaults", "leaf",
    "leaves", "preview_json", "session_label", "title_of", "update_defaults", "update_values", "version_rows",
]


def form_defaults() -> dict[str, Any]:
    """Prefilled values of the New session form, by field path (``[form_defaults]``)."""
    return settings.form_defaults()


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    return tuple(Change(c["path"], c["before"], c["after"]) for c in registry.diff_params(before, after))


def _masked_session(session: Session) -> Session:
    return replace(session, params=dict(masking.mask_params(session.params)))


def _masked_version(version: Version) -> Version:
    changes = tuple(Change(c.path, masking.mask_value(c.path, c.before), masking.mask_value(c.path, c.after))
                    for c in version.changes)
    return replace(version, params=dict(masking.mask_params(version.params)), changes=changes)


@dataclass
class SessionsService:
    sandbox_base_url: str
    db_path: Path = field(default_factory=ops_db_path)
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        # The stores, by their interfaces (lib.<area>.interface); SQLite, in the one console database.
        self.log: CallLogStore = CallLog(self.db_path)
        self.registry: SessionStore = Registry(self.db_path)
        self.audit: AuditStore = SqliteAuditStore(self.log.db_path)

    @classmethod
    def with_local_sandbox(cls, db_path: Path) -> SessionsService:
        """The service of a console process: the local sandbox started (or found running) once."""
        return cls(sandbox_base_url=ensure_sandbox().base_url, db_path=db_path)

    # --- environments ------------------------------------------------------------------------
    def environments(self) -> list[str]:
        """The sandbox, plus each real environment whose credentials are configured."""
        return settings.configured_environments()

    def environment(self, name: str) -> Environment:
        return settings.environment(name, sandbox_base_url=self.sandbox_base_url)

    def client(self, env_name: str, operator: str, *, tags: Sequence[str] = (),
               headers: Mapping[str, str] | None = None) -> Client:
        return Client(self.environment(env_name), operator=operator, log=self.log, tags=tags,
                      headers=headers, clock=self.clock, recorder=RegistryRecorder())

    # --- finance -----------------------------------------------------------------------------
    def _live_check(self, env_name: str, params: Mapping[str, Any], confirm: str | None) -> None:
        """In a live environment: the amount that would be sent is under the ceiling and was typed."""
        facts = TransactionFacts.of(params)
        live_safety.guard(self.environment(env_name).live, facts.amount or Decimal(0), facts.currency or "", confirm)

    def create(self, env_name: str, who: Identity, values: Mapping[str, Any], *, confirm: str | None = None) -> Created:
        """Pre-check the form values (raising :class:`InvalidRequest` with every problem), then create.

        ``confirm`` is what the operator typed to confirm a live amount (``15.02 GBP``). Unless the
        person set a webhook URL, the session carries the console's own (``settings.webhook_url``)."""
        events.enforce(self.log, who, "create", env_name)
        hook = settings.webhook_url(env_name)
        if hook and is_empty(values.get(WEBHOOK_URL)):
            values = {**values, WEBHOOK_URL: hook}
        body, problems = check_create(values)
        if problems:
            raise InvalidRequest(problems)
        self._live_check(env_name, body, confirm)
        return self.client(env_name, who.operator).create_session(SessionRequest(body))

    def recreate(self, env_name: str, who: Identity, session_id: str, *, confirm: str | None = None,
                 second_live: bool = False) -> Created:
        """A new session with the latest parameters of an old one, same order id, tagged with the old id.

        Refused with :class:`OrderHasLiveSession` while the order already has a live session (a
        successor recreated from another page or tab, say) unless ``second_live`` says the person
        saw that warning and wants a second live link anyway."""
        events.enforce(self.log, who, "create", env_name)
        session = self.session(session_id)
        self._check_environment(session, env_name)
        live = self.other_active_for_order(env_name, session.order_id)
        if live and not second_live:
            raise OrderHasLiveSession(session.order_id, live)
        self._live_check(env_name, session.params, confirm)
        return self.client(env_name, who.operator).create_session(
            SessionRequest.parse(session.params), tags=(f"{RECREATES_TAG_PREFIX}{session_id}",))

    def preview_update(self, session: Session, values: Mapping[str, Any]) -> UpdatePreview:
        """What the Update form's ``values`` would send for ``session``, checked, nothing sent."""
        patch, merged, problems = form_values.check_update(session.params, update_values(session.params, values))
        return UpdatePreview(patch, merged, problems, changes_between(session.params, merged))

    def update(self, env_name: str, who: Identity, session_id: str, values: Mapping[str, Any], *,
               confirm: str | None = None) -> Updated:
        """Send only what changed; refuse an expired session before anything goes out."""
        session = self._updatable(env_name, who, session_id)
        preview = self.preview_update(session, values)
        if preview.problems:
            raise InvalidRequest(preview.problems)
        if not preview.patch:
            raise InvalidRequest([Problem(parameter="body", reason="nothing changed: there is no update to send")])
        self._live_check(env_name, preview.merged, confirm)
        return self.client(env_name, who.operator).update_session(
            session_id, SessionUpdate.parse(session.params, preview.patch), current=session.params)

    def resend_update(self, env_name: str, who: Identity, session_id: str, patch: Mapping[str, Any], *,
                      confirm: str | None = None) -> Updated:
        """Send again an update whose outcome was unknown (the person decided to). When the first
        one had no answer recorded at all, the log also gets its resolution (``resent``)."""
        session = self._updatable(env_name, who, session_id)
        pending = self.pending_update(session_id)
        self._live_check(env_name, merge(session.params, patch), confirm)
        updated = self.client(env_name, who.operator).update_session(
            session_id, SessionUpdate.parse(session.params, patch), current=session.params)
        if pending is not None and pending.call.outcome == "in_flight" and pending.call.attempt_id:
            attempt = self.unanswered_calls.attempt(pending.call.attempt_id)
            if attempt is not None:
                reconcile.resolve(self.log, attempt, operator=who.operator, resolution="resent",
                                  note=f"sent again as attempt {updated.attempt_id} (entry {updated.entry_seq})")
        return updated

    @staticmethod
    def belongs_to(session: Session, env_name: str) -> bool:
        """A session is acted on only in the environment it was created in (its id means nothing elsewhere)."""
        return session.environment == env_name

    def _check_environment(self, session: Session, env_name: str) -> None:
        if not self.belongs_to(session, env_name):
            raise SessionElsewhere(session.session_id, session.environment, env_name)

    def _updatable(self, env_name: str, who: Identity, session_id: str) -> Session:
        """The session once ``who`` may update in ``env_name``, it belongs there and has not expired."""
        events.enforce(self.log, who, "update", env_name)
        session = self.session(session_id)
        self._check_environment(session, env_name)
        if session.expired(self.clock()):
            raise SessionExpired(session_id, session.expires_at)
        return session

    def other_active_for_order(self, env_name: str, order_id: str) -> list[Session]:
        """Active sessions already open for an order id (a warning, not a block)."""
        if not order_id:
            return []
        return [Session.from_row(r) for r in self.registry.active_for_order(env_name, order_id, self.clock())]

    # --- reading -----------------------------------------------------------------------------
    def session(self, session_id: str, *, mask: bool = False) -> Session:
        row = self.registry.get(session_id)
        if row is None:
            raise SessionNotFound(f"session {session_id} was not created through this console")
        session = Session.from_row(row)
        return _masked_session(session) if mask else session

    @staticmethod
    def masked(params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters (or a patch) with customer personal data masked, for the roles that see shapes only."""
        return dict(masking.mask_params(params))

    def history(self, session_id: str, *, mask: bool = False) -> list[Version]:
        versions = [Version.from_row(v) for v in self.registry.history(session_id)]
        return [_masked_version(v) for v in versions] if mask else versions

    def active(self, env_name: str, *, operator: str | None = None, include_qa: bool = False,
               with_params: bool = True) -> list[Session]:
        """Sessions not yet expired, soonest to expire first; QA runs' sessions only when asked."""
        rows = self.registry.active(env_name, self.clock(), created_by=operator, with_params=with_params)
        sessions = [Session.from_row(r) for r in rows]
        return sessions if include_qa else [s for s in sessions if not s.is_qa]

    def recently_expired(self, env_name: str, *, operator: str | None = None, include_qa: bool = False,
                         within: timedelta = timedelta(hours=1)) -> list[Session]:
        sessions = [Session.from_row(r) for r in self.registry.recently_expired(env_name, self.clock(), within=within)]
        return [s for s in sessions if (include_qa or not s.is_qa) and (operator is None or s.created_by == operator)]

    def recent(self, env_name: str, *, within: timedelta = timedelta(days=1), include_qa: bool = False) -> list[Session]:
        """Active and recently expired sessions of an environment, newest first (the detail page's picker)."""
        sessions = self.active(env_name, include_qa=include_qa) + \
            self.recently_expired(env_name, include_qa=include_qa, within=within)
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    def payment_link(self, env_name: str, session_id: str) -> str:
        return links.payment_link(self.environment(env_name).checkout_url_template, session_id, environment=env_name)

    def link_or_reason(self, env_name: str, session_id: str) -> tuple[str | None, str | None]:
        """(payment link, None), or (None, why there is none: the setting to configure)."""
        try:
            return self.payment_link(env_name, session_id), None
        except ConfigError as exc:
            return None, str(exc)

    def share(self, session: Session, tz: tzinfo) -> Share:
        """The link, and while the session is live the customer's message and QR code."""
        link, problem = self.link_or_reason(session.environment, session.session_id)
        return share(link, problem, amount=session.amount, currency=session.currency, expires_at=session.expires_at,
                     tz=tz, expired=session.expired(self.clock()))

    def view(self, session_id: str, *, mask: bool = False) -> SessionView:
        unanswered = self.unanswered_calls.of_session(session_id)  # first: it may mark the session uncertain
        session = self.session(session_id, mask=mask)
        link, link_error = self.link_or_reason(session.environment, session_id)
        return SessionView(session, tuple(self.history(session_id, mask=mask)), tuple(self.calls(session_id)),
                           link, link_error, tuple(unanswered))

    # --- session pages (Active sessions, Update amount, Session detail) --------------------------
    def active_table(self, env_name: str, *, operator: str | None = None,
                     include_qa: bool = False) -> list[dict[str, Any]]:
        """The Active sessions grid, one query plus formatting: what the ticking fragment runs
        every second (parameters left out, see ``Registry.active``; bench/active_sessions.py)."""
        sessions = self.active(env_name, operator=operator, include_qa=include_qa, with_params=False)
        return active_rows(sessions, self.clock())

    def calls(self, session_id: str) -> list[Call]:
        """Every API call about a session, request and result folded into one, oldest first."""
        return calls_of(self.audit.session_timeline(session_id), reconcile.RESOLUTION)

    def pending_update(self, session_id: str) -> PendingUpdate | None:
        """The update whose outcome is unknown, with the exact patch that was sent; None when the
        session is not marked ``amount_uncertain`` or a later update succeeded. An update with no
        answer recorded counts once no answer can come (and marks the session uncertain)."""
        self.unanswered_calls.of_session(session_id)
        session = self.session(session_id)
        if not session.uncertain:
            return None
        stale_before = self.clock() - self.unanswered_calls.answer_deadline(session.environment)
        call = unanswered_update(self.calls(session_id), stale_before=stale_before)
        if call is None or call.attempt_id is None:
            return None
        for entry in self.audit.attempt(call.attempt_id):
            if entry["kind"] == "api_request" and isinstance((entry["detail"] or {}).get("body"), dict):
                return PendingUpdate(call, entry["detail"]["body"])
        return None

    # --- calls with no answer recorded -------------------------------------------------------------
    @property
    def unanswered_calls(self) -> UnansweredCalls:
        """Creates and updates that got no answer, and how a person settles them."""
        return UnansweredCalls(self)
