"""Limits an administrator sets on amounts: the forms' per-currency ceiling and the live limit per call.

Read from the environment or ``[limits]`` in the secrets file, like every setting (``lib.settings``);
a broken value is a ConfigError naming where it is set, never "no limit".
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lib.fields import money
from lib.fields.schema import AMOUNT_BOUND, CURRENCIES
from lib.settings import ConfigError, form_defaults, load_secrets, secrets_path

DEFAULT_AMOUNT_CEILING = Decimal(1_000_000)
CEILING_ENV = "OPS_AMOUNT_CEILING"
CEILING_SOURCE = "an administrator sets it: [limits] amount_ceiling"


def setting_amount(value: Any) -> Decimal | None:
    """An amount from the secrets file (a TOML number) or an environment variable (text read by the
    one amount parser); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(repr(value))
    try:
        return money.parse_amount(str(value))
    except money.AmountError:
        return None


def _ceiling(value: Any, where: str) -> Decimal:
    number = setting_amount(value)
    if number is None:
        number = Decimal(-1)
    if not number.is_finite() or not 0 < number < AMOUNT_BOUND:
        raise ConfigError(f"{where} must be a positive amount below {AMOUNT_BOUND:,} such as 1000000, got {value!r}")
    return number


def amount_ceiling(currency: str, secrets: Mapping[str, Any] | None = None) -> Decimal:
    """The most one session may ask for through the console's forms, in major units of ``currency``.

    A sanity check against a slipped digit (99,999,999,999 GBP), not an API rule, so QA runs do
    not apply it. ``[limits.amount_ceiling_by_currency]`` (``jpy = 150000000``) wins for its
    currency, then ``OPS_AMOUNT_CEILING``, then ``[limits] amount_ceiling``; default 1,000,000.
    A broken value is a ConfigError, never "no ceiling".
    """
    secrets = load_secrets() if secrets is None else secrets
    limits = secrets.get("limits", {})
    by_currency = limits.get("amount_ceiling_by_currency", {}) if isinstance(limits, Mapping) else {}
    code = str(currency).lower()
    if isinstance(by_currency, Mapping) and code in by_currency:
        return _ceiling(by_currency[code], f"[limits.amount_ceiling_by_currency] {code}")
    from_env = os.environ.get(CEILING_ENV, "").strip()
    if from_env:
        return _ceiling(from_env, CEILING_ENV)
    if isinstance(limits, Mapping) and "amount_ceiling" in limits:
        return _ceiling(limits["amount_ceiling"], "[limits] amount_ceiling")
    return DEFAULT_AMOUNT_CEILING


def check_settings(secrets: Mapping[str, Any] | None = None) -> None:
    """Raise ConfigError for a broken setting the pages rely on (run once at each page's start)."""
    secrets = load_secrets() if secrets is None else secrets
    limits = secrets.get("limits", {})
    by_currency = limits.get("amount_ceiling_by_currency", {}) if isinstance(limits, Mapping) else {}
    unknown = sorted(set(by_currency) - set(CURRENCIES)) if isinstance(by_currency, Mapping) else ["(not a table)"]
    if unknown:
        raise ConfigError(f"[limits.amount_ceiling_by_currency] names unknown currencies: {', '.join(unknown)}")
    for code in CURRENCIES:
        amount_ceiling(code, secrets)
    form_defaults(secrets)


LIMIT_ENV = "OPS_LIVE_AMOUNT_LIMIT"
LIMIT_KEY = "live_amount_limit"
LIMIT_SECTION = "limits"
LIMIT_SOURCE = f"{LIMIT_ENV} in the environment, or {LIMIT_KEY} under [{LIMIT_SECTION}] in .streamlit/secrets.toml"


def live_amount_limit(secrets: Mapping[str, Any] | None = None) -> Decimal | None:
    """The ceiling on one live call's amount (major units of its currency), or None when unset.

    ``OPS_LIVE_AMOUNT_LIMIT`` wins over ``[limits] live_amount_limit``; anything but a positive
    number is a ConfigError (a broken limit must not silently mean "no limit").
    """
    from_env = os.environ.get(LIMIT_ENV, "").strip()
    if from_env:
        value: Any = from_env
        where = LIMIT_ENV
    else:
        secrets = load_secrets() if secrets is None else secrets
        section = secrets.get(LIMIT_SECTION, {})
        value = section.get(LIMIT_KEY) if isinstance(section, Mapping) else None
        where = f"{LIMIT_KEY} under [{LIMIT_SECTION}] in {secrets_path()}"
        if value is None:
            return None
    limit = setting_amount(value)
    if limit is None or not limit.is_finite() or limit <= 0:
        raise ConfigError(f"{where} must be a positive amount such as 5000, got {value!r}")
    return limit
