"""The session registry as the sessions service sees it, whatever engine keeps it.

``lib.sessions.registry.Registry`` is the SQLite implementation. Writes that must commit with a
call-log entry take the log's open ``Transaction`` (they run as the entry's ``then`` callback);
``set_state`` opens its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from lib.calllog.interface import Transaction


class SessionStore(Protocol):
    """Sessions created through this console and every version of their parameters (rows decoded:
    JSON parsed, amounts ``Decimal``, times aware UTC datetimes)."""

    def get(self, session_id: str) -> dict[str, Any] | None: ...

    def history(self, session_id: str) -> list[dict[str, Any]]: ...

    def active(self, environment: str, now: datetime, *, created_by: str | None = None, include_tagged: bool = True,
               limit: int | None = None, with_params: bool = True) -> list[dict[str, Any]]: ...

    def recently_expired(self, environment: str, now: datetime,
                         within: timedelta = timedelta(hours=1)) -> list[dict[str, Any]]: ...

    def active_for_order(self, environment: str, order_id: str, now: datetime) -> list[dict[str, Any]]: ...

    def record_update(self, tx: Transaction, *, session_id: str, operator: str, at: datetime,
                      patch: Mapping[str, Any], entry_seq: int) -> dict[str, Any]:
        """The next version (``patch`` merged into the stored parameters), in the log's transaction."""
        ...

    def mark_state(self, tx: Transaction, session_id: str, state: str) -> None:
        """Set 'ok' or 'amount_uncertain', in the log's transaction."""
        ...

    def set_state(self, session_id: str, state: str) -> None:
        """Set 'ok' or 'amount_uncertain' in a transaction of its own."""
        ...
