"""Active sessions: what is live now, ticking every second, and what expired in the last hour."""
from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from lib.console import Console
from lib.session_rows import EXPIRED_NOTE
from ui.frame import frame
from ui.widgets import recreate_session, show_recreated

WHOSE = "active_whose"
INCLUDE_QA = "active_include_qa"
EXPIRED_GRID = "active_expired_grid"
EXPIRED_SHOWN = "active_expired_shown"  # the ids of the expired grid as drawn (selection → session)
RECREATED = "active_recreated"
MINE, EVERYONE = "Mine", "Everyone"
LINK = r"session=([^&]+)$"

f = frame("Active sessions", icon="⏱")

ACTIVE_COLUMNS = {
    "Session": st.column_config.LinkColumn("Session", display_text=LINK, help="Opens the session's detail page"),
    "Time left": st.column_config.ProgressColumn("Time left", min_value=0.0, max_value=1.0, format="percent",
                                                 help="Share of the 10-minute lifetime left"),
    "Left": st.column_config.TextColumn("Left", help="mm:ss until the session expires"),
    "Update": st.column_config.LinkColumn("Update", display_text="✏️ update"),
}


@st.fragment(run_every=1)
def active_grid(console: Console, env_name: str, tz: tzinfo, operator: str | None, include_qa: bool) -> None:
    """Re-queries the registry every second (sessions others create appear within 2 s) and redraws
    only this grid."""
    rows = console.active_table(env_name, tz, operator=operator, include_qa=include_qa)
    if not rows:
        st.info(f"No active sessions in **{env_name}**{' of yours' if operator else ''}.", icon="💤")
        return
    st.caption(f"**{len(rows)}** active, soonest expiry first")
    st.dataframe(rows, column_config=ACTIVE_COLUMNS, hide_index=True, width="stretch",
                 column_order=["Left", "Time left", "Order id", "Amount", "Created by", "Created", "Updates",
                               "State", "Session", "Update"], key="active_grid")


def recreate_selected() -> None:
    """Button callback: recreate the expired row selected in the grid exactly as it was drawn."""
    selected = st.session_state.get(EXPIRED_GRID, {}).get("selection", {}).get("rows", [])
    shown = st.session_state.get(EXPIRED_SHOWN, [])
    if selected and selected[0] < len(shown):
        recreate_session(f.console, f.env_name, f.operator, shown[selected[0]], key=RECREATED)


left, right, _ = st.columns([2, 2, 4])
whose = left.segmented_control("Created by", [MINE, EVERYONE], default=EVERYONE, key=WHOSE)
include_qa = right.toggle("Include QA-run sessions", key=INCLUDE_QA,
                          help="Sessions made by automated QA runs (tagged qa-run:…) are hidden by default.")
operator = f.operator if whose == MINE else None

active_grid(f.console, f.env_name, f.tz, operator, include_qa)

st.subheader("Expired in the last hour")
ids, expired = f.console.expired_table(f.env_name, f.tz, operator=operator, include_qa=include_qa)
st.session_state[EXPIRED_SHOWN] = ids
if not expired:
    st.caption("None.")
else:
    st.caption(f"Marked *{EXPIRED_NOTE}*: the API reports payments only by webhook. Select a row to recreate it.")
    event = st.dataframe(expired, hide_index=True, width="stretch", key=EXPIRED_GRID,
                         on_select="rerun", selection_mode="single-row",
                         column_order=["Expired", "Ago", "Order id", "Amount", "Created by", "Status", "Session"],
                         column_config={"Session": st.column_config.LinkColumn("Session", display_text=LINK),
                                        "Ago": st.column_config.TextColumn("Ago", help="mm:ss since it expired")})
    chosen = event.selection.rows if event else []
    st.button("Recreate with the same parameters", icon="♻️", disabled=not chosen, on_click=recreate_selected,
              help="A new session (new id, new 10 minutes) with the expired one's latest parameters.")
    st.caption("Refreshes when the page reruns (any click); the active list above ticks on its own.")
show_recreated(st.session_state.get(RECREATED), f.tz)
