"""The payment link a finance person shares: URL, QR code and a message ready to paste.

For sessions there is no hosted link from the API (docs/contract.md, "Sessions"): the link is the merchant's own
checkout page carrying the session id, built from the environment's ``checkout_url_template``.
"""
from __future__ import annotations

import io
from datetime import datetime, tzinfo
from decimal import Decimal
from urllib.parse import quote

import segno

from lib.fields.money import format_amount
from lib.settings import ConfigError, env_prefix, secrets_path

PLACEHOLDER = "{session_id}"


def payment_link(template: str | None, session_id: str, *, environment: str | None = None) -> str:
    """The checkout URL for one session; the id is URL-quoted so no id can change the URL's shape.

    ``environment`` only makes the error say exactly which setting to add.
    """
    if not template or PLACEHOLDER not in template:
        name = environment or "<name>"
        variable = env_prefix(environment) if environment else "<ENV>_"
        problem = "is not set" if not template else f"has no {PLACEHOLDER} placeholder"
        raise ConfigError(
            f"checkout_url_template {problem}{f' for {environment}' if environment else ''}: set "
            f"checkout_url_template under [environments.{name}] in {secrets_path()}, or "
            f"{variable}CHECKOUT_URL_TEMPLATE in the environment (e.g. https://shop.example/pay/{PLACEHOLDER})"
        )
    return template.replace(PLACEHOLDER, quote(session_id, safe=""))


def qr_png(url: str, scale: int = 8) -> bytes:
    """A PNG QR code of ``url`` (error correction M, the standard 4-module quiet zone)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def customer_message(link: str, amount: Decimal, currency: str, expires_at: datetime, tz: tzinfo) -> str:
    """Text to paste into an email or chat. The time is rounded down to the minute, so it never
    promises time the session does not have."""
    local = expires_at.astimezone(tz)
    return (
        f"Please pay {format_amount(amount, currency)} using this secure payment link:\n"
        f"{link}\n"
        f"The link is valid until {local:%H:%M} ({local.tzname()})."
    )
