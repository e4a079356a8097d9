"""Typed errors of the API client, each carrying the API's problem body.

Pages and the QA runner decide what to show from the type alone; ``entry_seq`` points at the
call-log entry that recorded the outcome so a person can be sent straight to it.
"""
from __future__ import annotations

from typing import Any

from lib.fields.validation import Problem


class ApiError(Exception):
    """Any call that did not succeed. ``status`` is None when no HTTP answer came back."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 attempt_id: str | None = None, entry_seq: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempt_id = attempt_id
        self.entry_seq = entry_seq

    @property
    def title(self) -> str:
        if isinstance(self.body, dict) and self.body.get("title"):
            return str(self.body["title"])
        return str(self)


class ValidationFailed(ApiError):
    """400: the API refused parameters. Real bodies say ``reason`` or ``description``: both are read."""

    @property
    def invalid_parameters(self) -> list[Problem]:
        raw = self.body.get("invalid_parameters", []) if isinstance(self.body, dict) else []
        return [
            Problem(parameter=str(item.get("parameter", "")), reason=str(item.get("reason") or item.get("description") or ""))
            for item in raw if isinstance(item, dict)
        ]


class Unauthorized(ApiError):
    """401 even after logging in again: the credentials (or the allow-listed IP) are wrong."""


class Forbidden(ApiError):
    """403: no access to this resource (or an IP not on the allow-list)."""


class NotFound(ApiError):
    """404: unknown or expired session."""


class Conflict(ApiError):
    """409."""


class ServerError(ApiError):
    """5xx: the API failed; the outcome of a create or update is what the body says it is."""


class NetworkError(ApiError):
    """No connection could be made (after the retries that are safe), or a login got no answer."""


class UnknownOutcome(ApiError):
    """The request was sent and no answer came: it may or may not have taken effect. Never resent."""


_BY_STATUS: dict[int, type[ApiError]] = {400: ValidationFailed, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}


def error_for_status(status: int) -> type[ApiError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)
