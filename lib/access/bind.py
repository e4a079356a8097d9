"""Where the console may listen, and ``python -m lib.access``: the app's own checks from a shell.

Without ``[auth]`` nobody is authenticated, so the console must only be reachable from this
machine: anyone who reaches it would be admin.
"""
from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from lib.access.signin import AccessPolicy, is_local_mode
from lib.settings import ConfigError, load_secrets

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(address: str | None) -> bool:
    """``127.0.0.1``, ``localhost``, ``::1`` (brackets allowed); empty means every interface."""
    text = (address or "").strip().strip("[]").lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_bind_address(address: str | None, secrets: Mapping[str, Any]) -> None:
    """Refuse a non-loopback bind in local mode: with nobody signed in, anyone reaching it is admin."""
    if is_local_mode(secrets) and not is_loopback(address):
        shown = address or "every interface (server.address is not set)"
        raise ConfigError(f"the console binds {shown}; without [auth] the console only runs on "
                          "127.0.0.1/localhost/::1: configure [auth] in .streamlit/secrets.toml")



def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lib.access {check-bind ADDRESS, whois EMAIL}``: the same checks as the app, from a shell."""
    parser = argparse.ArgumentParser(prog="python -m lib.access", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-bind", help="exit 1 if the app may not bind ADDRESS").add_argument("address")
    commands.add_parser("whois", help="the roles an e-mail gets").add_argument("email")
    args = parser.parse_args(argv)
    try:
        secrets = load_secrets()
        policy = AccessPolicy.from_secrets(secrets)
        if args.command == "check-bind":
            check_bind_address(args.address, secrets)
            print(f"ok: {args.address} ({'local mode' if not policy.auth else 'sign-in required'})")
            return 0
        who = policy.identity(args.email, operator_fallback=args.email)
        print(f"{who.operator}: {', '.join(sorted(who.roles)) or 'no role'}"
              f"{' (local mode: everyone local is admin)' if who.local_mode else ''}")
        return 0
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1

