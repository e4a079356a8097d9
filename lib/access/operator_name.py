"""Who is operating the console: never typed in, so the log's `operator` can be trusted.

The logged-in e-mail when single sign-on is configured; else `OPS_OPERATOR` (set by whoever
starts a shared local instance); else the operating-system user running the app.
"""
from __future__ import annotations

import getpass
import os


def operator(logged_in_email: str | None = None) -> str:
    if logged_in_email:
        return logged_in_email.strip().lower()
    configured = os.environ.get("OPS_OPERATOR", "").strip()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"
