"""Calls with no answer recorded, and how a person settles them (``lib.sessions.reconcile``).

Kept apart from the sessions service it belongs to (``SessionsService.unanswered_calls``) because
it is a concern of its own: a create or update whose request was logged but whose answer never
was. Its session may be in doubt; a person records what became of it, as a new log entry.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lib.access import events
from lib.access.policy import Identity
from lib.api.client import Created
from lib.calllog.redaction import REDACTED
from lib.common import jsonutil
from lib.fields.validation import InvalidRequest, Problem, SessionRequest
from lib.sessions import reconcile
from lib.sessions.models import UNCERTAIN, UnknownAttempt, unanswered_update
from lib.settings import ConfigError, Environment

if TYPE_CHECKING:  # the service hands itself in; importing it at run time would be a cycle
    from lib.sessions.service import SessionsService


class UnansweredCalls:
    def __init__(self, sessions: SessionsService) -> None:
        self.sessions = sessions

    def answer_deadline(self, env_name: str) -> timedelta:
        """How long after sending no answer can come in ``env_name`` (its connect + read timeouts;
        the defaults for an environment no longer configured)."""
        try:
            env = self.sessions.environment(env_name)
            timeouts = (env.connect_timeout, env.read_timeout)
        except ConfigError:
            timeouts = (Environment.connect_timeout, Environment.read_timeout)
        return reconcile.answer_deadline(*timeouts)

    def all(self, env_name: str, *, within: timedelta = timedelta(days=1)) -> list[reconcile.Unanswered]:
        """Creates and updates of ``env_name`` sent in the last ``within`` with no answer recorded
        and no resolution, oldest first; their sessions are marked amount uncertain meanwhile."""
        now = self.sessions.clock()
        found = reconcile.unanswered(self.sessions.log, now, self.answer_deadline, environment=env_name, since=now - within)
        self._mark_uncertain(found)
        return found

    def of_session(self, session_id: str) -> list[reconcile.Unanswered]:
        """This session's updates with no answer recorded and no resolution (marking it uncertain)."""
        found = reconcile.unanswered(self.sessions.log, self.sessions.clock(), self.answer_deadline, session_id=session_id)
        self._mark_uncertain(found)
        return found

    def _mark_uncertain(self, found: Sequence[reconcile.Unanswered]) -> None:
        """An unresolved update with no answer leaves its session's amount uncertain: say so in the
        registry (where every page reads the state), once."""
        for session_id in {u.request["session_id"] for u in found if u.call == reconcile.UPDATE}:
            row = self.sessions.registry.get(session_id) if session_id else None
            if row is not None and row["state"] != UNCERTAIN:
                with self.sessions.log.failures_explained("written"):
                    self.sessions.registry.set_state(session_id, UNCERTAIN)

    def attempt(self, attempt_id: str) -> reconcile.Unanswered | None:
        found = reconcile.unanswered(self.sessions.log, self.sessions.clock(), self.answer_deadline, attempt_id=attempt_id)
        return found[0] if found else None

    def _settleable(self, who: Identity, attempt_id: str) -> reconcile.Unanswered:
        """The unanswered attempt ``who`` may settle (create or update rights in its environment)."""
        attempt = self.attempt(attempt_id)
        if attempt is None:
            raise UnknownAttempt(f"attempt {attempt_id} has an answer or a resolution already, or is still under way")
        events.enforce(self.sessions.log, who, "create" if attempt.call == reconcile.CREATE else "update",
                       attempt.request["environment"])
        return attempt

    def resolve(self, who: Identity, attempt_id: str, resolution: str, note: str = "") -> int:
        """Record how a person settled an attempt with no answer (a new entry pointing at it)
        and what it implies for the registry: ``took_effect`` applies the update as a new version,
        ``did_not_take_effect`` clears the uncertainty unless another update is still in doubt."""
        attempt = self._settleable(who, attempt_id)
        then = None
        session_id = attempt.request["session_id"]
        if resolution == "recreated":
            raise ValueError("a new session for the same order is made with new_session")
        if attempt.call == reconcile.UPDATE and resolution == "took_effect":
            _refuse_redacted(attempt.body, "recorded as taking effect")

            def then(db: Any, seq: int) -> None:
                self.sessions.registry.record_update(db, session_id=session_id, operator=who.operator, at=self.sessions.clock(),
                                       patch=attempt.body, entry_seq=seq)
        elif attempt.call == reconcile.UPDATE and resolution == "did_not_take_effect":
            session = self.sessions.session(session_id)
            stale_before = self.sessions.clock() - self.answer_deadline(session.environment)
            others = [c for c in self.sessions.calls(session_id) if c.attempt_id != attempt_id]
            if unanswered_update(others, stale_before=stale_before) is None:
                def then(db: Any, seq: int) -> None:
                    self.sessions.registry.mark_state(db, session_id, "ok")
        return reconcile.resolve(self.sessions.log, attempt, operator=who.operator, resolution=resolution, note=note,
                                 then=then)

    def new_session(self, who: Identity, attempt_id: str, *, note: str = "",
                                   confirm: str | None = None) -> Created:
        """A new session with what the unanswered create sent (same order id), then its resolution
        ``recreated`` naming the new session. If the first create did reach the API, two sessions
        are live for the order until the first expires: the page says so before offering this."""
        attempt = self._settleable(who, attempt_id)
        if attempt.call != reconcile.CREATE:
            raise ValueError("only a create attempt is settled with a new session")
        _refuse_redacted(attempt.body, "sent again")
        env_name = attempt.request["environment"]
        self.sessions._live_check(env_name, attempt.body, confirm)
        created = self.sessions.client(env_name, who.operator).create_session(SessionRequest.parse(attempt.body))
        reconcile.resolve(self.sessions.log, attempt, operator=who.operator, resolution="recreated", note=note,
                          new_session_id=created.session_id)
        return created


def _refuse_redacted(body: Mapping[str, Any], doing: str) -> None:
    """The log keeps requests redacted: one that lost a secret cannot be replayed from it."""
    if REDACTED in jsonutil.dumps(body):
        raise InvalidRequest([Problem(parameter="body", reason=(
            f"the logged request had secrets removed ({REDACTED}), so it cannot be {doing} from the log: "
            "use the New session or Update page"))])
