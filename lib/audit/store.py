"""``AuditStore`` (``lib.audit.interface``) in SQLite: the functions of ``lib.audit.queries`` and
``lib.audit.export`` bound to one database file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lib.audit import export, queries
from lib.audit.filters import AuditFilters
from lib.audit.queries import EntryView

_CHOICES = {"environment": queries.environments, "operator": queries.operators, "endpoint": queries.endpoints}


@dataclass(frozen=True)
class SqliteAuditStore:
    db_path: Path

    def count(self, filters: AuditFilters) -> int:
        return queries.count(self.db_path, filters)

    def page(self, filters: AuditFilters, page_no: int, size: int = 50) -> list[dict[str, Any]]:
        return queries.page(self.db_path, filters, page_no, size)

    def session_timeline(self, session_id: str) -> list[dict[str, Any]]:
        return queries.session_timeline(self.db_path, session_id)

    def attempt(self, attempt_id: str) -> list[dict[str, Any]]:
        return queries.attempt(self.db_path, attempt_id)

    def entry_view(self, seq: int) -> EntryView | None:
        return queries.entry_view(self.db_path, seq)

    def choices(self, column: str) -> list[str]:
        return _CHOICES[column](self.db_path)

    def calls_over_time(self, filters: AuditFilters) -> tuple[pd.DataFrame, str]:
        return queries.calls_over_time(self.db_path, filters)

    def latency_by_endpoint(self, filters: AuditFilters) -> pd.DataFrame:
        return queries.latency_by_endpoint(self.db_path, filters)

    def export_entries(self, filters: AuditFilters, limit: int) -> list[tuple[Any, ...]]:
        return export.export_entries(self.db_path, filters, limit)
