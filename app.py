"""Payment-sessions ops console: registers the pages of ui/pages.py (see README), and serves the
webhook route beside them.

``streamlit run app.py`` finds the ``st.App`` below (Streamlit reads this file's source for an
``App(...)`` assignment), imports this file as the module ``app`` and serves that App: the pages
and ``POST /webhooks/acquired/{environment}`` on one port, and sweeps every 30 s for the
payments of expired sessions whose webhook never came. The App's script is this same file,
which Streamlit then runs as ``__main__`` for every page view (AppTest too): that run registers
the pages. Who is here is settled first (sign-in, role), so only the pages this person may open
are registered; each page's own ``frame()`` checks again, for a page reached without app.py.
"""
import os

import streamlit as st

from lib.payments.service import payments_lifespan, webhook_routes

if __name__ == "__main__":  # a page view
    from ui.frame import allowed_pages, gate, log_guard, shared_sessions

    who = gate(shared_sessions())
    pages = [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(allowed_pages(who))]
    with log_guard():  # a log that fails in the middle of a page (locked, corrupted) is explained, not a traceback
        st.navigation(pages, position="hidden").run()
else:  # imported by `streamlit run app.py`: the server, pages and webhooks together
    # The sandbox's sessions carry this server's webhook URL (lib.settings.webhook_url reads the port
    # from the environment): say the port the server really listens on, `--server.port` included,
    # or a console on another port than 8501 would never hear of its payments.
    os.environ["STREAMLIT_SERVER_PORT"] = str(st.get_option("server.port"))
    app = st.App("app.py", routes=webhook_routes(), lifespan=payments_lifespan())
