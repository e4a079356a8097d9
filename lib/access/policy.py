"""Who may do what: roles, the actions they grant in which environments, and the person asking.

Why it is built this way:
- The rules live here, not in pages: a create, update or QA run that a role or environment does
  not allow raises :class:`AccessDenied` whatever the UI offered (a stale tab, a crafted URL).
- One table (``GRANTS``: role → action → environments) says everything; which pages a role sees
  (a page names the action opening it amounts to) and which environments its picker offers are
  derived from it, so they can never disagree.
- Without ``[auth]`` nobody is authenticated (local mode): the local operator is ``admin`` of a
  sandbox, never of the company's money, so ``acquired-live`` is refused there.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from lib.access.claims import SignIn
from lib.settings import ACQUIRED_LIVE, ACQUIRED_TEST, SANDBOX

FINANCE, QA, AUDITOR, ADMIN = "finance", "qa", "auditor", "admin"
ROLES: tuple[str, ...] = (FINANCE, QA, AUDITOR, ADMIN)
UNMASKED_ROLES = frozenset({FINANCE, AUDITOR, ADMIN})  # see customer personal data in full

Action = Literal["create", "update", "qa_run", "view_audit", "export", "view_session", "view_active", "capture",
                 "void", "refund", "view_payments", "checkpoint", "manage_signins"]
ACTIONS: tuple[str, ...] = get_args(Action)
# Actions that act in one environment: the caller must say which.
ENV_ACTIONS = frozenset({"create", "update", "qa_run", "view_active", "capture", "void", "refund", "view_payments"})
MONEY_ACTIONS = frozenset({"capture", "void", "refund"})  # operations on a customer's payment
ACTION_LABELS: dict[str, str] = {
    "create": "create sessions",
    "update": "update sessions",
    "qa_run": "run QA suites",
    "view_audit": "read the audit log",
    "export": "export data",
    "view_session": "view session details",
    "view_active": "list active sessions",
    "capture": "capture payments",
    "void": "void payments",
    "refund": "refund payments",
    "view_payments": "view payments",
    "checkpoint": "pin the call log's head (checkpoint)",
    "manage_signins": "see who is signed in and sign a person out everywhere",
}

QA_ENVIRONMENTS = frozenset({SANDBOX, ACQUIRED_TEST})
ANY_ENVIRONMENT: frozenset[str] | None = None  # a grant valid in every environment
NEVER_LIVE = frozenset({"qa_run"})  # hundreds of odd requests: never where money is real
LOCAL_NEVER_LIVE = frozenset({"create", "update"}) | MONEY_ACTIONS  # nobody is authenticated in local mode

# role → action → environments it may act in (None: any). The one statement of the rules.
GRANTS: dict[str, dict[str, frozenset[str] | None]] = {
    FINANCE: {"create": None, "update": None, "view_session": None, "view_active": None, "export": None,
              "view_payments": None, **dict.fromkeys(MONEY_ACTIONS)},
    QA: {"create": QA_ENVIRONMENTS, "view_active": QA_ENVIRONMENTS, "qa_run": QA_ENVIRONMENTS,
         "view_session": None, "export": None, "view_payments": QA_ENVIRONMENTS,
         **dict.fromkeys(MONEY_ACTIONS, QA_ENVIRONMENTS)},
    AUDITOR: {"view_audit": None, "view_session": None, "export": None, "view_payments": None,  # read-only,
              "checkpoint": None},  # but for pinning the log's head
    ADMIN: dict.fromkeys(ACTIONS),  # manage_signins among them: admins only
}

OPEN_PAGE = "open:"  # the action of opening a page: ``open:<page key>``


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
    bound = [scope for scope in scopes if scope is not None]
    if not scopes or len(bound) < len(scopes):
        return None
    return frozenset[str]().union(*bound)


@dataclass(frozen=True)
class Identity:
    """The person behind one browser session, as every check sees them."""

    operator: str
    roles: frozenset[str]
    local_mode: bool
    signin: SignIn | None = None  # the provider's account behind a sign-in (None in local mode)

    @property
    def has_role(self) -> bool:
        return bool(self.roles)

    @property
    def masks_personal_data(self) -> bool:
        """True unless a role that sees customer data in full is held (qa alone, or no role)."""
        return not (self.roles & UNMASKED_ROLES)

    def may(self, action: str) -> bool:
        """Whether some role held grants ``action`` in some environment (what opening a page needs)."""
        if action not in GRANTS[ADMIN]:
            raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        return any(action in GRANTS.get(role, {}) for role in self.roles)

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


def roles_granting(action: str) -> frozenset[str]:
    """The roles that hold ``action`` somewhere (who may open a page that needs it)."""
    return frozenset(role for role in ROLES if action in GRANTS[role])


def require_page(identity: Identity, page: str, action: str) -> None:
    """Raise :class:`AccessDenied` (action ``open:<page>``) unless ``identity`` may take ``action``,
    which opening ``page`` amounts to. Pages are the UI's: here ``page`` is only a name."""
    if not identity.may(action):
        raise AccessDenied(identity.operator, OPEN_PAGE + page, None, _role_reason(identity, roles_granting(action)))


def require(identity: Identity, action: Action, environment: str | None = None) -> None:
    """Raise :class:`AccessDenied` unless ``identity`` may take ``action`` in ``environment``."""
    reason = denial(identity, action, environment)
    if reason is not None:
        raise AccessDenied(identity.operator, action, environment, reason)


