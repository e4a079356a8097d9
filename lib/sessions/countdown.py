"""The arithmetic behind the live session countdowns, with the clock passed in.

Streamlit's ``run_every`` fragments never tick under AppTest, so everything a countdown shows is
computed here from an explicit ``now``: the page passes the real time, tests pass fixed ones.
Rounding is always down, so the countdown never promises time the API will not give (docs/contract.md, "Sessions").
"""
from __future__ import annotations

from datetime import datetime, timedelta

_ZERO = timedelta(0)


def time_left(expires_at: datetime, now: datetime) -> timedelta:
    """Time until ``expires_at``; zero once it has passed (never negative)."""
    return max(expires_at - now, _ZERO)


def format_mmss(left: timedelta) -> str:
    """``09:59`` under an hour, ``1:02:03`` from an hour on; partial seconds are dropped."""
    seconds = max(int(left.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def fraction_left(created_at: datetime, expires_at: datetime, now: datetime) -> float:
    """Share of the lifetime still left, 0.0–1.0, for a progress bar (0.0 for an empty lifetime)."""
    lifetime = expires_at - created_at
    if lifetime <= _ZERO:
        return 0.0
    return min(time_left(expires_at, now) / lifetime, 1.0)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    """True from the expiry instant on (the API counts the session gone at that moment)."""
    return now >= expires_at
