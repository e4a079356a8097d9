"""The typed values the sessions service hands to pages: a session, its versions, its calls.

Frozen dataclasses rather than pydantic models: everything here was validated on its way in (the
field description checks every body, the registry writes typed columns), so a parsing layer
would only repeat that work on each of the Active sessions grid's thousand rows a second, and
dataclasses cost nothing at run time while the type checker reads them like any class.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from lib.calllog.outcome import Outcome
from lib.common.timefmt import parse_utc
from lib.fields import money
from lib.fields.schema import TransactionFacts
from lib.fields.validation import Problem, merge
from lib.sessions.reconcile import Unanswered

UNCERTAIN = "amount_uncertain"  # a session whose last update got no answer: the API may hold either amount
QA_TAG_PREFIX = "qa-run:"  # sessions a QA run made: kept out of finance's lists
RECREATES_TAG_PREFIX = "recreates:"  # on a session recreated from an expired one: ``recreates:<old id>``


def amount_text(amount: Decimal | None, currency: str | None) -> str:
    """``15.02 GBP``, or ``—`` when there is no amount (a row without one, a refused request)."""
    return "—" if amount is None or not currency else money.format_amount(amount, currency)


@dataclass(frozen=True)
class Session:
    """One session this console created, as the registry holds it now."""

    session_id: str
    environment: str
    order_id: str
    amount: Decimal | None
    currency: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    tags: tuple[str, ...]
    version: int
    updates: int
    state: str
    create_seq: int
    params: dict[str, Any] = field(default_factory=dict)  # empty where a list left them out (the grid)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Session:
        return cls(row["session_id"], row["environment"], row["order_id"], row["amount"], row["currency"],
                   row["created_by"], row["created_at"], row["expires_at"], tuple(row["tags"]), row["version"],
                   row["updates"], row["state"], row["create_seq"], row.get("params") or {})

    @property
    def uncertain(self) -> bool:
        return self.state == UNCERTAIN

    @property
    def is_qa(self) -> bool:
        return any(tag.startswith(QA_TAG_PREFIX) for tag in self.tags)

    @property
    def amount_text(self) -> str:
        return amount_text(self.amount, self.currency)

    def expired(self, now: datetime) -> bool:
        """From the expiry instant on the API counts the session gone."""
        return now >= self.expires_at


@dataclass(frozen=True)
class Change:
    """One field that differs between two versions (``None`` on the side that lacks it)."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Version:
    """One version of a session's parameters: 1 is the create, each accepted update adds one."""

    version: int
    at: datetime
    operator: str
    params: dict[str, Any]
    changes: tuple[Change, ...]
    entry_seq: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Version:
        changes = tuple(Change(c["path"], c["before"], c["after"]) for c in row["changes"])
        return cls(row["version"], row["at"], row["operator"], row["params"], changes, row["entry_seq"])


@dataclass(frozen=True)
class Call:
    """One API call about a session: its request and (when it finished) its result."""

    seq: int  # the entry to open: the result when there is one, else the request
    at: datetime
    operator: str
    method: str
    path: str
    outcome: Outcome | str  # an Outcome, or a value a newer writer recorded
    http_status: int | None
    duration_ms: float | None
    attempt_id: str | None

    @property
    def label(self) -> str:
        return Outcome.label_of(self.outcome)


def calls_of(timeline: Sequence[Mapping[str, Any]], resolution_kind: str) -> list[Call]:
    """Fold log entries (request + result per attempt) into one call each, oldest first; a request
    without a result is in flight unless a person recorded a resolution for it (``resolution_kind``)."""
    calls: dict[str, Call] = {}
    resolved: list[str] = []
    for e in timeline:
        if e["kind"] == resolution_kind:
            resolved.append(e.get("attempt_id") or "")
            continue
        key = e.get("attempt_id") or f"seq-{e['seq']}"
        at = e["ts"] if isinstance(e["ts"], datetime) else parse_utc(e["ts"])
        if e["kind"] == "api_request":
            calls.setdefault(key, Call(e["seq"], at, e["operator"], e.get("method") or "", e.get("path") or "",
                                       Outcome.IN_FLIGHT, None, None, e.get("attempt_id")))
        elif e["kind"] == "api_result":
            first = calls.get(key)
            outcome = e.get("outcome") or ""
            calls[key] = Call(e["seq"], first.at if first else at, e["operator"], e.get("method") or "",
                              e.get("path") or "", _outcome(outcome), e.get("http_status"), e.get("duration_ms"),
                              e.get("attempt_id"))
    for key in resolved:
        if key in calls and calls[key].outcome == Outcome.IN_FLIGHT:
            calls[key] = Call(**{**calls[key].__dict__, "outcome": Outcome.RESOLVED})
    return list(calls.values())


def _outcome(value: str) -> Outcome | str:
    try:
        return Outcome(value)
    except ValueError:
        return value


def unanswered_update(calls: Sequence[Call], *, stale_before: datetime | None = None) -> Call | None:
    """The last update whose outcome is unknown, unless a later update of this session succeeded.

    Why: the registry marks a session ``amount_uncertain`` but nothing clears the mark, so a
    later successful update (usually the resend) is what settles it. An update with no answer
    recorded at all counts too once it was sent before ``stale_before`` (no answer can come).
    """
    pending: Call | None = None
    for c in calls:
        if c.method != "PUT":
            continue
        if c.outcome == Outcome.UNKNOWN or (
                c.outcome == Outcome.IN_FLIGHT and stale_before is not None and c.at <= stale_before):
            pending = c
        elif c.outcome == Outcome.OK:
            pending = None
    return pending


# --- what the service refuses with, and the views it returns -------------------------------------------
class SessionNotFound(LookupError):
    """Not a session this console created (the API offers no way to look one up)."""


class SessionExpired(Exception):
    """The session's 10 minutes are over: it cannot be updated, only recreated."""

    def __init__(self, session_id: str, expired_at: datetime) -> None:
        super().__init__(f"session {session_id} expired at {expired_at:%Y-%m-%d %H:%M:%S} UTC")
        self.session_id = session_id
        self.expired_at = expired_at


class SessionElsewhere(LookupError):
    """The session was created in another environment than the one the person is working in."""

    def __init__(self, session_id: str, environment: str, chosen: str) -> None:
        super().__init__(f"session {session_id} belongs to {environment}, not {chosen}: switch the environment")
        self.environment = environment


class OrderHasLiveSession(Exception):
    """Recreating would open a second live link for an order that already has one (``live``)."""

    def __init__(self, order_id: str, live: list[Session]) -> None:
        ids = ", ".join(s.session_id for s in live)
        super().__init__(f"order {order_id} already has a live session ({ids}): recreating would make a second "
                         "live link for the same order")
        self.order_id = order_id
        self.live = live


class UnknownAttempt(LookupError):
    """No unanswered, unresolved attempt has this id (settled meanwhile, or still under way)."""


@dataclass(frozen=True)
class UpdatePreview:
    """What an Update form would send: the patch (only what changed), the merged session, the
    problems at their fields, and the changes as a person reads them."""

    patch: dict[str, Any]
    merged: dict[str, Any]
    problems: list[Problem]
    changes: tuple[Change, ...]

    @property
    def facts(self) -> TransactionFacts:
        return TransactionFacts.of(self.merged)


@dataclass(frozen=True)
class SessionView:
    """Everything the detail page shows about one session (masked for the person who asked)."""

    session: Session
    history: tuple[Version, ...]
    calls: tuple[Call, ...]
    link: str | None
    link_error: str | None
    unanswered: tuple[Unanswered, ...] = ()  # its updates with no answer recorded


@dataclass(frozen=True)
class PendingUpdate:
    """An update that was sent and got no answer: the API holds either the registry's parameters
    or those plus ``patch``. ``patch`` is read back from the log, so a resend survives a reload."""

    call: Call
    patch: dict[str, Any]

    def merged_facts(self, session: Session) -> TransactionFacts:
        return TransactionFacts.of(merge(session.params, self.patch))
