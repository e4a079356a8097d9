"""Access events in the call log: sign-ins, refusals, audit views. Access is evidence too.

A refusal is recorded before it is raised, so a person probing pages or actions they may not
use leaves a trace whatever the UI showed them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lib.access.policy import OPEN_PAGE, AccessDenied, Action, Identity, require
from lib.calllog.interface import CallLogStore

NO_ENVIRONMENT = "-"  # the call log's environment column for events that concern none
OPEN_CONSOLE = OPEN_PAGE + "console"  # what a person without any role is refused

# The kinds of access events in the call log (beside the API calls and exports). A sign-in, its
# end and a browser tab opening are distinct, so an auditor counts sign-ins; ``session_start``
# (one per tab, written before they were told apart) stays readable in old logs.
SIGN_IN, SIGN_OUT, SIGN_IN_REFUSED, TAB_START = "sign_in", "sign_out", "sign_in_refused", "tab_start"
SESSION_START, ACCESS_DENIED, AUDIT_VIEW = "session_start", "access_denied", "audit_view"
ACCESS_KINDS: tuple[str, ...] = (SIGN_IN, SIGN_OUT, SIGN_IN_REFUSED, TAB_START, ACCESS_DENIED, AUDIT_VIEW,
                                 SESSION_START)




def record_access(log: CallLogStore, identity: Identity, kind: str, *, environment: str | None = None,
                  detail: Mapping[str, Any] | None = None) -> int:
    """Append an access event (``sign_in``, ``access_denied``, …) to the call log: access is evidence too.

    A signed-in person's provider account (issuer and ``sub``) goes with every event, so two accounts
    sharing an e-mail are told apart."""
    account = identity.signin.detail() if identity.signin else {}
    return log.append(kind, operator=identity.operator, environment=environment or NO_ENVIRONMENT,
                      detail={"roles": sorted(identity.roles), "local_mode": identity.local_mode, **account,
                              **(detail or {})})


def record_denied(log: CallLogStore, identity: Identity, denied: AccessDenied) -> int:
    """Log a refusal with what was attempted and why."""
    return record_access(log, identity, ACCESS_DENIED, environment=denied.environment,
                         detail={"action": denied.action, "reason": denied.reason})


def enforce(log: CallLogStore, identity: Identity, action: Action, environment: str | None = None) -> None:
    """:func:`require`, logging a refusal before raising it (what console methods call)."""
    try:
        require(identity, action, environment)
    except AccessDenied as denied:
        record_denied(log, identity, denied)
        raise



