"""Who may do what: roles from ``[access]``, local mode without ``[auth]``, and the checks behind every page.

Why it is built this way:
- The rules live here, not in pages: a create, update or QA run that a role or environment does
  not allow raises :class:`AccessDenied` whatever the UI offered (a stale tab, a crafted URL).
- One table (``GRANTS``: role → action → environments) says everything; which pages a role sees
  (``PAGE_ROLES``) and which environments its picker offers are derived from it, so the three can
  never disagree.
- Without ``[auth]`` nobody is authenticated, so the console must only be reachable from this
  machine (``check_bind_address``) and must never move real money (no ``acquired-live``): the
  local operator is ``admin`` of a sandbox, not of the company's money.
- Roles match the logged-in e-mail exactly or by whole domain (``*@example.com``), case-insensitive;
  a typo in ``[access]`` is a :class:`ConfigError` naming the entry, never a silent lock-out.
"""
from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal, get_args

from lib.calllog.log import CallLog
from lib.settings import ACQUIRED_LIVE, ACQUIRED_TEST, SANDBOX, ConfigError, load_secrets

FINANCE, QA, AUDITOR, ADMIN = "finance", "qa", "auditor", "admin"
ROLES: tuple[str, ...] = (FINANCE, QA, AUDITOR, ADMIN)
UNMASKED_ROLES = frozenset({FINANCE, AUDITOR, ADMIN})  # see customer personal data in full

Action = Literal["create", "update", "qa_run", "view_audit", "export", "view_session", "view_active"]
ACTIONS: tuple[str, ...] = get_args(Action)
# Actions that act in one environment: the caller must say which.
ENV_ACTIONS = frozenset({"create", "update", "qa_run", "view_active"})
ACTION_LABELS: dict[str, str] = {
    "create": "create sessions",
    "update": "update sessions",
    "qa_run": "run QA suites",
    "view_audit": "read the audit log",
    "export": "export data",
    "view_session": "view session details",
    "view_active": "list active sessions",
}

QA_ENVIRONMENTS = frozenset({SANDBOX, ACQUIRED_TEST})
ANY_ENVIRONMENT: frozenset[str] | None = None  # a grant valid in every environment
NEVER_LIVE = frozenset({"qa_run"})  # hundreds of odd requests: never where money is real
LOCAL_NEVER_LIVE = frozenset({"create", "update"})  # nobody is authenticated in local mode

# role → action → environments it may act in (None: any). The one statement of the rules.
GRANTS: dict[str, dict[str, frozenset[str] | None]] = {
    FINANCE: {"create": None, "update": None, "view_session": None, "view_active": None, "export": None},
    QA: {"create": QA_ENVIRONMENTS, "view_active": QA_ENVIRONMENTS, "qa_run": QA_ENVIRONMENTS,
         "view_session": None, "export": None},
    AUDITOR: {"view_audit": None, "view_session": None, "export": None},  # read-only
    ADMIN: dict.fromkeys(ACTIONS),
}

Page = Literal["new_session", "active_sessions", "update_amount", "session_detail", "qa_explorer", "audit_log"]
PAGES: tuple[str, ...] = get_args(Page)
# What opening a page amounts to; the page keys are the page files' stems (pages/<key>.py).
PAGE_ACTIONS: dict[str, str] = {
    "new_session": "create",
    "active_sessions": "view_active",
    "update_amount": "update",
    "session_detail": "view_session",
    "qa_explorer": "qa_run",
    "audit_log": "view_audit",
}
PAGE_ROLES: dict[str, frozenset[str]] = {
    page: frozenset(role for role in ROLES if action in GRANTS[role]) for page, action in PAGE_ACTIONS.items()
}

LOOPBACK_NAMES = frozenset({"localhost"})
DEFAULT_CONTACT = "an administrator of this console"
NO_ENVIRONMENT = "-"  # the call log's environment column for events that concern none
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")

_EMAIL = re.compile(r"^[^@\s*]+@(?P<domain>[^@\s*]+\.[^@\s*]+)$")
_DOMAIN_PATTERN = re.compile(r"^\*@(?P<domain>[^@\s*]+\.[^@\s*]+)$")


OPEN_PAGE = "open:"  # the action of opening a page: ``open:<page key>``
# The kinds of access events in the call log (beside the API calls and exports).
SESSION_START, ACCESS_DENIED, AUDIT_VIEW = "session_start", "access_denied", "audit_view"
ACCESS_KINDS: tuple[str, ...] = (SESSION_START, ACCESS_DENIED, AUDIT_VIEW)


def action_label(action: str) -> str:
    """``create`` → ``create sessions``; ``open:audit_log`` → ``open the audit log page``."""
    if action.startswith(OPEN_PAGE):
        return f"open the {action[len(OPEN_PAGE):].replace('_', ' ')} page"
    return ACTION_LABELS.get(action, action)


class AccessDenied(PermissionError):
    """An action this person may not take here; ``reason`` says why and what would allow it."""

    def __init__(self, operator: str, action: str, environment: str | None, reason: str) -> None:
        where = f" in {environment}" if environment else ""
        super().__init__(f"{operator} may not {action_label(action)}{where}: {reason}")
        self.operator = operator
        self.action = action
        self.environment = environment
        self.reason = reason


class LoginRequired(PermissionError):
    """``[auth]`` is configured but nobody is logged in: the page must call ``st.login`` first."""


def _role_scope(role: str) -> frozenset[str] | None:
    """The environments a role works in: the union of its environment-bound grants (None: any).

    A role with no environment-bound grant (auditor) reads every environment.
    """
    scopes = [scope for action, scope in GRANTS[role].items() if action in ENV_ACTIONS]
    if not scopes or any(scope is None for scope in scopes):
        return None
    return frozenset().union(*scopes)


@dataclass(frozen=True)
class Identity:
    """The person behind one browser session, as every check sees them."""

    operator: str
    roles: frozenset[str]
    local_mode: bool

    @property
    def has_role(self) -> bool:
        return bool(self.roles)

    @property
    def masks_personal_data(self) -> bool:
        """True unless a role that sees customer data in full is held (qa alone, or no role)."""
        return not (self.roles & UNMASKED_ROLES)

    def can_open(self, page: str) -> bool:
        if page not in PAGE_ROLES:
            raise ValueError(f"unknown page {page!r}: one of {', '.join(PAGES)}")
        return bool(self.roles & PAGE_ROLES[page])

    def pages(self) -> list[str]:
        """The pages to offer, in ``PAGES`` order."""
        return [page for page in PAGES if self.can_open(page)]

    def allowed_environments(self, all_configured: Iterable[str], action: str | None = None) -> list[str]:
        """The configured environments to offer, in their order.

        Without ``action``: those any held role works in (qa: sandbox and acquired-test only),
        never ``acquired-live`` in local mode. With ``action``: those where :func:`require` allows it.
        """
        configured = list(all_configured)
        if action is not None:
            return [env for env in configured if denial(self, action, env) is None]
        scopes = [_role_scope(role) for role in self.roles if role in GRANTS]
        return [env for env in configured
                if not (self.local_mode and env == ACQUIRED_LIVE)
                and any(scope is None or env in scope for scope in scopes)]


def _role_reason(identity: Identity, needed: frozenset[str]) -> str:
    if not identity.roles:
        return "you hold no role in this console"
    return (f"it needs one of the roles {', '.join(r for r in ROLES if r in needed)} "
            f"(you hold {', '.join(sorted(identity.roles))})")


def denial(identity: Identity, action: str, environment: str | None) -> str | None:
    """Why ``identity`` may not take ``action`` in ``environment``, or None when it may."""
    if action not in GRANTS[ADMIN]:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if action in ENV_ACTIONS and not environment:
        raise ValueError(f"{action} acts in one environment: say which")
    if environment == ACQUIRED_LIVE and action in NEVER_LIVE:
        return f"QA runs are never sent to {ACQUIRED_LIVE}: choose {' or '.join(sorted(QA_ENVIRONMENTS))}"
    if environment == ACQUIRED_LIVE and identity.local_mode and action in LOCAL_NEVER_LIVE:
        return (f"{ACQUIRED_LIVE} is not available in local mode (nobody is signed in): "
                "configure [auth] in .streamlit/secrets.toml")
    scopes = [GRANTS[role][action] for role in sorted(identity.roles) if action in GRANTS.get(role, {})]
    if not scopes:
        return _role_reason(identity, frozenset(role for role in ROLES if action in GRANTS[role]))
    if environment is None or any(scope is None or environment in scope for scope in scopes):
        return None
    allowed = sorted(frozenset().union(*(s for s in scopes if s is not None)))
    return f"your roles allow it only in {' or '.join(allowed)}"


def require(identity: Identity, action: Action, environment: str | None = None) -> None:
    """Raise :class:`AccessDenied` unless ``identity`` may take ``action`` in ``environment``."""
    reason = denial(identity, action, environment)
    if reason is not None:
        raise AccessDenied(identity.operator, action, environment, reason)


def require_page(identity: Identity, page: str) -> None:
    """Raise :class:`AccessDenied` (action ``open:<page>``) unless ``identity`` may open ``page``."""
    if not identity.can_open(page):
        raise AccessDenied(identity.operator, OPEN_PAGE + page, None, _role_reason(identity, PAGE_ROLES[page]))


def page_key(path: str) -> str:
    """``pages/new_session.py`` → ``new_session``: the key of a page file in ``PAGE_ROLES``."""
    return PurePath(path).stem


def record_access(log: CallLog, identity: Identity, kind: str, *, environment: str | None = None,
                  detail: Mapping[str, Any] | None = None) -> int:
    """Append an access event (``login``, ``access_denied``, …) to the call log: access is evidence too."""
    return log.append(kind, operator=identity.operator, environment=environment or NO_ENVIRONMENT,
                      detail={"roles": sorted(identity.roles), "local_mode": identity.local_mode, **(detail or {})})


def record_denied(log: CallLog, identity: Identity, denied: AccessDenied) -> int:
    """Log a refusal with what was attempted and why."""
    return record_access(log, identity, ACCESS_DENIED, environment=denied.environment,
                         detail={"action": denied.action, "reason": denied.reason})


def enforce(log: CallLog, identity: Identity, action: Action, environment: str | None = None) -> None:
    """:func:`require`, logging a refusal before raising it (what console methods call)."""
    try:
        require(identity, action, environment)
    except AccessDenied as denied:
        record_denied(log, identity, denied)
        raise


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

    @classmethod
    def from_secrets(cls, secrets: Mapping[str, Any] | None = None) -> AccessPolicy:
        secrets = load_secrets() if secrets is None else secrets
        check_auth(secrets)
        section = secrets.get("access", {})
        if not isinstance(section, Mapping):
            raise ConfigError("[access] in .streamlit/secrets.toml must be a table")
        grants: dict[str, frozenset[str]] = {}
        contact = None
        for key, value in section.items():
            if key == "contact":
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(f"[access] contact must be text (an e-mail or a team), got {value!r}")
                contact = value.strip()
            elif key in ROLES:
                grants[key] = _patterns(key, value)
            else:
                raise ConfigError(f"[access] {key}: unknown role; the roles are {', '.join(ROLES)} (and contact)")
        return cls(not is_local_mode(secrets), grants, contact)

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

    def no_role_message(self, identity: Identity) -> str:
        """What someone signed in without a role reads: that they have none, and whom to ask."""
        return (f"You are signed in as {identity.operator}, but you hold no role in this console "
                f"({', '.join(ROLES)}). Ask {self.contact or DEFAULT_CONTACT} to add you under [access].")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lib.access.policy {check-bind ADDRESS, whois EMAIL}``: the same checks as the app, from a shell."""
    parser = argparse.ArgumentParser(prog="python -m lib.access.policy", description=__doc__.splitlines()[0])
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

