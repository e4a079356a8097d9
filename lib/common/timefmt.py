"""Times are stored in UTC and shown in the viewer's local time, with the zone named."""
from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> tzinfo:
    """The browser's zone by IANA name; the server's own zone when unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or timezone.utc


def local(moment: datetime | None, tz: tzinfo, *, seconds: bool = True) -> str:
    """`2026-11-24 22:01:05 CET` (empty for no time)."""
    if moment is None:
        return ""
    shown = moment.astimezone(tz)
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
