"""Payment-sessions ops console: routes to one page per file in pages/ (see README)."""
import streamlit as st

PAGES = [
    st.Page("pages/new_session.py", title="New session", icon="➕", default=True),
    st.Page("pages/active_sessions.py", title="Active sessions", icon="⏱"),
    st.Page("pages/update_amount.py", title="Update amount", icon="✏️"),
    st.Page("pages/session_detail.py", title="Session detail", icon="🔎"),
    st.Page("pages/audit_log.py", title="Audit log", icon="🧾"),
]

st.navigation(PAGES).run()
