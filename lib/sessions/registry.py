"""The record of every payment session we created, and every version of its parameters.

The API has no GET or list for sessions, so this is the only place to see what exists and what it
was last set to. The tables live in the call log's database and are mutable; the log is the
evidence. Writers take the ``db`` of an open transaction because they run as ``then=`` callbacks
of ``CallLog.append``: a session row and the log entry that caused it commit together or not at all.
The tables are made by the console database's migrations (``lib.storage.ops_schema``), which the
``CallLog`` that opened that transaction has run.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from lib.common import jsonutil
from lib.common.timefmt import parse_utc, utc_text
from lib.fields.schema import TransactionFacts
from lib.fields.validation import merge
from lib.settings import ops_db_path
from lib.storage.db import connect, decimal_text, immediate
from lib.storage.ops_schema import migrate_ops

STATES = ("ok", "amount_uncertain")


class UnknownSession(LookupError):
    """The session is not in the registry (it was not created through this console)."""


# Scalars of a JSON body, told by their exact type before the Mapping check (an ABC's, slow):
# most of what a session's parameters hold (bool is not one: True must not equal 1).
_SCALARS = frozenset({str, int, float, Decimal, type(None)})


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or (type(value) not in _SCALARS and isinstance(value, Mapping))


def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1 (Python's == does)."""
    if type(a) is type(b) and type(a) in _SCALARS:
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def diff_params(before: Mapping[str, Any], after: Mapping[str, Any], _prefix: str = "") -> list[dict[str, Any]]:
    """The changes from ``before`` to ``after`` as ``{"path", "before", "after"}`` with dotted paths.

    Nested objects are recursed (a missing side counts as empty, so an added object shows its
    fields); lists are compared whole; an added or removed key shows None on its missing side.
    """
    changes: list[dict[str, Any]] = []
    for key in [*before, *(k for k in after if k not in before)]:
        path, old, new = f"{_prefix}{key}", before.get(key), after.get(key)
        old_obj, new_obj = _is_mapping(old), _is_mapping(new)
        if (old_obj or new_obj) and (old_obj or old is None) and (new_obj or new is None):
            nested = diff_params(old or {}, new or {}, f"{path}.")
            if nested:
                changes.extend(nested)
                continue
            # no field differs: only an empty object appearing or vanishing is left to report
        if not _same(old, new):
            changes.append({"path": path, "before": old, "after": new})
    return changes


def record_created(
    db: Database,
    *,
    session_id: str,
    environment: str,
    order_id: str,
    operator: str,
    sent_at: datetime,
    ttl_seconds: int,
    params: Mapping[str, Any],
    tags: Sequence[str],
    entry_seq: int,
) -> None:
    """Record a new session as version 1. It expires ``ttl_seconds`` after the create request was
    SENT: the API's clock started no earlier, so the countdown never promises time it will not give."""
    created_at, params_json, facts = utc_text(sent_at), jsonutil.dumps(params), TransactionFacts.of(params)
    db.conn.execute(
        """INSERT INTO sessions (session_id, environment, order_id, created_by, created_at, expires_at, tags,
            params, amount, currency, version, updates, state, create_seq)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 'ok', ?)""",
        (
            session_id, environment, order_id, operator, created_at,
            utc_text(sent_at + timedelta(seconds=ttl_seconds)), json.dumps(list(tags), ensure_ascii=False),
            params_json, decimal_text(facts.amount), facts.currency,
            entry_seq,
        ),
    )
    _insert_version(db, session_id, 1, created_at, operator, params_json, diff_params({}, params), entry_seq)


def known(db: Database, session_id: str) -> bool:
    """Whether the registry holds ``session_id`` (read inside the caller's transaction)."""
    return db.conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone() is not None


def record_update(
    db: Database, *, session_id: str, operator: str, at: datetime, patch: Mapping[str, Any], entry_seq: int
) -> dict[str, Any]:
    """Record the next version: ``patch`` (what the API accepted) merged into the latest stored
    parameters, read here inside the caller's transaction, and return them. Merging into a copy
    read before the call went out would let a slow update overwrite a fast one's amount; here the
    registry always equals the sequence of accepted updates. A confirmed update also settles an
    earlier uncertain one. Raises UnknownSession: check ``Registry.get`` before logging, or this
    rolls back the log entry it is attached to."""
    row = db.conn.execute("SELECT version, params FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        raise UnknownSession(session_id)
    before = jsonutil.loads(row[1])
    params = merge(before, patch)
    version, params_json = row[0] + 1, jsonutil.dumps(params)
    db.conn.execute(
        """UPDATE sessions SET params = ?, amount = ?, currency = ?, version = ?, updates = updates + 1,
        state = 'ok' WHERE session_id = ?""",
        (
            params_json, decimal_text(TransactionFacts.of(params).amount), TransactionFacts.of(params).currency,
            version, session_id,
        ),
    )
    _insert_version(db, session_id, version, utc_text(at), operator, params_json, diff_params(before, params),
                    entry_seq)
    return params


def _insert_version(
    db: Database, session_id: str, version: int, at: str, operator: str, params_json: str,
    changes: list[dict[str, Any]], entry_seq: int,
) -> None:
    db.conn.execute(
        "INSERT INTO session_versions (session_id, version, at, operator, params, changes, entry_seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, version, at, operator, params_json, jsonutil.dumps(changes), entry_seq),
    )


def mark_state(db: Database, session_id: str, state: str) -> None:
    """Set 'ok' or 'amount_uncertain' (an update whose outcome is unknown)."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, not {state!r}")
    if db.conn.execute("UPDATE sessions SET state = ? WHERE session_id = ?", (state, session_id)).rowcount == 0:
        raise UnknownSession(session_id)


def _session(row: Mapping[str, Any]) -> dict[str, Any]:
    session = dict(row)
    session["created_at"], session["expires_at"] = parse_utc(row["created_at"]), parse_utc(row["expires_at"])
    session["tags"] = json.loads(session["tags"])
    if "params" in session:
        session["params"] = jsonutil.loads(session["params"])
    if session["amount"] is not None:
        session["amount"] = Decimal(session["amount"])
    return session


_LIST_COLUMNS = ("session_id, environment, order_id, created_by, created_at, expires_at, tags, amount, currency, "
                 "version, updates, state, create_seq")


class Registry:
    """The ``SessionStore`` (``lib.sessions.interface``) in SQLite. Rows come back decoded: JSON columns
    parsed, amount a Decimal, times aware UTC datetimes (countdowns are arithmetic). Queries compare
    the stored UTC text, which sorts as time does."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path or ops_db_path()).resolve()
        migrate_ops(self.db_path)

    # --- writes (``SessionStore``): the module's functions, in the caller's transaction or one of their own.
    def record_update(self, tx: Database, *, session_id: str, operator: str, at: datetime, patch: Mapping[str, Any],
                      entry_seq: int) -> dict[str, Any]:
        return record_update(tx, session_id=session_id, operator=operator, at=at, patch=patch, entry_seq=entry_seq)

    def mark_state(self, tx: Database, session_id: str, state: str) -> None:
        mark_state(tx, session_id, state)

    def set_state(self, session_id: str, state: str) -> None:
        with immediate(connect(self.db_path)) as db:
            mark_state(db, session_id, state)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return [_session(row) for row in connect(self.db_path).query(sql, params)]

    def active(
        self,
        environment: str,
        now: datetime,
        *,
        created_by: str | None = None,
        include_tagged: bool = True,
        limit: int | None = None,
        with_params: bool = True,
    ) -> list[dict[str, Any]]:
        """Sessions not yet expired, soonest to expire first. ``with_params=False`` leaves the
        parameters out: decoding them dominated the Active sessions tick at 1,000 sessions."""
        columns = "*" if with_params else _LIST_COLUMNS
        sql = f"SELECT {columns} FROM sessions WHERE environment = ? AND expires_at > ?"
        args: list[str | int] = [environment, utc_text(now)]
        if created_by is not None:
            sql += " AND created_by = ?"
            args.append(created_by)
        if not include_tagged:
            sql += " AND tags = '[]'"
        sql += " ORDER BY expires_at"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self._rows(sql, args)

    def recently_expired(
        self, environment: str, now: datetime, within: timedelta = timedelta(hours=1)
    ) -> list[dict[str, Any]]:
        """Sessions that expired at most ``within`` ago, most recently expired first."""
        return self._rows(
            "SELECT * FROM sessions WHERE environment = ? AND expires_at <= ? AND expires_at >= ? "
            "ORDER BY expires_at DESC",
            (environment, utc_text(now), utc_text(now - within)),
        )

    def get(self, session_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        return rows[0] if rows else None

    def history(self, session_id: str) -> list[dict[str, Any]]:
        """Every version, oldest first, with params and changes decoded."""
        rows = connect(self.db_path).query(
            "SELECT * FROM session_versions WHERE session_id = ? ORDER BY version", (session_id,)
        )
        return [
            {**row, "at": parse_utc(row["at"]), "params": jsonutil.loads(row["params"]),
             "changes": jsonutil.loads(row["changes"])}
            for row in rows
        ]

    def active_for_order(self, environment: str, order_id: str, now: datetime) -> list[dict[str, Any]]:
        """Live sessions for one order (to warn before creating a second one), soonest to expire first."""
        return self._rows(
            "SELECT * FROM sessions WHERE order_id = ? AND environment = ? AND expires_at > ? ORDER BY expires_at",
            (order_id, environment, utc_text(now)),
        )
