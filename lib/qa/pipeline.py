"""A QA run's cases, sent from one event loop: the runner's engine.

Why it is built this way:
- A run is bound by its own CPU, not by the API's waits, which overlap. One thread with an event
  loop switches no context between cases, aiohttp costs a fraction of ``requests`` per call
  (:mod:`lib.api.aio`), and the log's writes go in batches (:mod:`lib.qa.commits`): a case costs
  about a third of what a thread per connection did, for the same entries.
- Each case is a create of the ordinary client's (``Client.creation``), logged and judged
  through :mod:`lib.api.exchange` like any page's call: its request entry is committed (fsynced)
  before it is sent; its answer's entry, the registry's row of the session it made and the case's
  row are one write, committed together. A connection never made is tried again after the
  client's backoff; a 401 logs in again (the tasks waiting for a token share one login) and sends
  once more.
- ``concurrency`` tasks take cases until none is left or the run stops; a case row that cannot be
  kept stops the run (``Cases.failed``), and every write a task queued is awaited before it ends.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlite_utils import Database

from lib.api.aio import AsyncHttp, Unanswered
from lib.api.client import CONNECT_BACKOFF_S, CONNECT_RETRIES, Client, Created, Creation
from lib.api.errors import ApiError, NetworkError, ServerError, Unauthorized, UnknownOutcome, ValidationFailed
from lib.api.exchange import Call, Ending
from lib.qa import store as qa_store
from lib.qa.commits import Commits
from lib.qa.interface import RunWriter
from lib.qa.store import CaseResult
from lib.qa.suite import Case
from lib.storage.db import close_thread_connections


class Cases(Protocol):
    """The run as its tasks see it: the next case (None once cancelled or exhausted), and its failure."""

    def next_case(self) -> Case | None: ...

    def failed(self, reason: str) -> None: ...


def send_cases(client: Client, run_id: str, cases: Cases, store: RunWriter, concurrency: int) -> None:
    """Send ``cases`` with ``concurrency`` in flight, recording each in ``store``; returns once
    every task has ended and its writes are committed (call it from the run's own thread)."""
    asyncio.run(_Pipeline(client, run_id, cases, store).run(concurrency))


def _entry(log_fields: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    """(kind, durable, the rest) of an entry as ``lib.api.exchange`` spells it for ``CallLog.append``."""
    fields = dict(log_fields)
    return fields.pop("kind"), fields.pop("durable", True), fields


@dataclass(frozen=True)
class _Taken:
    """A case taken from the run: its call and the queued entry of its first request, or why they
    could not be made (recorded as the case's outcome when its turn comes)."""

    case: Case
    creation: Creation | None = None
    call: Call | None = None
    attempt: str = ""
    logged: asyncio.Future[Any] | None = None
    failure: Exception | None = None


class _Pipeline:
    def __init__(self, client: Client, run_id: str, cases: Cases, store: RunWriter) -> None:
        self.client, self.run_id, self.cases, self.store = client, run_id, cases, store
        self.commits = Commits(client.log)
        self.login_lock = asyncio.Lock()
        self.http: AsyncHttp | None = None

    async def run(self, concurrency: int) -> None:
        async with AsyncHttp(self.client.env, concurrency) as http:
            self.http = http
            await asyncio.gather(*(self._work() for _ in range(concurrency)))

    def _write(self, log_fields: dict[str, Any], after: Callable[[Database, int], None] | None = None
               ) -> asyncio.Future[Any]:
        """Commit one entry (and ``after(db, seq)`` in its transaction, once its own ``then`` ran)."""
        kind, durable, fields = _entry(log_fields)
        entry = self.client.log.entry_write(kind, **fields)

        def write(db: Database) -> int:
            seq = entry(db)
            if after is not None:
                after(db, seq)
            return seq

        return self.commits.queue(write, durable=durable)

    async def _work(self) -> None:
        """Cases until none is left. Each case's request entry is queued while the case before it
        is under way, so it is usually on disk by the time that case is answered; the previous
        case's row is committed with the next requests."""
        recorded: asyncio.Future[Any] | None = None
        ahead = await self._take()
        try:
            while ahead is not None:
                current, ahead = ahead, await self._take()
                written = await self._case(current)
                if recorded is not None:
                    await self.commits.settle(recorded)
                recorded = written
            if recorded is not None:
                await self.commits.settle(recorded)
        except Exception as exc:  # noqa: BLE001 - the run must end as failed, with the reason saved
            self.cases.failed(f"{type(exc).__name__}: {exc}")
            unsent = None if ahead is None else self._unsent(ahead)
            waits = [f for f in (recorded, unsent) if f is not None and not f.done()]
            if waits:
                await self.commits.settle(asyncio.wait(waits))  # nothing of the run is written after its end

    async def _take(self) -> _Taken | None:
        """The next case, its call prepared and its first request entry queued; None once none is left."""
        case = self.cases.next_case()
        if case is None:
            return None
        try:
            creation = self.client.creation(case.payload)
            call = await self._prepared(creation)
        except Exception as exc:  # noqa: BLE001 - recorded as the case's own outcome in its turn
            return _Taken(case, failure=exc)
        attempt = uuid.uuid4().hex
        return _Taken(case, creation, call, attempt, self._write(call.request_entry(attempt)))

    def _unsent(self, taken: _Taken) -> asyncio.Future[Any] | None:
        """A result for a request entry written for a case the stopped run never sent."""
        if taken.call is None or taken.logged is None:
            return None
        if taken.logged.done() and taken.logged.exception() is not None:
            return None  # its request entry was never written either
        stopped = RuntimeError("not sent: the run stopped before this case")
        return self._write(taken.call.unanswered(taken.attempt, stopped, never_connected=True, elapsed_ms=0.0).entry)

    async def _case(self, taken: _Taken) -> asyncio.Future[Any]:
        """Send one case; the future of the write of its answer and row."""
        case, started = taken.case, time.perf_counter()
        try:
            if taken.failure is not None:
                raise taken.failure
            assert taken.creation is not None and taken.call is not None and taken.logged is not None
            call = taken.call
            first: tuple[str, asyncio.Future[Any]] | None = (taken.attempt, taken.logged)
            for retry_after_login in (False, True):
                ending, attempt = await self._attempts(call, last=retry_after_login, first=first)
                if ending is not None:
                    return self._answered(case, taken.creation, ending, attempt, started)
                self.client.forget_token()  # a 401 with a retry left
                call, first = await self._prepared(taken.creation), None
        except ApiError as exc:  # the login the case needed failed
            return self._row(case, case_result(case, None, exc, _ms(started)))
        except Exception as exc:  # noqa: BLE001 - e.g. a body JSON cannot carry: the case failed, not the run
            return self._row(case, CaseResult(**_identity(case), result=qa_store.CLIENT_ERROR,
                                              error=f"{type(exc).__name__}: {exc}", latency_ms=_ms(started)))
        raise AssertionError("unreachable")

    async def _prepared(self, creation: Creation) -> Call:
        """The case's call, with a token: logged in first (once for all tasks) when none is cached."""
        if not self.client.has_token():
            async with self.login_lock:
                if not self.client.has_token():
                    await asyncio.to_thread(_login, self.client)
        return self.client.creation_call(creation)

    async def _attempts(self, call: Call, *, last: bool, first: tuple[str, asyncio.Future[Any]] | None
                        ) -> tuple[Ending | None, str]:
        """The call's attempts, each request committed before it is sent (``first``: the first
        one's attempt id and its entry, queued already): the ending to record with the case (its
        attempt id), or None after a 401 that may be retried (already recorded)."""
        assert self.http is not None
        for attempt_no in range(CONNECT_RETRIES + 1):
            if attempt_no == 0 and first is not None:
                attempt, logged = first
            else:
                attempt = uuid.uuid4().hex
                logged = self._write(call.request_entry(attempt))
            await self.commits.settle(logged)
            try:
                reply, elapsed_ms = await self.http.send(call)
                ending = call.answered(attempt, reply, elapsed_ms=elapsed_ms)
            except Unanswered as no:
                ending = call.unanswered(attempt, no.cause, never_connected=no.never_connected,
                                         elapsed_ms=no.elapsed_ms)
            retried = ending.never_connected and attempt_no < CONNECT_RETRIES
            if not retried and (last or not isinstance(ending.error, Unauthorized)):
                return ending, attempt
            await self.commits.settle(self._write(ending.entry))
            if not retried:
                return None, attempt
            await asyncio.sleep(CONNECT_BACKOFF_S[attempt_no])
        raise AssertionError("unreachable")

    def _answered(self, case: Case, creation: Creation, ending: Ending, attempt: str,
                  started: float) -> asyncio.Future[Any]:
        """The write of the answer's entry (the registry's row in its ``then``) and the case's row."""
        latency_ms = _ms(started)

        def row(db: Database, seq: int) -> None:
            created: Created | None = None
            error: ApiError | None = None
            try:
                created = creation.created(ending, seq, attempt) if ending.error is None else None
            except ApiError as exc:  # accepted without a session id
                error = exc
            else:
                error = None if created is not None else ending.failure(seq)
            self.store.case_write(self.run_id, case_result(case, created, error, latency_ms))(db)

        written = self._write(ending.entry, row)
        return asyncio.ensure_future(self._settled(case, written, started))

    def _row(self, case: Case, result: CaseResult) -> asyncio.Future[Any]:
        return self.commits.queue(self.store.case_write(self.run_id, result), durable=False)

    async def _settled(self, case: Case, written: asyncio.Future[Any], started: float) -> None:
        """An answer whose write failed alone (its registry row could not be kept) is a failed case."""
        try:
            await written
        except Exception as exc:  # noqa: BLE001 - as the blocking client would have raised it
            await self.commits.settle(self._row(case, CaseResult(
                **_identity(case), result=qa_store.CLIENT_ERROR, error=f"{type(exc).__name__}: {exc}",
                latency_ms=_ms(started))))


def _login(client: Client) -> None:
    try:
        client.login()
    finally:
        close_thread_connections()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _identity(case: Case) -> dict[str, Any]:
    return {"index": case.index, "labels": case.labels, "negative_path": case.negative_path,
            "expected_paths": tuple(case.expected_paths), "payload": case.payload}


def case_result(case: Case, created: Created | None, error: ApiError | None, latency_ms: float) -> CaseResult:
    """What a sent case did: the session it created, or the error its call ended with."""
    if created is not None:
        return CaseResult(**_identity(case), result=classify(case.expected_paths, accepted=True),
                          session_id=created.session_id, attempt_id=created.attempt_id, entry_seq=created.entry_seq,
                          latency_ms=latency_ms)
    assert error is not None, "a case ends with a session or an error"
    answer: dict[str, Any] = {"http_status": error.status, "attempt_id": error.attempt_id, "entry_seq": error.entry_seq}
    if isinstance(error, ValidationFailed):
        problems = tuple(dict(p) for p in error.invalid_parameters)
        result = classify(case.expected_paths, accepted=False, paths={str(p["parameter"]) for p in problems})
        answer |= {"problems": problems}
    else:
        result = _error_result(error)
        answer |= {"error": str(error)}
    return CaseResult(**_identity(case), result=result, latency_ms=latency_ms, **answer)


def classify(expected_paths: Sequence[str], *, accepted: bool, paths: set[str] | None = None) -> str:
    """The result class of an answered case: accepted or refused (400) on ``paths``."""
    if accepted:
        return qa_store.UNEXPECTED_ACCEPT if expected_paths else qa_store.AS_EXPECTED
    if not expected_paths:
        return qa_store.UNEXPECTED_REFUSAL
    return qa_store.AS_EXPECTED if paths == set(expected_paths) else qa_store.OTHER_PATHS


def _error_result(exc: ApiError) -> str:
    if isinstance(exc, ServerError):
        return qa_store.SERVER_ERROR
    if isinstance(exc, UnknownOutcome):
        return qa_store.UNKNOWN_OUTCOME
    if isinstance(exc, NetworkError):
        return qa_store.NETWORK_ERROR
    return qa_store.HTTP_ERROR
