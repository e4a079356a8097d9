"""The app's pages, in one list: app.py registers them and the frame draws the menu from it.

The frame draws the menu itself (``st.navigation`` is hidden) because a page reached directly
on a fresh server runs in Streamlit's legacy ``pages/`` mode, whose automatic menu lists raw
file names; ``client.showSidebarNavigation = false`` hides that one.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str


PAGES: tuple[PageInfo, ...] = (
    PageInfo("pages/new_session.py", "New session", "➕"),
    PageInfo("pages/active_sessions.py", "Active sessions", "⏱"),
    PageInfo("pages/update_amount.py", "Update amount", "✏️"),
    PageInfo("pages/session_detail.py", "Session detail", "🔎"),
    PageInfo("pages/qa_explorer.py", "QA explorer", "🧪"),
    PageInfo("pages/audit_log.py", "Audit log", "🧾"),
)
