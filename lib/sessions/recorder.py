"""What the sessions service keeps of each answer the API gives: the registry's rows.

Handed to the HTTP client, which calls it inside the transaction that appends the answer's log
entry, so a session and the evidence of its creation (or of an update) are committed together.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from lib.fields.schema import TransactionFacts
from lib.sessions import registry
from lib.sessions.models import UNCERTAIN


class RegistryRecorder:
    """Records into the session registry (``lib.sessions.registry``) on the log's own connection."""

    def created(self, db: Database, *, seq: int, session_id: str, environment: str, operator: str,
                sent_at: datetime, ttl_seconds: int, body: Mapping[str, Any], tags: Sequence[str]) -> None:
        registry.record_created(db, session_id=session_id, environment=environment,
                                order_id=TransactionFacts.of(body).order_id or "", operator=operator, sent_at=sent_at,
                                ttl_seconds=ttl_seconds, params=body, tags=tags, entry_seq=seq)

    def updated(self, db: Database, *, seq: int, session_id: str, operator: str, at: datetime,
                patch: Mapping[str, Any]) -> dict[str, Any] | None:
        if not registry.known(db, session_id):
            return None  # not created through this console: nothing to keep
        return registry.record_update(db, session_id=session_id, operator=operator, at=at, patch=patch,
                                      entry_seq=seq)

    def uncertain(self, db: Database, *, session_id: str) -> None:
        if registry.known(db, session_id):
            registry.mark_state(db, session_id, UNCERTAIN)
