"""Calls that got no answer recorded: what they mean, what to do, and how a person settles them.

Why: the request entry is written before a call goes out and the result entry after its answer.
A process killed in between (a crash, a deploy, a power cut) leaves the request "in flight"
forever. Once longer has passed than the client would ever wait for that environment (connect
plus read timeout), no answer can come any more: the attempt is **no answer recorded**.

The API has no session lookup, so only a person can settle such an attempt, and the log must
show who decided what: a resolution is a new entry of kind ``attempt_resolution`` carrying the
attempt's id (it "points at" the attempt, and joins its request in every view of that attempt);
nothing is edited. Until an update attempt is settled its session is ``amount_uncertain``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lib.calllog.interface import CallLogStore, Transaction
from lib.common.timefmt import parse_utc, utc_text

RESOLUTION = "attempt_resolution"
CREATE_ENDPOINT = "/v1/payment-sessions"
UPDATE_ENDPOINT = "/v1/payment-sessions/{session_id}"
CREATE, UPDATE = "create", "update"

# What a person may record, per kind of call, and what it means (stored with the resolution).
CHOICES: dict[str, dict[str, str]] = {
    CREATE: {
        "recreated": "a new session was created for the same order; the first may exist too until it expires",
        "left": "left as it is: if the first session exists it expires unused",
    },
    UPDATE: {
        "resent": "the same update was sent again and the API accepted it",
        "took_effect": "the person established that the API holds the update (it is recorded as a new version)",
        "did_not_take_effect": "the person established that the API never applied the update",
    },
}


def kind_of(endpoint: str | None) -> str | None:
    return {CREATE_ENDPOINT: CREATE, UPDATE_ENDPOINT: UPDATE}.get(endpoint or "")


@dataclass(frozen=True)
class Unanswered:
    """One attempt with no result and no resolution, older than its environment's answer deadline."""

    request: dict[str, Any]  # the api_request entry, detail decoded
    call: str  # CREATE or UPDATE

    @property
    def attempt_id(self) -> str:
        return str(self.request["attempt_id"])

    @property
    def is_create(self) -> bool:
        return self.call == CREATE

    @property
    def choices(self) -> dict[str, str]:
        """How a person may settle this attempt, each with what it means."""
        return CHOICES[self.call]

    @property
    def sent_at(self) -> datetime:
        return parse_utc(self.request["ts"])

    @property
    def body(self) -> dict[str, Any]:
        """What was sent (as logged: redacted)."""
        body = (self.request.get("detail") or {}).get("body")
        return body if isinstance(body, dict) else {}

    @property
    def meaning(self) -> str:
        if self.call == CREATE:
            return ("The create request was recorded before it was sent, but no answer was: the console stopped "
                    "while waiting. It may have reached the API, so a session may exist for this order. The API cannot look sessions up, so this console cannot "
                    "find out whether it does, nor its id.")
        return ("The update was recorded before it was sent, but no answer was: the console stopped while waiting. "
                "The API holds either the parameters before it or the ones it set, so the session's amount is "
                "uncertain.")

    @property
    def todo(self) -> str:
        if self.call == CREATE:
            return ("If the order still needs paying, create a new session for the same order. If the first one "
                    "does exist, two sessions are live for this order until it expires (10 minutes after it was "
                    "sent) and the customer could pay either: share only the new link. Otherwise record that you "
                    "leave it.")
        return ("Send the same update again from the Update page (harmless if it did take effect). If you have "
                "established what the API holds (the payment page shows the amount), record whether it took effect.")


def answer_deadline(connect_timeout: float, read_timeout: float) -> timedelta:
    """How long after sending no answer can come any more: the client's own timeouts."""
    return timedelta(seconds=connect_timeout + read_timeout)


def unanswered(log: CallLogStore, now: datetime, deadline: Callable[[str], timedelta], *,
               environment: str | None = None, session_id: str | None = None, attempt_id: str | None = None,
               since: datetime | None = None) -> list[Unanswered]:
    """Create and update attempts with neither a result nor a resolution, sent longer ago than
    ``deadline(environment)``; oldest first. Narrowed by environment, session, attempt or a start
    time (the time range uses the log's ``ts`` index, so a day of a large log stays cheap)."""
    narrowed = {"environment": environment, "session_id": session_id, "attempt_id": attempt_id,
                "ts": None if since is None else utc_text(since)}
    entries = log.unanswered_requests((CREATE_ENDPOINT, UPDATE_ENDPOINT), ("api_result", RESOLUTION),
                                      {column: value for column, value in narrowed.items() if value is not None})
    found = []
    for entry in entries:
        call = kind_of(entry["endpoint"]) if entry else None
        if entry and call and parse_utc(entry["ts"]) <= now - deadline(entry["environment"]):
            found.append(Unanswered(entry, call))
    return found


def resolve(log: CallLogStore, attempt: Unanswered, *, operator: str, resolution: str, note: str = "",
            new_session_id: str | None = None, then: Callable[[Transaction, int], None] | None = None) -> int:
    """Append the resolution entry of ``attempt`` and return its seq.

    It shares the attempt's id, names the request it settles, and carries the session (for a
    recreate: the new one, so the new session's history shows the attempt it stands in for).
    ``then`` runs in the same transaction (a registry write the resolution implies).
    """
    if resolution not in CHOICES[attempt.call]:
        raise ValueError(f"a {attempt.call} attempt is resolved as one of {', '.join(CHOICES[attempt.call])}, "
                         f"not {resolution!r}")
    request = attempt.request
    detail: dict[str, Any] = {"resolution": resolution, "means": CHOICES[attempt.call][resolution],
                              "note": note.strip(), "request_seq": request["seq"]}
    if new_session_id:
        detail["new_session_id"] = new_session_id
    return log.append(
        RESOLUTION, operator=operator, environment=request["environment"], tags=request["tags"],
        attempt_id=attempt.attempt_id, method=request["method"], endpoint=request["endpoint"], path=request["path"],
        session_id=new_session_id or request["session_id"], order_id=request["order_id"], amount=request["amount"],
        currency=request["currency"], detail=detail, then=then,
    )
