"""Payment-sessions ops console: registers the pages of ui/pages.py (see README).

Who is here is settled first (sign-in, role), so only the pages this person may open are
registered; each page's own ``frame()`` checks again, for a page reached without app.py.
"""
import streamlit as st

from ui.frame import allowed_pages, gate, log_guard, shared_sessions

who = gate(shared_sessions())
pages = [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(allowed_pages(who))]
with log_guard():  # a log that fails in the middle of a page (locked, corrupted) is explained, not a traceback
    st.navigation(pages, position="hidden").run()
