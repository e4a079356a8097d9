"""Payment-sessions ops console: registers the pages of ui/pages.py (see README), and serves the
webhook route beside them.

``streamlit run app.py`` finds the ``st.App`` below (Streamlit reads this file's source for an
``App(...)`` assignment), imports this file as the module ``app`` and serves that App: the pages
and ``POST /webhooks/acquired/{environment}`` on one port, and sweeps every 30 s for the
payments of expired sessions whose webhook never came. The App's script is this same file,
which Streamlit then runs as ``__main__`` for every page view (AppTest too): that run registers
the pages. Who is here is settled first (sign-in, role). Every page is registered (the menu is
the frame's, so none is listed that the person may not open): a page opened by URL that the
role may not open runs its ``frame()``, which refuses it and logs the attempt, rather than
Streamlit answering "Page not found" with nothing on record. A provider's refusal at the sign-in
callback is recorded and explained too (lib.access.callback), not answered by a silent redirect.
"""
import os

import streamlit as st

from lib.access.service import sign_in_errors_middleware
from lib.payments.service import payments_lifespan, webhook_routes

if __name__ == "__main__":  # a page view
    from ui.frame import allowed_pages, gate, log_guard, shared_sessions
    from ui.pages import PAGES

    who = gate(shared_sessions())
    first = allowed_pages(who)[0]
    pages = [st.Page(p.path, title=p.title, icon=p.icon, default=p == first) for p in PAGES]
    with log_guard():  # a log that fails in the middle of a page (locked, corrupted) is explained, not a traceback
        st.navigation(pages, position="hidden").run()
else:  # imported by `streamlit run app.py`: the server, pages and webhooks together
    # The sandbox's sessions carry this server's webhook URL (lib.settings.webhook_url reads the port
    # from the environment): say the port the server really listens on, `--server.port` included,
    # or a console on another port than 8501 would never hear of its payments.
    os.environ["STREAMLIT_SERVER_PORT"] = str(st.get_option("server.port"))
    app = st.App("app.py", routes=webhook_routes(), lifespan=payments_lifespan(),
                 middleware=[sign_in_errors_middleware()])
