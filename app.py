"""Payment-sessions ops console: registers the pages of ui/navigation.py (see README)."""
import streamlit as st

from ui.navigation import PAGES

pages = [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(PAGES)]
st.navigation(pages, position="hidden").run()
