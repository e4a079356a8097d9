"""A computation (generating a suite) in a background thread: the page answers while it goes, shows how
far it is, and can cancel it.

Why it is built this way:
- A thread, not a process: the generator is pure Python and holds the GIL, but CPython hands the
  GIL to the server's other threads every few milliseconds, so the page still reruns while a big
  suite is made (``bench/qa_generation.py`` prints how long a rerun takes meanwhile), and the
  suite (up to 100,000 cases) needs no pickling back.
- The work is given a :class:`lib.qa.steps.Steps`: its progress lands here, and a cancel makes it
  raise :class:`~lib.qa.steps.Cancelled` between two steps, so a cancelled job has no result at all.
- An exception in the work ends the job as failed with the reason as text, never in the page: a
  ``ValueError`` is a refusal worded for a person (a model that cannot be generated), anything
  else a bug, logged with its traceback.
- A job lives in memory only, like the suite it makes (the page keeps the handle in its session).
  A reload starts a new session that cannot find it, so a job nobody has polled (:meth:`Job.watch`)
  for ``abandon_after_s`` stops as if cancelled, instead of burning a core for minutes unseen.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from lib.qa.steps import Cancelled, Steps

T = TypeVar("T")
State = Literal["running", "cancelling", "completed", "cancelled", "failed"]
STARTING = "starting"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobProgress:
    """The work's last step: what it was making, how many so far, of how many (None: not known)."""

    what: str = STARTING
    done: int = 0
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(self.done / self.total, 1.0)

    @property
    def text(self) -> str:
        if self.what == STARTING:
            return STARTING
        return f"{self.what}: {self.done:,}" + ("" if self.total is None else f" of {self.total:,}")


class Job(Generic[T]):
    """One computation in a daemon thread, started at once; read its state, progress, result or error."""

    def __init__(self, work: Callable[[Steps], T], *, name: str, abandon_after_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self._abandon_after_s = clock, abandon_after_s
        self._watched = clock()
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._progress = JobProgress()
        self.result: T | None = None  # set once completed
        self.error: str | None = None  # set once failed
        self._stopped = False  # set once cancelled
        threading.Thread(target=self._run, args=(work,), name=name, daemon=True).start()

    def _report(self, what: str, done: int, total: int | None) -> None:
        self._progress = JobProgress(what, done, total)  # one reference swapped: readers see one step or the next

    def _run(self, work: Callable[[Steps], T]) -> None:
        try:
            self.result = work(Steps(self._report, self._stop))
        except Cancelled:
            self._stopped = True
        except ValueError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the job ends as failed with the reason; the page stays up
            log.exception("background job failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    def _stop(self) -> bool:
        """Whether the work stops at this step: a cancel was asked, or nobody watches any more."""
        if self._abandon_after_s is not None and self._clock() - self._watched > self._abandon_after_s:
            self._cancel.set()
        return self._cancel.is_set()

    @property
    def progress(self) -> JobProgress:
        return self._progress

    def watch(self) -> JobProgress:
        """The progress, read by someone still waiting for the result (which keeps the job going)."""
        self._watched = self._clock()
        return self._progress

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def state(self) -> State:
        if not self.done:
            return "cancelling" if self._cancel.is_set() else "running"
        return "cancelled" if self._stopped else "failed" if self.error is not None else "completed"

    def cancel(self) -> None:
        """Stop at the work's next step; what it made so far is dropped. Nothing once it has ended."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended; False on timeout (tests, the bench)."""
        return self._done.wait(timeout)
