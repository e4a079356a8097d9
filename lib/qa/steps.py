"""How far a long computation is, and a way to stop it, handed to the generators as two optional callables.

Why it is built this way: the generators know nothing of the background job that runs them
(:mod:`lib.qa.generation_jobs`); they only call a :class:`Steps` between rows, which reports how
many are made and, once a cancel is asked, raises :class:`Cancelled`. So a cancelled generator
returns nothing at all: no half-made suite can ever be offered. Without callables it costs a call.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

Progress = Callable[[str, int, int | None], None]  # what is being made, how many so far, of how many (None: unknown)


class Cancelled(Exception):
    """A cancel was asked: the computation stopped between two steps and returns nothing."""


@dataclass(frozen=True)
class Steps:
    """The progress and cancel callables of one computation (either may be None)."""

    progress: Progress | None = None
    cancelled: Callable[[], bool] | None = None

    def __call__(self, what: str, done: int, total: int | None = None) -> None:
        """Between two steps: stop if a cancel was asked (:class:`Cancelled`), else report."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(what)
        if self.progress is not None:
            self.progress(what, done, total)

    def after(self, done: int) -> Steps:
        """These steps for a part of the work that starts once ``done`` items are made: its counts go on from there."""
        progress = self.progress
        if progress is None:
            return self
        return Steps(lambda what, count, total: progress(what, done + count, total), self.cancelled)

    def over(self, what: str, items: Iterable[T], total: int | None = None) -> Iterator[T]:
        """``items``, with a step before each (``done``: how many came before it)."""
        for done, item in enumerate(items):
            self(what, done, total)
            yield item


NO_STEPS = Steps()  # reports nowhere, never stops
