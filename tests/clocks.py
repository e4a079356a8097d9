"""The one clock tests move by hand: time passes only when a test says so, and nothing sleeps."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """An aware UTC clock standing still at ``start`` until ``advance`` moves it.

    Call it for the time (what ``create_app(clock=...)``, ``SessionsService(clock=...)`` and
    ``CallLog(clock=...)`` take); ``seconds`` is the same time as a monotonic count of seconds
    (what ``TokenCache(seconds=...)`` takes), so one clock can expire a token on both sides.
    Reading it from a server thread while the test moves it is safe: one attribute is replaced.
    """

    def __init__(self, start: datetime = T0) -> None:
        if start.tzinfo is None:
            raise ValueError("a FakeClock keeps aware UTC times")
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by ``by``; returns the new time."""
        if by < timedelta(0):
            raise ValueError("time does not run backwards")
        self.now = self.now + by
        return self.now
