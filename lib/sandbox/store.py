"""The sandbox's own SQLite file: sessions, every version of their parameters, and login tokens.

Kept on disk (``lib.storage.db``: WAL, BEGIN IMMEDIATE) so payment links survive a restart. Tokens are
stored as their SHA-256 only: a copy of the file must not hand out working tokens. Times are
UTC ISO-8601 strings of fixed width with a ``Z`` (``2025-01-31T09:05:00.123Z``), so SQL can
compare them as text. Callers pass ``now``: the store never reads the clock itself.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from lib.common.jsonutil import dumps, loads
from lib.common.timefmt import utc_text
from lib.sandbox.schema import migrate_sandbox
from lib.storage import db as dbmod


@dataclass(frozen=True)
class Version:
    """One stored state of a session's parameters: version 1 is the create body."""

    version: int
    at: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SessionRecord:
    """A session and all its versions, oldest first."""

    session_id: str
    created_at: str
    expires_at: str
    versions: list[Version]

    @property
    def params(self) -> dict[str, Any]:
        """The latest parameters: what the API and the payment page act on."""
        return self.versions[-1].params

    def expires(self) -> datetime:
        return datetime.fromisoformat(self.expires_at)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires()

    def as_json(self, now: datetime) -> dict[str, Any]:
        """The ``/sandbox/sessions`` view."""
        return {
            "session_id": self.session_id, "params": self.params,
            "created_at": self.created_at, "expires_at": self.expires_at, "expired": self.expired(now),
            "versions": [{"version": v.version, "at": v.at, "params": v.params} for v in self.versions],
        }


class SandboxStore:
    """All reads and writes of the sandbox's state; safe from any thread (one connection each)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def db(self) -> Database:
        return migrate_sandbox(self.path)

    # Tokens -------------------------------------------------------------------------------

    def add_token(self, token_sha256: str, now: datetime, ttl: timedelta) -> None:
        """Remember a token's digest until ``now + ttl``; expired digests are purged on the way."""
        with dbmod.immediate(self.db) as db:
            db.execute("DELETE FROM tokens WHERE expires_at <= ?", [utc_text(now)])
            db.table("tokens").insert({"token_sha256": token_sha256, "expires_at": utc_text(now + ttl)})

    def token_valid(self, token_sha256: str, now: datetime) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM tokens WHERE token_sha256 = ? AND expires_at > ?", [token_sha256, utc_text(now)]).fetchone()
        return row is not None

    # Sessions -----------------------------------------------------------------------------

    def create_session(self, params: dict[str, Any], now: datetime, ttl: timedelta) -> str:
        """Store a new session (version 1 = ``params``) expiring at ``now + ttl``; returns its id."""
        session_id = str(uuid.uuid4())
        with dbmod.immediate(self.db) as db:
            db.table("sessions").insert({"session_id": session_id, "created_at": utc_text(now), "expires_at": utc_text(now + ttl)})
            self._insert_version(db, session_id, 1, params, now)
        return session_id

    def add_version(self, session_id: str, params: dict[str, Any], now: datetime,
                    expires_at: datetime | None = None) -> int:
        """Store the full merged ``params`` as the next version; move the expiry only if given."""
        with dbmod.immediate(self.db) as db:
            (last,) = db.execute(
                "SELECT max(version) FROM session_versions WHERE session_id = ?", [session_id]).fetchone()
            if last is None:
                raise KeyError(session_id)
            version = int(last) + 1
            self._insert_version(db, session_id, version, params, now)
            if expires_at is not None:
                db.table("sessions").update(session_id, {"expires_at": utc_text(expires_at)})
        return version

    def get_session(self, session_id: str) -> SessionRecord | None:
        rows = self._records("WHERE s.session_id = ?", [session_id])
        return rows[0] if rows else None

    def find_sessions(self, order_id: str) -> list[SessionRecord]:
        """Sessions any version of which carried ``order_id``, newest first.

        This is how an unknown outcome (a create whose answer never came) is settled in tests:
        the caller knows its order id, never the session id.
        """
        return self._records(
            "WHERE s.session_id IN (SELECT session_id FROM session_versions WHERE order_id = ?)", [order_id])

    def _records(self, where: str, args: list[Any]) -> list[SessionRecord]:
        rows = self.db.execute(
            "SELECT s.session_id, s.created_at, s.expires_at, v.version, v.at, v.params"
            " FROM sessions s JOIN session_versions v USING (session_id) "
            f"{where} ORDER BY s.created_at DESC, s.session_id, v.version", args).fetchall()
        records: dict[str, SessionRecord] = {}
        for session_id, created_at, expires_at, version, at, params in rows:
            record = records.setdefault(session_id, SessionRecord(session_id, created_at, expires_at, []))
            record.versions.append(Version(version, at, loads(params)))
        return list(records.values())

    @staticmethod
    def _insert_version(db: Database, session_id: str, version: int, params: dict[str, Any], now: datetime) -> None:
        order_id = params.get("transaction", {}).get("order_id")
        db.table("session_versions").insert({"session_id": session_id, "version": version, "at": utc_text(now),
                                       "order_id": order_id, "params": dumps(params)})
