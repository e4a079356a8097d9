"""What the dashboard's pages do, one call each: the pages only draw widgets and render results.

A :class:`Console` holds the process-wide pieces (the call log and session registry on one
SQLite file, the running sandbox's address, the clock) and exposes the operations of finance,
QA and audit staff with the checks that must hold whatever the UI shows.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from lib.access import policy as access
from lib.audit import queries as audit
from lib import settings
from lib.sessions import form_values as forms
from lib.common import jsonutil
from lib.sessions import links
from lib.sessions import live_safety
from lib.sessions import reconcile
from lib.sessions import registry
from lib.sessions import rows as session_rows
from lib.access.policy import Identity
from lib.calllog.log import CallLog, default_db_path
from lib.api.client import Client, Created, Updated, utc_now
from lib.settings import ConfigError, Environment
from lib.storage.db import connect, immediate
from lib.calllog.redaction import REDACTED
from lib.sessions.registry import Registry
from lib.fields.validation import InvalidRequest, Problem, SessionRequest, SessionUpdate, merge

QA_TAG_PREFIX = "qa-run:"
RECREATES_TAG_PREFIX = "recreates:"  # on a session recreated from an expired one: ``recreates:<old id>``


class SessionExpired(Exception):
    """The session's 10 minutes are over: it cannot be updated, only recreated."""

    def __init__(self, session_id: str, expired_at: datetime) -> None:
        super().__init__(f"session {session_id} expired at {expired_at:%Y-%m-%d %H:%M:%S} UTC")
        self.session_id = session_id
        self.expired_at = expired_at


class UnknownSession(LookupError):
    """Not a session this console created (the API offers no way to look one up)."""


class SessionElsewhere(LookupError):
    """The session was created in another environment than the one the person is working in."""

    def __init__(self, session_id: str, environment: str, chosen: str) -> None:
        super().__init__(f"session {session_id} belongs to {environment}, not {chosen}: switch the environment")
        self.environment = environment


class OrderHasLiveSession(Exception):
    """Recreating would open a second live link for an order that already has one (``live``)."""

    def __init__(self, order_id: str, live: list[dict[str, Any]]) -> None:
        ids = ", ".join(s["session_id"] for s in live)
        super().__init__(f"order {order_id} already has a live session ({ids}): recreating would make a second "
                         "live link for the same order")
        self.order_id = order_id
        self.live = live


@dataclass(frozen=True)
class SessionView:
    """Everything the detail page shows about one session."""

    session: dict[str, Any]
    history: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    link: str | None
    link_error: str | None
    unanswered: list[reconcile.Unanswered] = field(default_factory=list)  # its updates with no answer recorded


@dataclass(frozen=True)
class PendingUpdate:
    """An update that was sent and got no answer: the API holds either the registry's parameters
    or those plus ``patch``. ``patch`` is read back from the log, so a resend survives a reload."""

    call: session_rows.Call
    patch: dict[str, Any]


@dataclass
class Console:
    sandbox_base_url: str
    db_path: Path = field(default_factory=default_db_path)
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        self.log = CallLog(self.db_path)
        self.registry = Registry(self.db_path)

    # --- environments ------------------------------------------------------------------------
    def environments(self) -> list[str]:
        """The sandbox, plus each real environment whose credentials are configured."""
        return settings.configured_environments()

    def environment(self, name: str) -> Environment:
        return settings.environment(name, sandbox_base_url=self.sandbox_base_url)

    def client(self, env_name: str, operator: str, *, tags: Sequence[str] = (),
               headers: Mapping[str, str] | None = None) -> Client:
        return Client(self.environment(env_name), operator=operator, log=self.log, tags=tags,
                      headers=headers, clock=self.clock)

    # --- finance -----------------------------------------------------------------------------
    def _live_check(self, env_name: str, params: Mapping[str, Any], confirm: str | None) -> None:
        """In a live environment: the amount that would be sent is under the ceiling and was typed."""
        transaction = params.get("transaction") or {}
        live_safety.guard(self.environment(env_name).live, Decimal(str(transaction.get("amount", 0))),
                          str(transaction.get("currency") or ""), confirm)

    def create(self, env_name: str, who: Identity, values: Mapping[str, Any], *, confirm: str | None = None) -> Created:
        """Pre-check the form values (raising :class:`InvalidRequest` with every problem), then create.

        ``confirm`` is what the operator typed to confirm a live amount (``15.02 GBP``)."""
        access.enforce(self.log, who, "create", env_name)
        body, problems = forms.check_create(values)
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
        access.enforce(self.log, who, "create", env_name)
        row = self.session_row(session_id)
        if not self.belongs_to(row, env_name):
            raise SessionElsewhere(session_id, row["environment"], env_name)
        live = self.other_active_for_order(env_name, row["order_id"])
        if live and not second_live:
            raise OrderHasLiveSession(row["order_id"], live)
        self._live_check(env_name, row["params"], confirm)
        return self.client(env_name, who.operator).create_session(
            SessionRequest.parse(row["params"]), tags=(f"{RECREATES_TAG_PREFIX}{session_id}",))

    def update(self, env_name: str, who: Identity, session_id: str, values: Mapping[str, Any], *,
               confirm: str | None = None) -> Updated:
        """Send only what changed; refuse an expired session before anything goes out."""
        row = self._updatable(env_name, who, session_id)
        patch, merged, problems = forms.check_update(row["params"], values)
        if problems:
            raise InvalidRequest(problems)
        if not patch:
            raise InvalidRequest([Problem(parameter="body", reason="nothing changed: there is no update to send")])
        self._live_check(env_name, merged, confirm)
        return self.client(env_name, who.operator).update_session(session_id, SessionUpdate.parse(row["params"], patch))

    def resend_update(self, env_name: str, who: Identity, session_id: str, patch: Mapping[str, Any], *,
                      confirm: str | None = None) -> Updated:
        """Send again an update whose outcome was unknown (the person decided to). When the first
        one had no answer recorded at all, the log also gets its resolution (``resent``)."""
        row = self._updatable(env_name, who, session_id)
        pending = self.pending_update(session_id)
        self._live_check(env_name, merge(row["params"], patch), confirm)
        updated = self.client(env_name, who.operator).update_session(session_id,
                                                                     SessionUpdate.parse(row["params"], patch))
        if pending is not None and pending.call.outcome == "in_flight" and pending.call.attempt_id:
            attempt = self._unanswered_attempt(pending.call.attempt_id)
            if attempt is not None:
                reconcile.resolve(self.log, attempt, operator=who.operator, resolution="resent",
                                  note=f"sent again as attempt {updated.attempt_id} (entry {updated.entry_seq})")
        return updated

    @staticmethod
    def belongs_to(session: Mapping[str, Any], env_name: str) -> bool:
        """A session is acted on only in the environment it was created in (its id means nothing elsewhere)."""
        return bool(session["environment"] == env_name)

    def _updatable(self, env_name: str, who: Identity, session_id: str) -> dict[str, Any]:
        """The session's row once ``who`` may update in ``env_name``, it belongs there and has not expired."""
        access.enforce(self.log, who, "update", env_name)
        row = self.session_row(session_id)
        if not self.belongs_to(row, env_name):
            raise SessionElsewhere(session_id, row["environment"], env_name)
        if row["expires_at"] <= self.clock():
            raise SessionExpired(session_id, row["expires_at"])
        return row

    def other_active_for_order(self, env_name: str, order_id: str) -> list[dict[str, Any]]:
        """Active sessions already open for an order id (a warning, not a block)."""
        return self.registry.active_for_order(env_name, order_id, self.clock()) if order_id else []

    # --- reading -----------------------------------------------------------------------------
    def session_row(self, session_id: str) -> dict[str, Any]:
        row = self.registry.get(session_id)
        if row is None:
            raise UnknownSession(f"session {session_id} was not created through this console")
        return row

    def active_sessions(self, env_name: str, *, operator: str | None = None, include_qa: bool = False) -> list[dict[str, Any]]:
        rows = self.registry.active(env_name, self.clock(), created_by=operator)
        return rows if include_qa else [r for r in rows if not is_qa(r)]

    def recently_expired(self, env_name: str, *, operator: str | None = None, include_qa: bool = False,
                         within: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]:
        rows = self.registry.recently_expired(env_name, self.clock(), within=within)
        return [r for r in rows if (include_qa or not is_qa(r)) and (operator is None or r["created_by"] == operator)]

    def payment_link(self, env_name: str, session_id: str) -> str:
        return links.payment_link(self.environment(env_name).checkout_url_template, session_id, environment=env_name)

    def link_or_reason(self, env_name: str, session_id: str) -> tuple[str | None, str | None]:
        """(payment link, None), or (None, why there is none: the setting to configure)."""
        try:
            return self.payment_link(env_name, session_id), None
        except ConfigError as exc:
            return None, str(exc)

    def session_view(self, session_id: str) -> SessionView:
        unanswered = self.unanswered_of_session(session_id)  # first: it may mark the session uncertain
        row = self.session_row(session_id)
        link, link_error = self.link_or_reason(row["environment"], session_id)
        return SessionView(row, self.registry.history(session_id), audit.session_timeline(self.db_path, session_id),
                           link, link_error, unanswered)

    # --- session pages (Active sessions, Update amount, Session detail) --------------------------
    def active_table(self, env_name: str, tz: tzinfo, *, operator: str | None = None,
                     include_qa: bool = False) -> list[dict[str, Any]]:
        """The Active sessions grid, one query plus formatting: what the ticking fragment runs
        every second (parameters left out, see ``Registry.active``; bench/active_sessions.py)."""
        now = self.clock()
        sessions = [row for row in self.registry.active(env_name, now, created_by=operator, with_params=False)
                    if include_qa or not is_qa(row)]
        return session_rows.active_rows(sessions, now, tz)

    def expired_table(self, env_name: str, tz: tzinfo, *, operator: str | None = None,
                      include_qa: bool = False) -> tuple[list[str], list[dict[str, Any]]]:
        """(session ids, grid rows) of the last hour's expired sessions; the ids let a button act on
        the row a person selected in exactly the grid they saw."""
        sessions = self.recently_expired(env_name, operator=operator, include_qa=include_qa)
        return [s["session_id"] for s in sessions], session_rows.expired_rows(sessions, self.clock(), tz)

    def recent_sessions(self, env_name: str, *, within: timedelta = timedelta(days=1),
                        include_qa: bool = False) -> list[dict[str, Any]]:
        """Active and recently expired sessions of an environment, newest first (the detail page's picker)."""
        rows = self.active_sessions(env_name, include_qa=include_qa) + \
            self.recently_expired(env_name, include_qa=include_qa, within=within)
        return sorted(rows, key=lambda r: r["created_at"], reverse=True)

    def session_calls(self, session_id: str) -> list[session_rows.Call]:
        """Every API call about a session, request and result folded into one, oldest first."""
        return session_rows.calls_of(audit.session_timeline(self.db_path, session_id))

    def pending_update(self, session_id: str) -> PendingUpdate | None:
        """The update whose outcome is unknown, with the exact patch that was sent; None when the
        session is not marked ``amount_uncertain`` or a later update succeeded. An update with no
        answer recorded counts once no answer can come (and marks the session uncertain)."""
        self.unanswered_of_session(session_id)
        row = self.session_row(session_id)
        if row["state"] != session_rows.UNCERTAIN:
            return None
        stale_before = self.clock() - self.answer_deadline(row["environment"])
        call = session_rows.unanswered_update(self.session_calls(session_id), stale_before=stale_before)
        if call is None or call.attempt_id is None:
            return None
        for entry in audit.attempt(self.db_path, call.attempt_id):
            if entry["kind"] == "api_request" and isinstance((entry["detail"] or {}).get("body"), dict):
                return PendingUpdate(call, entry["detail"]["body"])
        return None


    # --- calls with no answer recorded (lib.sessions.reconcile) ------------------------------------------
    def answer_deadline(self, env_name: str) -> timedelta:
        """How long after sending no answer can come in ``env_name`` (its connect + read timeouts;
        the defaults for an environment no longer configured)."""
        try:
            env = self.environment(env_name)
            timeouts = (env.connect_timeout, env.read_timeout)
        except ConfigError:
            timeouts = (Environment.connect_timeout, Environment.read_timeout)
        return reconcile.answer_deadline(*timeouts)

    def unanswered(self, env_name: str, *, within: timedelta = timedelta(days=1)) -> list[reconcile.Unanswered]:
        """Creates and updates of ``env_name`` sent in the last ``within`` with no answer recorded
        and no resolution, oldest first; their sessions are marked amount uncertain meanwhile."""
        now = self.clock()
        found = reconcile.unanswered(self.log, now, self.answer_deadline, environment=env_name, since=now - within)
        self._mark_uncertain(found)
        return found

    def unanswered_of_session(self, session_id: str) -> list[reconcile.Unanswered]:
        """This session's updates with no answer recorded and no resolution (marking it uncertain)."""
        found = reconcile.unanswered(self.log, self.clock(), self.answer_deadline, session_id=session_id)
        self._mark_uncertain(found)
        return found

    def _mark_uncertain(self, found: Sequence[reconcile.Unanswered]) -> None:
        """An unresolved update with no answer leaves its session's amount uncertain: say so in the
        registry (where every page reads the state), once."""
        for session_id in {u.request["session_id"] for u in found if u.call == reconcile.UPDATE}:
            row = self.registry.get(session_id) if session_id else None
            if row is not None and row["state"] != session_rows.UNCERTAIN:
                with self.log.failures_explained("written"), immediate(connect(self.db_path)) as db:
                    registry.mark_state(db, session_id, session_rows.UNCERTAIN)

    def _unanswered_attempt(self, attempt_id: str) -> reconcile.Unanswered | None:
        found = reconcile.unanswered(self.log, self.clock(), self.answer_deadline, attempt_id=attempt_id)
        return found[0] if found else None

    def _settleable(self, who: Identity, attempt_id: str) -> reconcile.Unanswered:
        """The unanswered attempt ``who`` may settle (create or update rights in its environment)."""
        attempt = self._unanswered_attempt(attempt_id)
        if attempt is None:
            raise UnknownAttempt(f"attempt {attempt_id} has an answer or a resolution already, or is still under way")
        access.enforce(self.log, who, "create" if attempt.call == reconcile.CREATE else "update",
                       attempt.request["environment"])
        return attempt

    def resolve_unanswered(self, who: Identity, attempt_id: str, resolution: str, note: str = "") -> int:
        """Record how a person settled an attempt with no answer (a new entry pointing at it)
        and what it implies for the registry: ``took_effect`` applies the update as a new version,
        ``did_not_take_effect`` clears the uncertainty unless another update is still in doubt."""
        attempt = self._settleable(who, attempt_id)
        then = None
        session_id = attempt.request["session_id"]
        if resolution == "recreated":
            raise ValueError("a new session for the same order is made with new_session_for_unanswered")
        if attempt.call == reconcile.UPDATE and resolution == "took_effect":
            _refuse_redacted(attempt.body, "recorded as taking effect")

            def then(db: Any, seq: int) -> None:
                registry.record_update(db, session_id=session_id, operator=who.operator, at=self.clock(),
                                       patch=attempt.body, entry_seq=seq)
        elif attempt.call == reconcile.UPDATE and resolution == "did_not_take_effect":
            row = self.session_row(session_id)
            stale_before = self.clock() - self.answer_deadline(row["environment"])
            others = [c for c in self.session_calls(session_id) if c.attempt_id != attempt_id]
            if session_rows.unanswered_update(others, stale_before=stale_before) is None:
                def then(db: Any, seq: int) -> None:
                    registry.mark_state(db, session_id, "ok")
        return reconcile.resolve(self.log, attempt, operator=who.operator, resolution=resolution, note=note,
                                 then=then)

    def new_session_for_unanswered(self, who: Identity, attempt_id: str, *, note: str = "",
                                   confirm: str | None = None) -> Created:
        """A new session with what the unanswered create sent (same order id), then its resolution
        ``recreated`` naming the new session. If the first create did reach the API, two sessions
        are live for the order until the first expires: the page says so before offering this."""
        attempt = self._settleable(who, attempt_id)
        if attempt.call != reconcile.CREATE:
            raise ValueError("only a create attempt is settled with a new session")
        _refuse_redacted(attempt.body, "sent again")
        env_name = attempt.request["environment"]
        self._live_check(env_name, attempt.body, confirm)
        created = self.client(env_name, who.operator).create_session(SessionRequest.parse(attempt.body))
        reconcile.resolve(self.log, attempt, operator=who.operator, resolution="recreated", note=note,
                          new_session_id=created.session_id)
        return created


class UnknownAttempt(LookupError):
    """No unanswered, unresolved attempt has this id (settled meanwhile, or still under way)."""


def _refuse_redacted(body: Mapping[str, Any], doing: str) -> None:
    """The log keeps requests redacted: one that lost a secret cannot be replayed from it."""
    if REDACTED in jsonutil.dumps(body):
        raise InvalidRequest([Problem(parameter="body", reason=(
            f"the logged request had secrets removed ({REDACTED}), so it cannot be {doing} from the log: "
            "use the New session or Update page"))])


def is_qa(session: Mapping[str, Any]) -> bool:
    """Sessions a QA run made carry a ``qa-run:<id>`` tag and stay out of finance's lists."""
    return any(str(tag).startswith(QA_TAG_PREFIX) for tag in session.get("tags", []))
