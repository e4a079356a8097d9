"""What a page shows to share a session and to watch it expire: the link, the message, the QR
code and the countdown, computed from the clock it is given.

Streamlit's ``run_every`` fragments never tick under AppTest, so all of it is computed here from
an explicit ``now``; a live session offers the message inviting payment and the QR code, an
expired one only its link, as text (support asks which link the customer got).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal

from lib.sessions import countdown, links, live_safety
from lib.settings import Environment


@dataclass(frozen=True)
class Countdown:
    """Time left as text (``09:58``), the share of the lifetime left (0–1), and whether it is over."""

    text: str
    fraction: float
    expired: bool


def countdown_at(created_at: datetime, expires_at: datetime, now: datetime) -> Countdown:
    return Countdown(countdown.format_mmss(countdown.time_left(expires_at, now)),
                     countdown.fraction_left(created_at, expires_at, now), countdown.is_expired(expires_at, now))


@dataclass(frozen=True)
class Share:
    """How finance shares one session: ``link`` (or ``problem``: the setting to configure), and while
    it is live the ``message`` for the customer and the ``qr_png`` of the link."""

    link: str | None
    problem: str | None
    expired: bool
    message: str | None = None
    qr_png: bytes | None = None


def share(link: str | None, problem: str | None, *, amount: Decimal | None, currency: str | None,
          expires_at: datetime, tz: tzinfo, expired: bool) -> Share:
    if link is None or expired:
        return Share(link, problem, expired)
    message = links.customer_message(link, amount, currency, expires_at, tz) if amount is not None and currency else None
    return Share(link, None, False, message, links.qr_png(link))


def live_confirmation_text(env: Environment, amount: Decimal | None, currency: str | None) -> str | None:
    """What the operator must type before a live call (``15.02 GBP``), or None outside live or
    while there is no amount to confirm yet (the form shows that problem at its field)."""
    if not env.live or amount is None or not currency:
        return None
    return live_safety.confirmation_text(amount, currency)
