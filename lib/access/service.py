"""The access service: who is here, what they may open, and the record of it, for the page frame.

``ui/`` reaches the access area only through this module. The frame asks it, in order: may the
console start as configured (the sign-in settings, the address it listens on, the settings pages
rely on), who this person is, and may they open this page; every answer that refuses is written
to the call log before the page says so.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from starlette.middleware import Middleware

from lib.access import events
from lib.access.bind import check_bind_address
from lib.access.callback import FAILED_PARAM, SignInErrors
from lib.access.claims import PROVIDER_ERROR, SignInRefused
from lib.access.operator_name import local_operator
from lib.access.policy import AccessDenied, Identity, LoginRequired, denial, require_page
from lib.access.signin import AccessPolicy
from lib.access.signins import ENDED_WHY, LOGOUT, SignInRow, SignInStore
from lib.calllog.interface import CallLogStore
from lib.settings import ConfigError, load_secrets, ops_db_path
from lib.settings.limits import check_settings

__all__ = ["FAILED_PARAM", "AccessDenied", "AccessPolicy", "AccessService", "ConfigError", "Identity",
           "LoginRequired", "SignInErrors", "SignInRefused", "SignInRow", "sign_in_errors_middleware"]
NOT_SIGNED_IN = "(not signed in)"  # the operator of a sign-in the provider refused before naming anyone


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccessService:
    log: CallLogStore
    clock: Callable[[], datetime] = _utc_now  # the sign-ins' clock (the idle limit)

    @property
    def signins(self) -> SignInStore:
        return SignInStore(self.log.db_path, clock=self.clock)

    def starting_policy(self, bind_address: str | None) -> AccessPolicy:
        """The sign-in policy, once the console may run as configured (ConfigError naming what not)."""
        secrets = load_secrets()
        policy = AccessPolicy.from_secrets(secrets)
        check_bind_address(bind_address, secrets)
        check_settings(secrets)
        return policy

    @staticmethod
    def identify(policy: AccessPolicy, claims: Mapping[str, Any] | None) -> Identity:
        """The signed-in person from the ID token's ``claims``, or the local operator in local mode
        (LoginRequired when nobody is signed in, SignInRefused when the token lacks a verified e-mail)."""
        return policy.signed_in(claims, operator_fallback=local_operator())

    def record_tab_start(self, who: Identity, *, ip_address: str | None, user_agent: str | None) -> None:
        """Log a browser tab's start (not a sign-in: one sign-in has many tabs), and from where."""
        events.record_access(self.log, who, events.TAB_START,
                             detail={"ip_address": ip_address, "user_agent": user_agent})

    def record_refused(self, refused: SignInRefused) -> None:
        """A sign-in the provider completed but that gets no role (no e-mail, unverified): on record."""
        self.log.append(events.SIGN_IN_REFUSED, operator=refused.operator, environment=events.NO_ENVIRONMENT,
                        detail={"code": refused.code, "reason": refused.reason, **refused.signin.detail()})

    def record_provider_error(self, code: str, description: str | None) -> None:
        """The provider refused the sign-in at the callback (a prompt it does not support, …): on record."""
        self.log.append(events.SIGN_IN_REFUSED, operator=NOT_SIGNED_IN, environment=events.NO_ENVIRONMENT,
                        detail={"code": PROVIDER_ERROR, "error": code, "error_description": description})

    def check_signin(self, who: Identity) -> str | None:
        """Record this page request under ``who``'s sign-in; why it has ended (a page asks to sign in
        again), or None while it is active. A sign-in new to the server is logged as ``sign_in``."""
        if who.signin is None:
            return None
        seen = self.signins.seen(who.signin)
        if seen.new:
            events.record_access(self.log, who, events.SIGN_IN)
        if seen.just_ended:
            events.record_access(self.log, who, events.SIGN_OUT, detail={
                "why": seen.ended_why, "ended_at": seen.ended_at.isoformat() if seen.ended_at else None})
        return ENDED_WHY.get(seen.ended_why or "", seen.ended_why) if seen.ended_why else None

    def signin_ended(self, who: Identity) -> bool:
        """Whether ``who``'s sign-in was ended (logout elsewhere, an admin): for a live part of a page
        to stop and rerun the page, which then asks to sign in again. Not a use of the sign-in."""
        return who.signin is not None and self.signins.has_ended(who.signin.signin_id)

    def record_ended(self, who: Identity, why: str) -> None:
        """A page requested under an ended sign-in (a tab left open, a replayed cookie): refused, on record."""
        events.record_denied(self.log, who, AccessDenied(who.operator, events.OPEN_CONSOLE, None,
                                                         f"the sign-in has ended: {why}"))

    def sign_out(self, who: Identity) -> None:
        """Logout: end this sign-in on the server (a copied cookie stops working) and log it."""
        if who.signin is not None and self.signins.end(who.signin.signin_id, LOGOUT) is not None:
            events.record_access(self.log, who, events.SIGN_OUT, detail={"why": LOGOUT})

    def active_signins(self, admin: Identity) -> list[SignInRow]:
        """Who is signed in now (admins only: refused and logged otherwise)."""
        events.enforce(self.log, admin, "manage_signins")
        return self.signins.active()

    def sign_out_everywhere(self, admin: Identity, email: str) -> int:
        """End every sign-in of ``email`` (admins only); each one ended is logged as a ``sign_out``
        of that person, naming the admin. The number ended."""
        events.enforce(self.log, admin, "manage_signins")
        ended = self.signins.end_everywhere(email)
        for row in ended:
            self.log.append(events.SIGN_OUT, operator=row.email or f"sub {row.subject}",
                            environment=events.NO_ENVIRONMENT,
                            detail={"why": row.ended_why, "by": admin.operator, "issuer": row.issuer,
                                    "sub": row.subject, "signin_id": row.signin_id})
        return len(ended)

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


def sign_in_errors_middleware(log: Callable[[], CallLogStore] | None = None) -> Middleware:
    """The middleware recording a provider's refusal at the callback (``st.App(middleware=[…])``);
    the log (default: the configured database's) is opened when a refusal comes."""
    def record(code: str, description: str | None) -> None:
        from lib.calllog.log import CallLog

        AccessService(log() if log else CallLog(ops_db_path())).record_provider_error(code, description)

    return Middleware(partial(SignInErrors, record=record))
