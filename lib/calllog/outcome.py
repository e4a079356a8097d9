"""What became of one API call, as the log records it and every page names it.

One type with one label each, so the session pages and the audit log can never disagree on what
an outcome is called. The first four are written by the client in the result entry; the last
two are derived: a request with no result yet is *in flight*, and one whose answer can no longer
come (longer ago than the client ever waits) is *no answer recorded*, until a person records
what became of it.
"""
from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    HTTP_ERROR = "http_error"
    NETWORK_ERROR = "network_error"
    UNKNOWN = "unknown_outcome"
    IN_FLIGHT = "in_flight"
    NO_ANSWER = "no_answer"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        """How a person reads it, with a sign that tells good from bad at a glance."""
        return _LABELS[self]

    @classmethod
    def written(cls) -> tuple[Outcome, ...]:
        """The outcomes a result entry carries (the others are derived when reading)."""
        return (cls.OK, cls.HTTP_ERROR, cls.NETWORK_ERROR, cls.UNKNOWN)

    @classmethod
    def label_of(cls, value: str | None) -> str:
        """The label of a stored value; an unknown one (a newer writer) is shown as it is."""
        try:
            return cls(value or "").label
        except ValueError:
            return value or ""


_LABELS = {
    Outcome.OK: "✅ ok",
    Outcome.HTTP_ERROR: "🚫 refused (HTTP error)",
    Outcome.NETWORK_ERROR: "🔌 not sent (network error)",
    Outcome.UNKNOWN: "❓ outcome unknown",
    Outcome.IN_FLIGHT: "⏳ in flight",
    Outcome.NO_ANSWER: "❔ no answer recorded",
    Outcome.RESOLVED: "🗒 settled by a person",
}
