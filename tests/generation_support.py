"""Holding a background generation at one step, so a test sees the job (and the page) while it runs
without waiting on time: the ``hold`` fixture of ``conftest.py``."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lib.qa import service as qa_service
from lib.qa.generate import CHECKING

WAIT_S = 60  # the longest any test waits for an event; a timeout fails the test


class Hold:
    """While ``armed``, the next background generation to reach a step of ``at`` stops there until
    ``release`` is set (holding disarms it: later steps and generations go on)."""

    def __init__(self, at: str) -> None:
        self.at, self.armed, self.reached, self.release = at, True, threading.Event(), threading.Event()

    def step(self, what: str) -> None:
        if what == self.at and self.armed:
            self.armed = False
            self.reached.set()
            assert self.release.wait(WAIT_S)


def holding(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    """Hold the service's generations at a step (``CHECKING`` unless ``hold.at`` is changed); released at the end."""
    held = Hold(CHECKING)
    real_generate, real_measure = qa_service.generate, qa_service.allpairs.measure

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def run(model: Any, *, progress: Any = None, **kw: Any) -> Any:
            def step(what: str, done: int, total: int | None) -> None:
                if progress is not None:
                    progress(what, done, total)
                held.step(what)
            return real(model, progress=step, **kw)
        return run

    monkeypatch.setattr(qa_service, "generate", wrap(real_generate))
    monkeypatch.setattr(qa_service.allpairs, "measure", wrap(real_measure))
    yield held
    held.release.set()
