"""A QA case opened after its run: the request it sent and the API's answer, as the call log holds them.

The case row keeps only the outcome; the call itself (body sent, headers as the log redacted
them, status, the answer's body) is read from the log's entries of the case's attempt through
:mod:`lib.audit` (the audit page's own reader and masking), so both pages show the same call.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.audit.filters import CALL_KINDS
from lib.audit.queries import EntryView, LogEntry
from lib.qa.results import CaseRow

_REQUEST, _RESULT = CALL_KINDS


def _detail(entry: LogEntry | None, name: str) -> Any:
    detail = entry.detail if entry is not None else None
    return detail.get(name) if isinstance(detail, Mapping) else None


@dataclass(frozen=True)
class CaseCall:
    """A case with its request and the API's answer (None: not logged, e.g. a body the client could
    not send, or entries since archived)."""

    case: CaseRow
    request: LogEntry | None
    response: LogEntry | None

    @classmethod
    def of(cls, case: CaseRow, view: EntryView | None) -> CaseCall:
        """From the opened entry of the case's answer (its ``pair`` is the attempt's request and result)."""
        pair = view.pair if view is not None else []
        return cls(case, next((e for e in pair if e.kind == _REQUEST), None),
                   next((e for e in pair if e.kind == _RESULT), None))

    @property
    def sent_headers(self) -> Any:
        """The request's headers, secrets redacted as the log stored them."""
        return _detail(self.request, "headers")

    @property
    def sent_body(self) -> Any:
        return _detail(self.request, "body")

    @property
    def answer(self) -> Any:
        """The answer's body, or the error when no answer came back."""
        body = _detail(self.response, "body")
        return body if body is not None else _detail(self.response, "error")

    @property
    def audit_query(self) -> dict[str, str] | None:
        """The Audit log page's URL parameters opening this case's answer (``entry``, lib.audit.view)."""
        return None if self.case.entry_seq is None else {"entry": str(self.case.entry_seq)}
