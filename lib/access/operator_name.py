"""Who operates a console nobody signs in to (local mode): never typed in, so the log can trust it.

``OPS_OPERATOR`` (set by whoever starts a shared local instance), else the operating-system user
running the app. With sign-in configured the operator is the signed-in e-mail instead.
"""
from __future__ import annotations

import getpass
import os

from lib import settings


def local_operator() -> str:
    configured = settings.operator_override()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"
