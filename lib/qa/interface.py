"""Saved QA runs as the QA service and its runner see them, whatever engine keeps them.

SQLite implementations: ``lib.qa.store.RunStore`` (the runner's writes) and
``lib.qa.results.RunReader`` (what the pages read back).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lib.qa.results import (
        CaseRow,
        Comparison,
        RunInfo,
        RunProgress,
        RunSummary,
        ValueRate,
    )
    from lib.qa.store import CaseResult, Origin


class RunWriter(Protocol):
    """A run's record as its worker keeps it: created, one case at a time, heartbeats, an end."""

    @property
    def db_path(self) -> Path: ...

    def create_run(self, *, run_id: str, operator: str, environment: str, total: int, concurrency: int,
                   seed: int | None, strength: int | str | None, model_json: str | None = None,
                   model_pict: str | None = None, headers: Mapping[str, str] | None = None,
                   origin: Origin | None = None) -> str: ...

    def record_case(self, run_id: str, result: CaseResult) -> None: ...

    def case_write(self, run_id: str, result: CaseResult) -> Callable[[Any], None]:
        """A case as a write for a transaction of the log (committed with its answer's entry)."""
        ...

    def heartbeat(self, run_id: str) -> None: ...

    def cancel_requested(self, run_id: str) -> bool: ...

    def request_cancel(self, run_id: str) -> None: ...

    def finish(self, run_id: str, status: str, error: str | None = None) -> None: ...

    def recover_interrupted(self, *, stale_after_s: float = ...) -> list[str]: ...

    def now(self) -> datetime: ...


class RunRecords(Protocol):
    """Runs and their cases read back (progress, results, comparisons)."""

    def run(self, run_id: str) -> RunInfo | None: ...

    def runs(self, limit: int = 50) -> list[RunInfo]: ...

    def model_json(self, run_id: str) -> str | None: ...

    def record(self, run_id: str) -> dict[str, Any] | None:
        """The run's row as stored (for the JSON export), or None."""
        ...

    def dimensions(self, run_id: str) -> list[str]: ...

    def progress(self, run_id: str) -> RunProgress: ...

    def cases(self, run_id: str, *, only_surprises: bool = False, limit: int | None = None) -> list[CaseRow]: ...

    def case(self, run_id: str, index: int) -> CaseRow | None: ...

    def summary(self, run_id: str) -> RunSummary: ...

    def failure_rates(self, run_id: str) -> list[ValueRate]: ...

    def compare(self, run_a: str, run_b: str) -> Comparison: ...
