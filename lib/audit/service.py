"""The audit service: what the Audit log page asks of the call log, one call each, typed.

Pages and ``ui/`` reach the audit area (the call log included) only through this module. It
holds the log and answers the page's questions: the view's rows and count, an opened entry (its
bodies masked for the roles that must not see customer data), the charts, the export (itself
recorded in the log), the chain's verification and its last checkpoint, what was archived.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from lib import settings
from lib.access import masking
from lib.access.events import AUDIT_VIEW, enforce, record_access
from lib.access.policy import Identity, denial
from lib.audit import export
from lib.audit.export import CSV, EVIDENCE
from lib.audit.filters import ALL_TIME, EXPORT_LIMIT, IN_FLIGHT, OUTCOMES, AuditFilters
from lib.audit.interface import AuditStore
from lib.audit.queries import EntryView, LogEntry
from lib.audit.store import SqliteAuditStore
from lib.audit.view import (
    CUSTOM,
    DEFAULT_RANGE,
    KINDS,
    METHODS,
    TIME_RANGES,
    AuditView,
    default_view,
    grid_frame,
    hidden_kinds,
    kind_label,
    minute_of,
    outcome_label,
    page_count,
    sliding_since,
    view_from_query_params,
    view_to_query_params,
)
from lib.calllog import checkpoints
from lib.calllog.failures import CallLogUnavailable
from lib.calllog.interface import CallLogStore
from lib.calllog.kinds import CHECKPOINT
from lib.calllog.outcome import Outcome
from lib.calllog.progress import Progress
from lib.calllog.verification import VerifyResult
from lib.common import jsonutil
from lib.settings import ops_db_path

__all__ = [
    "ALL_TIME", "CSV", "CUSTOM", "DEFAULT_RANGE", "EVIDENCE", "EXPORT_LIMIT", "IN_FLIGHT", "KINDS", "METHODS",
    "OUTCOMES", "TIME_RANGES", "default_view", "hidden_kinds", "kind_label",
    "AuditFilters", "AuditService", "AuditView", "CallLogUnavailable", "Charts", "EntryView", "LogEntry", "Outcome",
    "VerifyResult", "ops_db_path", "minute_of", "outcome_label", "page_count", "sliding_since",
    "view_from_query_params", "view_to_query_params", "pretty_json", "Checkpoint", "ArchivedRange", "Retention",
    "Progress",
]


def pretty_json(value: Any) -> str:
    """An entry's detail as indented JSON for reading (exact decimals, text kept as text)."""
    return jsonutil.dumps(value, pretty=True)


@dataclass(frozen=True)
class Charts:
    """A view's charts: finished calls per time bucket and outcome, and latency per endpoint."""

    over_time: pd.DataFrame
    bucket: str
    latency: pd.DataFrame


@dataclass(frozen=True)
class Checkpoint:
    """The newest checkpoint of the chain's head kept outside the database."""

    count: int
    at: str


@dataclass(frozen=True)
class ArchivedRange:
    """Entries moved out of the database to an archive file (``python -m lib.calllog archive``)."""

    first_seq: int
    last_seq: int
    before: str  # every entry dated before this UTC date, as of ``archived_at``
    file: str
    archived_at: str
    operator: str


@dataclass(frozen=True)
class Retention:
    """Entries ``first_live``-``last`` are in the database; the ones before are in ``archives``
    (oldest first), so an entry that other tables name may be in a file rather than the page."""

    first_live: int
    last: int
    archives: tuple[ArchivedRange, ...]

    def archive_of(self, seq: int) -> ArchivedRange | None:
        """The archive holding entry ``seq`` (None: live, or no such entry)."""
        return next((a for a in self.archives if a.first_seq <= seq <= a.last_seq), None)


@dataclass(frozen=True)
class AuditService:
    """The audit page's door. ``store`` answers its questions (default: SQLite, the log's file)."""

    log: CallLogStore
    store: AuditStore | None = None

    @property
    def db_path(self) -> Path:
        return self.log.db_path

    @property
    def queries(self) -> AuditStore:
        return self.store or SqliteAuditStore(self.db_path)

    def count(self, filters: AuditFilters) -> int:
        return self.queries.count(filters)

    def grid(self, filters: AuditFilters, page_no: int, size: int, tz: Any) -> tuple[pd.DataFrame, list[int]]:
        """One page of the view as the grid shows it, and the seq of each of its rows."""
        rows = self.queries.page(filters, page_no, size)
        return grid_frame(rows, tz, per_call=filters.per_call), [row["seq"] for row in rows]

    def timeline_grid(self, session_id: str, tz: Any) -> pd.DataFrame:
        """Every entry about a session, each its own row (a timeline shows both halves of a call)."""
        return grid_frame(self.queries.session_timeline(session_id), tz, per_call=False)

    def entry_view(self, seq: int, *, mask: bool) -> EntryView | None:
        """Entry ``seq`` with its call's other half and its session; bodies masked when ``mask``."""
        view = self.queries.entry_view(seq)
        if view is None or not mask:
            return view
        return replace(view, pair=[_masked(e) for e in view.pair], entry=_masked(view.entry))

    def choices(self, column: str) -> list[str]:
        """The values a filter can take that the log holds (environment, operator or endpoint)."""
        return self.queries.choices(column)

    def charts(self, filters: AuditFilters) -> Charts:
        over_time, bucket = self.queries.calls_over_time(filters)
        return Charts(over_time, bucket, self.queries.latency_by_endpoint(filters))

    def export(self, filters: AuditFilters, fmt: str, *, operator: str, environment: str) -> bytes:
        """The view as an ``EVIDENCE`` or ``CSV`` file (``lib.audit.export``); taking it is recorded
        in the log before the file is handed out."""
        return export.file_and_record(self.queries.export_entries(filters, EXPORT_LIMIT), fmt, self.log, filters,
                                      operator=operator, environment=environment, tags=("audit_log",))

    def record_view(self, who: Identity, signature: dict[str, str]) -> None:
        """Opening the log is evidence too: each new view (its filters) goes in the log."""
        record_access(self.log, who, AUDIT_VIEW, detail={"filters": signature})

    def verify(self, progress: Progress | None = None) -> VerifyResult:
        """The whole live chain; ``progress(done, total)`` hears every 50,000 entries (for a bar)."""
        return self.log.verify(progress)

    def retention(self) -> Retention:
        """Which entries are live and which were archived, to which file."""
        first, last = self.log.live_range()
        return Retention(first, last, tuple(ArchivedRange(m.first_seq, m.last_seq, m.before, m.file, m.archived_at,
                                                          m.operator) for m in self.log.archives()))

    @staticmethod
    def checkpoint_refusal(who: Identity) -> str | None:
        """Why ``who`` may not pin the log's head (None: they may: auditors and admins)."""
        return denial(who, "checkpoint", None)

    def make_checkpoint(self, who: Identity) -> Checkpoint:
        """Pin the log's head outside the database (signed when a key is configured, mirrored when a
        mirror is), then record who did it in the log itself."""
        enforce(self.log, who, "checkpoint")
        record = self.log.checkpoint(settings.checkpoint_mirror())
        self.log.append(CHECKPOINT, operator=who.operator, environment="-", tags=("audit_log",),
                        detail={"count": record["count"], "head_hash": record["head_hash"], "at": record["at"],
                                "signed": checkpoints.is_signed(record)})
        return Checkpoint(record["count"], record["at"])

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest well-formed checkpoint, or None."""
        found = self.log.latest_checkpoint()
        return None if found is None else Checkpoint(found["count"], found["at"])


def _masked(entry: LogEntry) -> LogEntry:
    masked = masking.mask_entry({"detail": entry.detail})
    return replace(entry, detail=masked["detail"] if masked else entry.detail)
