"""The audit page's questions to the call log, as the audit and sessions services ask them.

``lib.audit.store.SqliteAuditStore`` answers them in SQLite (``lib.audit.queries``, never loading
the log into memory). A second engine implements this Protocol and is handed to the services.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from lib.audit.filters import AuditFilters

if TYPE_CHECKING:
    import pandas as pd

    from lib.audit.queries import EntryView


class AuditStore(Protocol):
    """Read-only views of the log: every one filtered by the same ``AuditFilters``."""

    def count(self, filters: AuditFilters) -> int: ...

    def page(self, filters: AuditFilters, page_no: int, size: int = 50) -> list[dict[str, Any]]: ...

    def session_timeline(self, session_id: str) -> list[dict[str, Any]]: ...

    def attempt(self, attempt_id: str) -> list[dict[str, Any]]: ...

    def entry_view(self, seq: int) -> EntryView | None: ...

    def choices(self, column: str) -> list[str]:
        """Distinct values of ``environment``, ``operator`` or ``endpoint`` in the log, sorted."""
        ...

    def calls_over_time(self, filters: AuditFilters) -> tuple[pd.DataFrame, str]: ...

    def latency_by_endpoint(self, filters: AuditFilters) -> pd.DataFrame: ...

    def export_entries(self, filters: AuditFilters, limit: int) -> list[tuple[Any, ...]]:
        """The stored entries of the view's newest ``limit`` rows and of their calls' requests, by
        seq: every column of the log, then ``in_flight``."""
        ...
