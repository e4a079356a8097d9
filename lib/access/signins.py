"""The server's record of sign-ins: Streamlit's signed login cookie lives 30 days and the server
does not track it, so logging out alone would leave a copied cookie working.

Each sign-in is a row (migration ``0006_signins``) keyed by :attr:`SignIn.signin_id`, which a
replayed cookie reproduces. Logout, the idle limit (``settings.signin_idle_hours``) and an
admin's "sign out everywhere" end the row; a request under an ended sign-in must sign in again.
Times come from an injected clock, so the idle rule is tested without waiting.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lib import settings
from lib.access.claims import SignIn
from lib.common.timefmt import parse_utc, utc_text
from lib.storage.db import connect, immediate
from lib.storage.ops_schema import migrate_ops

LOGOUT, IDLE, ADMIN_SIGN_OUT = "logout", "idle", "signed out by an administrator"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at moves at most this often: not one write per click
ENDED_WHY = {LOGOUT: "you logged out", IDLE: "it was idle too long", ADMIN_SIGN_OUT: "an administrator signed you out"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Seen:
    """What one page request found: a sign-in new to the server, or one that has ended (and why)."""

    new: bool = False
    ended_why: str | None = None
    just_ended: bool = False  # ended by this request (the idle limit): its sign-out is not yet logged
    ended_at: datetime | None = None


@dataclass(frozen=True)
class SignInRow:
    signin_id: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    ended_why: str | None


def _row(raw: dict[str, Any]) -> SignInRow:
    verified = raw["email_verified"]
    return SignInRow(raw["signin_id"], raw["issuer"], raw["subject"], raw["email"],
                     None if verified is None else bool(verified), parse_utc(raw["started_at"]),
                     parse_utc(raw["last_seen_at"]), parse_utc(raw["ended_at"]) if raw["ended_at"] else None,
                     raw["ended_why"])


class SignInStore:
    """The ``signins`` table of the console's database."""

    def __init__(self, db_path: str | Path, *, clock: Callable[[], datetime] = _now,
                 idle: timedelta | None = None) -> None:
        self.db_path = Path(db_path)
        self.clock = clock
        self._idle = idle
        migrate_ops(self.db_path)

    @property
    def idle(self) -> timedelta:
        """The idle limit (read from the settings on each use unless one was given)."""
        return self._idle or timedelta(hours=settings.signin_idle_hours())

    def seen(self, signin: SignIn) -> Seen:
        """Record a page request under ``signin``: insert it when new, end it when idle past the limit."""
        now = self.clock()
        db = connect(self.db_path)
        found = list(db.query("SELECT * FROM signins WHERE signin_id = ?", [signin.signin_id]))
        if found and found[0]["ended_at"] is None and now - parse_utc(found[0]["last_seen_at"]) < min(TOUCH_EVERY, self.idle):
            return Seen()  # most requests: active and just seen, nothing to write (no write lock taken)
        with immediate(db):
            found = list(db.query("SELECT * FROM signins WHERE signin_id = ?", [signin.signin_id]))
            if not found:
                db.execute("INSERT INTO signins (signin_id, issuer, subject, email, email_verified, started_at, "
                           "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [signin.signin_id, signin.issuer, signin.subject, signin.email,
                            None if signin.email_verified is None else int(signin.email_verified),
                            utc_text(now), utc_text(now)])
                return Seen(new=True)
            row = _row(found[0])
            if row.ended_at is not None:
                return Seen(ended_why=row.ended_why, ended_at=row.ended_at)
            if now - row.last_seen_at > self.idle:
                ended_at = row.last_seen_at + self.idle  # when it really ended, not when it was noticed
                db.execute("UPDATE signins SET ended_at = ?, ended_why = ? WHERE signin_id = ?",
                           [utc_text(ended_at), IDLE, signin.signin_id])
                return Seen(ended_why=IDLE, just_ended=True, ended_at=ended_at)
            if now - row.last_seen_at >= TOUCH_EVERY:
                db.execute("UPDATE signins SET last_seen_at = ? WHERE signin_id = ?", [utc_text(now), signin.signin_id])
            return Seen()

    def has_ended(self, signin_id: str) -> bool:
        """Whether the sign-in was ended (read only: asking is not a use, so it never delays the idle limit)."""
        return bool(list(connect(self.db_path).query(
            "SELECT 1 FROM signins WHERE signin_id = ? AND ended_at IS NOT NULL", [signin_id])))

    def end(self, signin_id: str, why: str) -> SignInRow | None:
        """End one sign-in (logout); the row as ended, or None when it was not active."""
        ended = self._end("signin_id = ?", [signin_id], why)
        return ended[0] if ended else None

    def end_everywhere(self, email: str, why: str = ADMIN_SIGN_OUT) -> list[SignInRow]:
        """End every active sign-in with ``email`` (whatever account or issuer): the rows ended."""
        return self._end("email = ?", [email.strip().lower()], why)

    def _end(self, where: str, params: list[Any], why: str) -> list[SignInRow]:
        now = utc_text(self.clock())
        with immediate(connect(self.db_path)) as db:
            rows = [_row(r) for r in db.query(f"SELECT * FROM signins WHERE ended_at IS NULL AND {where}", params)]
            db.execute(f"UPDATE signins SET ended_at = ?, ended_why = ? WHERE ended_at IS NULL AND {where}",
                       [now, why, *params])
        return [SignInRow(**{**r.__dict__, "ended_at": parse_utc(now), "ended_why": why}) for r in rows]

    def active(self) -> list[SignInRow]:
        """Sign-ins not ended and used within the idle limit, newest use first (the admin's list)."""
        since = utc_text(self.clock() - self.idle)
        return [_row(r) for r in connect(self.db_path).query(
            "SELECT * FROM signins WHERE ended_at IS NULL AND last_seen_at >= ? ORDER BY last_seen_at DESC", [since])]
