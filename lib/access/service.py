"""The access service: who is here, what they may open, and the record of it, for the page frame.

``ui/`` reaches the access area only through this module. The frame asks it, in order: may the
console start as configured (the sign-in settings, the address it listens on, the settings pages
rely on), who this person is, and may they open this page; every answer that refuses is written
to the call log before the page says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from lib.access import events
from lib.access.bind import check_bind_address
from lib.access.operator_name import local_operator
from lib.access.policy import AccessDenied, Identity, LoginRequired, denial, require_page
from lib.access.signin import AccessPolicy
from lib.calllog.interface import CallLogStore
from lib.settings import ConfigError, load_secrets
from lib.settings.limits import check_settings

__all__ = ["AccessDenied", "AccessPolicy", "AccessService", "ConfigError", "Identity", "LoginRequired"]


@dataclass(frozen=True)
class AccessService:
    log: CallLogStore

    def starting_policy(self, bind_address: str | None) -> AccessPolicy:
        """The sign-in policy, once the console may run as configured (ConfigError naming what not)."""
        secrets = load_secrets()
        policy = AccessPolicy.from_secrets(secrets)
        check_bind_address(bind_address, secrets)
        check_settings(secrets)
        return policy

    @staticmethod
    def identify(policy: AccessPolicy, email: str | None) -> Identity:
        """The signed-in person, or the local operator in local mode (LoginRequired when nobody is)."""
        return policy.identity(email, operator_fallback=local_operator())

    def record_start(self, who: Identity, *, ip_address: str | None, user_agent: str | None) -> None:
        """Log a browser session's start: who, and from where as far as the server can tell."""
        events.record_access(self.log, who, events.SESSION_START,
                             detail={"ip_address": ip_address, "user_agent": user_agent})

    def record_no_role(self, who: Identity) -> None:
        """A signed-in person without any role is refused the whole console: on record."""
        events.record_denied(self.log, who, AccessDenied(who.operator, f"{events.OPEN_CONSOLE}", None,
                                                         "you hold no role in this console"))

    def open_page(self, who: Identity, page: str, action: str) -> None:
        """Raise (after logging it) :class:`AccessDenied` unless ``who`` may open ``page``."""
        try:
            require_page(who, page, action)
        except AccessDenied as denied:
            events.record_denied(self.log, who, denied)
            raise

    @staticmethod
    def refusal(who: Identity, action: str, environment: str | None) -> str | None:
        """Why ``who`` may not take ``action`` there (None: they may), for a page to explain before offering it."""
        return denial(who, action, environment)
