"""One API call as the log records it, apart from how its request travels.

Why it is built this way: the console sends calls two ways, one at a time from a page
(:class:`lib.api.client.Client`, blocking) and hundreds at once from a QA run
(:mod:`lib.qa.pipeline`, asynchronous, its log entries committed in batches). Both must write the
same entries and raise the same errors, so what a call logs and what it means live here, and a
driver only sends, times and appends. A :class:`Call` is built once (headers, body bytes, the
fields each entry of it shares); every attempt logs its request (:meth:`Call.request_entry`),
then exactly one result: an answer (:meth:`Call.answered`) or none (:meth:`Call.unanswered`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from lib.api.errors import ApiError, NetworkError, UnknownOutcome, error_for_status
from lib.common import jsonutil

Then = Callable[[Database, int], None]
# Runs in the result entry's transaction with the answer's readable top-level members.
OnSuccess = Callable[[Database, int, Mapping[str, Any]], None]

# What an operator must know when a call went out but its result could not be written.
UNRECORDED = ("The attempt will show as 'no answer recorded' on its session once the log works again: do not "
              "send it again before settling it there.")
NOTHING_SENT = "Nothing was sent to the API."


def text_member(members: Mapping[str, Any], name: str) -> str | None:
    """A top-level member of an answer when it is a non-empty string (a hostile answer may put
    anything there, and only a string can name a session or be a token)."""
    value = members.get(name)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, whichever library received it."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass(frozen=True)
class Ending:
    """How one attempt ended: the arguments of its result entry (``CallLog.append``), what failing
    to write that entry would mean, and the error the caller gets (None: success)."""

    entry: dict[str, Any]
    consequence: str
    error: ApiError | None = None
    never_connected: bool = False  # nothing reached the API: the attempt may be made again
    reply: Reply | None = None
    answer: jsonutil.Answer | None = None

    def failure(self, seq: int) -> ApiError:
        """The error, pointing at the entry that recorded it."""
        assert self.error is not None, "a successful attempt has no failure"
        self.error.entry_seq = seq
        return self.error


def _recording(on_success: OnSuccess, members: Mapping[str, Any]) -> Then:
    """``then`` for the log: hand an answer's members to ``on_success`` once its entry is in."""
    return lambda db, seq: on_success(db, seq, members)


@dataclass(frozen=True)
class Call:
    """One call, ready to be attempted: the same request and entry fields at every attempt.
    ``idempotent`` (a read): a request that got no answer is a network error, not an unknown
    outcome, and its request entry needs no fsync of its own."""

    method: str
    path: str
    url: str
    headers: dict[str, str]
    body: Any
    data: bytes | None
    idempotent: bool
    common: dict[str, Any]
    on_success: OnSuccess | None = None
    on_unknown: Then | None = None

    def request_entry(self, attempt: str) -> dict[str, Any]:
        """The ``api_request`` entry, appended before the request leaves."""
        return {"kind": "api_request", "attempt_id": attempt, "durable": not self.idempotent,
                "detail": {"url": self.url, "headers": self.headers, "body": self.body}, **self.common}

    def unanswered(self, attempt: str, exc: BaseException, *, never_connected: bool, elapsed_ms: float) -> Ending:
        """No answer came back (``exc``); ``never_connected``: the connection was never made."""
        unknown = not never_connected and not self.idempotent
        name = type(exc).__name__
        sent = "was not" if never_connected else "was"
        error: ApiError
        if unknown:
            error = UnknownOutcome(f"{self.method} {self.path} was sent but no answer came back ({name}); "
                                   "it may have taken effect: check before sending it again", attempt_id=attempt)
        else:
            error = NetworkError(f"{self.method} {self.path}: could not reach {self.common['environment']} "
                                 f"({name}: {exc})", attempt_id=attempt)
        error.__cause__ = exc
        entry = {"kind": "api_result", "attempt_id": attempt, "outcome": "unknown_outcome" if unknown else "network_error",
                 "duration_ms": elapsed_ms, "detail": {"error": f"{name}: {exc}", "sent": not never_connected},
                 "then": self.on_unknown if unknown else None, **self.common}
        consequence = (f"{self.method} {self.path} {sent} sent and no answer came back ({name}); that could not be "
                       f"recorded either. {UNRECORDED}")
        return Ending(entry, consequence, error, never_connected)

    def answered(self, attempt: str, reply: Reply, *, elapsed_ms: float) -> Ending:
        """An HTTP answer came back: any 2xx is success, anything else raises by its status."""
        answer = jsonutil.read_answer(reply.content)
        ok = 200 <= reply.status < 300
        then = _recording(self.on_success, answer.members) if ok and self.on_success is not None else None
        answered = text_member(answer.members, "session_id") if ok else None
        about = f" for session {answered}" if answered else ""
        entry = {"kind": "api_result", "attempt_id": attempt, "http_status": reply.status,
                 "outcome": "ok" if ok else "http_error", "duration_ms": elapsed_ms,
                 "detail": {"headers": dict(reply.headers), "body": answer.recorded}, "then": then,
                 **{**self.common, "session_id": self.common["session_id"] or answered}}
        consequence = (f"{self.method} {self.path} was sent and the API answered HTTP {reply.status}{about}, but "
                       f"the answer could not be recorded. {UNRECORDED}")
        error = None
        if not ok:
            title = text_member(answer.members, "title")
            error = error_for_status(reply.status)(
                f"{self.method} {self.path} → HTTP {reply.status}: {title or reply.reason}",
                status=reply.status, body=answer.recorded, attempt_id=attempt)
        return Ending(entry, consequence, error, reply=reply, answer=answer)
