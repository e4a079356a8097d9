"""The app's pages, in one registry: key, file, title, icon and the action opening it amounts to.

app.py registers them with ``st.navigation``, the frame draws the menu and refuses a page from
it, and every link to a page is built from it: no other module knows a page's path or URL. Who
may open a page follows from its action through ``lib.access``'s grants (one table of rules).

The frame draws the menu itself (``st.navigation`` is hidden) because a page reached directly
on a fresh server runs in Streamlit's legacy ``pages/`` mode, whose automatic menu lists raw
file names; ``client.showSidebarNavigation = false`` hides that one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode


@dataclass(frozen=True)
class PageInfo:
    key: str  # the file's stem, and the URL path Streamlit serves it at
    title: str
    icon: str
    action: str  # the lib.access action opening this page amounts to
    # "collapsed" for a page whose grid needs the whole width at 1280 px (the menu stays one click away).
    sidebar: Literal["auto", "collapsed"] = "auto"

    @property
    def path(self) -> str:
        return f"pages/{self.key}.py"

    def url(self, **query: str | int) -> str:
        """A relative URL of this page (ids quoted, so no id can change the URL's shape)."""
        return f"/{self.key}" + (f"?{urlencode({k: str(v) for k, v in query.items()})}" if query else "")


NEW_SESSION = PageInfo("new_session", "New session", "➕", "create")
ACTIVE = PageInfo("active_sessions", "Active sessions", "⏱", "view_active")
UPDATE = PageInfo("update_amount", "Update amount", "✏️", "update")
DETAIL = PageInfo("session_detail", "Session detail", "🔎", "view_session")
PAYMENTS = PageInfo("payments", "Payments", "💷", "view_payments")
QA = PageInfo("qa_explorer", "QA explorer", "🧪", "qa_run")
AUDIT = PageInfo("audit_log", "Audit log", "🧾", "view_audit", sidebar="collapsed")
SIGNINS = PageInfo("signins", "Who is signed in", "🔐", "manage_signins")

PAGES: tuple[PageInfo, ...] = (NEW_SESSION, ACTIVE, UPDATE, DETAIL, PAYMENTS, QA, AUDIT, SIGNINS)
