"""Sign-in settings: ``[auth]`` (OpenID Connect through ``st.login``) and ``[access]`` (roles by e-mail).

Roles match the logged-in e-mail exactly or by whole domain (``*@example.com``), case-insensitive,
and only an e-mail the provider verified (lib.access.claims); a typo in ``[access]`` is a
:class:`ConfigError` naming the entry, never a silent lock-out.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.access.claims import SignIn, verified_email
from lib.access.policy import ADMIN, ROLES, Identity, LoginRequired
from lib.settings import ConfigError, load_secrets

DEFAULT_CONTACT = "an administrator of this console"
# [access] key: trust an e-mail sent without any email_verified claim (never one marked false).
TRUST_UNVERIFIED_KEY = "trust_email_without_verified_claim"
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")

_EMAIL = re.compile(r"^[^@\s*]+@(?P<domain>[^@\s*]+\.[^@\s*]+)$")
_DOMAIN_PATTERN = re.compile(r"^\*@(?P<domain>[^@\s*]+\.[^@\s*]+)$")


def is_local_mode(secrets: Mapping[str, Any]) -> bool:
    """No ``[auth]`` (or an empty one): nobody signs in, so the console runs for this machine only."""
    return not secrets.get("auth")


def check_auth(secrets: Mapping[str, Any]) -> None:
    """Raise ConfigError naming what an ``[auth]`` section lacks for ``st.login()`` (default provider)."""
    auth = secrets.get("auth")
    if not auth:
        return
    if not isinstance(auth, Mapping):
        raise ConfigError("[auth] in .streamlit/secrets.toml must be a table")
    missing = [key for key in AUTH_KEYS if not auth.get(key)]
    if missing:
        raise ConfigError(f"[auth] in .streamlit/secrets.toml lacks {', '.join(missing)}")
    if not str(auth["redirect_uri"]).endswith("/oauth2callback"):
        raise ConfigError(f"[auth] redirect_uri must end with /oauth2callback, got {auth['redirect_uri']!r}")



def _patterns(role: str, value: Any) -> frozenset[str]:
    """The e-mails and ``*@domain`` patterns of one role, lower-cased; ConfigError on a bad entry."""
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list):
        raise ConfigError(f"[access] {role} must be a list of e-mails or *@domain patterns, got {value!r}")
    found = set()
    for entry in entries:
        text = entry.strip().lower() if isinstance(entry, str) else entry
        if not isinstance(text, str) or not (_EMAIL.match(text) or _DOMAIN_PATTERN.match(text)):
            raise ConfigError(f"[access] {role}: {entry!r} is neither an e-mail address nor a *@domain pattern")
        found.add(text)
    return frozenset(found)


@dataclass(frozen=True)
class AccessPolicy:
    """``[auth]`` and ``[access]`` of the secrets file, checked once and then asked per person."""

    auth: bool
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)  # role → e-mails / *@domain
    contact: str | None = None
    trust_missing_verified_claim: bool = False  # [access] trust_email_without_verified_claim

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any] | None = None) -> AccessPolicy:
        secrets = load_secrets() if secrets is None else secrets
        check_auth(secrets)
        section = secrets.get("access", {})
        if not isinstance(section, Mapping):
            raise ConfigError("[access] in .streamlit/secrets.toml must be a table")
        grants: dict[str, frozenset[str]] = {}
        contact = None
        trust_missing = False
        for key, value in section.items():
            if key == TRUST_UNVERIFIED_KEY:
                if not isinstance(value, bool):
                    raise ConfigError(f"[access] {TRUST_UNVERIFIED_KEY} must be true or false, got {value!r}")
                trust_missing = value
            elif key == "contact":
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(f"[access] contact must be text (an e-mail or a team), got {value!r}")
                contact = value.strip()
            elif key in ROLES:
                grants[key] = _patterns(key, value)
            else:
                raise ConfigError(f"[access] {key}: unknown role; the roles are {', '.join(ROLES)} "
                                  f"(and contact, {TRUST_UNVERIFIED_KEY})")
        return cls(not is_local_mode(secrets), grants, contact, trust_missing)

    def roles_of(self, email: str) -> frozenset[str]:
        """Roles granted to ``email`` by exact address or by its whole domain."""
        address = email.strip().lower()
        domain_pattern = "*@" + address.rpartition("@")[2]
        return frozenset(role for role, patterns in self.grants.items()
                         if address in patterns or domain_pattern in patterns)

    def identity(self, email: str | None, *, operator_fallback: str) -> Identity:
        """The signed-in person (``email``), or the local operator (admin) when ``[auth]`` is absent."""
        if not self.auth:
            return Identity(operator_fallback, frozenset({ADMIN}), local_mode=True)
        if not email or not email.strip():
            raise LoginRequired("sign in first: [auth] is configured, so every page needs a login")
        return Identity(email.strip().lower(), self.roles_of(email), local_mode=False)

    def signed_in(self, claims: Mapping[str, Any] | None, *, operator_fallback: str) -> Identity:
        """The person behind the provider's ID-token ``claims`` (``st.user``), roles granted only on a
        verified e-mail: LoginRequired when nobody is signed in, SignInRefused when the token lacks
        what a role needs. Without ``[auth]``, the local operator (admin)."""
        if not self.auth:
            return self.identity(None, operator_fallback=operator_fallback)
        if not claims or not claims.get("is_logged_in"):
            raise LoginRequired("sign in first: [auth] is configured, so every page needs a login")
        signin = SignIn.from_claims(claims)
        email = verified_email(signin, trust_missing_verified_claim=self.trust_missing_verified_claim)
        return Identity(email, self.roles_of(email), local_mode=False, signin=signin)

    def no_role_message(self, identity: Identity) -> str:
        """What someone signed in without a role reads: that they have none, and whom to ask."""
        return (f"You are signed in as {identity.operator}, but you hold no role in this console "
                f"({', '.join(ROLES)}). Ask {self.contact or DEFAULT_CONTACT} to add you under [access].")



