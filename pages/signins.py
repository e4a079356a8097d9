"""Who is signed in (admins only): the active sign-ins, and "sign this person out everywhere".

Streamlit's login cookie stays valid for 30 days whatever the server does, so the server keeps
its own record of sign-ins (lib.access.signins); ending them here makes every browser of that
person, and any copy of their cookie, ask to sign in again at its next page request. Each
sign-out is logged, naming the admin. Names and e-mails come from the provider: shown as text.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.frame import frame, log_guard
from ui.pages import SIGNINS
from ui.text import md

f = frame(SIGNINS)
with log_guard():
    active = f.access.active_signins(f.identity)

st.caption("Sign-ins used within the idle limit and not ended. Ending one asks that person to sign in again "
           "on their next page request, in every browser.")
st.dataframe(pd.DataFrame([{"e-mail": row.email, "verified": row.email_verified, "issuer": row.issuer,
                            "sub": row.subject, "started": f.time(row.started_at),
                            "last seen": f.time(row.last_seen_at)} for row in active],
                          columns=["e-mail", "verified", "issuer", "sub", "started", "last seen"]),
             hide_index=True, key="signins_grid")

emails = sorted({row.email for row in active if row.email})
with st.form("signins_sign_out"):
    email = st.selectbox("Person", emails, index=None, placeholder="Choose a signed-in e-mail",
                         key="signins_email")
    confirmed = st.form_submit_button("Sign this person out everywhere", type="primary", icon="🚪")
if confirmed and email:
    with log_guard():
        ended = f.access.sign_out_everywhere(f.identity, email)
    st.success(f"Signed out {md(email)}: {ended} sign-in{'s' if ended != 1 else ''} ended.")
elif confirmed:
    st.warning("Choose the person to sign out first.")
