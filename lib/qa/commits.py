"""A QA run's writes to the log's file, committed in batches from its event loop.

Why: each commit of the log costs about as much CPU as a whole case's other work (an fsync, and
every page the batch touched written to the write-ahead log), so a run is as fast as its batches
are large. A task queues its writes (``queue``) and, when it cannot go on without one of them
(its request entry must be on disk before the request is sent), awaits it (``settle``): then
everything queued is committed together. The tasks queue each case's request entry while the case
before it is under way (:mod:`lib.qa.pipeline`), so by the time one waits, the others have queued
their answers and their next requests too: a commit carries the writes of several cases, and a
task rarely waits at all. The commit runs in the loop's own thread (``CallLog.commit_each``: one
transaction queued with the appends of the process's other threads on the file's lock, a write
that raises undone alone): a second thread would wait on the GIL at every statement. A batch
holding a request entry is fsynced before anyone hears of it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlite_utils import Database

from lib.calllog.group_commit import Settled
from lib.calllog.interface import CallLogStore

Write = Callable[[Database], Any]
T = TypeVar("T")


@dataclass(frozen=True)
class _Queued:
    write: Write
    durable: bool
    done: asyncio.Future[Any]


class Commits:
    """Batches of the writes of the tasks of one event loop."""

    def __init__(self, log: CallLogStore) -> None:
        self._log = log
        self._queued: list[_Queued] = []
        self._scheduled = False

    def queue(self, write: Write, *, durable: bool) -> asyncio.Future[Any]:
        """``write``'s value once committed (its exception, or the whole batch's failure)."""
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append(_Queued(write, durable, done))
        return done

    async def settle(self, awaited: Awaitable[T]) -> T:
        """Await something that needs a commit: everything queued by then is committed next."""
        if isinstance(awaited, asyncio.Future) and awaited.done():
            return cast(T, awaited.result())  # committed already: nothing to wait for
        if self._queued and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._commit)
        return await awaited

    def _commit(self) -> None:
        self._scheduled = False
        batch, self._queued = self._queued, []
        try:
            settled = self._log.commit_each([q.write for q in batch], durable=any(q.durable for q in batch))
        except Exception as exc:  # noqa: BLE001 - the commit failed: nothing of the batch was written
            settled = [Settled[Any](error=exc)] * len(batch)
        for queued, outcome in zip(batch, settled, strict=True):
            if queued.done.cancelled():
                continue
            if outcome.error is not None:
                queued.done.set_exception(outcome.error)
            else:
                queued.done.set_result(outcome.value)
