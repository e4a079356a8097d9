"""Active sessions: what is live now, ticking every second, and what expired in the last hour."""
from __future__ import annotations

import streamlit as st

from lib.payments.service import PaymentsService
from lib.sessions.service import SessionsService, active_columns, expired_rows
from ui.frame import frame
from ui.once import once
from ui.pages import ACTIVE
from ui.widgets import TO_DETAIL, TO_UPDATE, linked, live_confirmation, recreate_session, show_recreated

WHOSE = "active_whose"
INCLUDE_QA = "active_include_qa"
EXPIRED_GRID = "active_expired_grid"
EXPIRED_SHOWN = "active_expired_shown"  # the ids of the expired grid as drawn (selection → session)
RECREATED = "active_recreated"
RECREATE_CONFIRM = "active_recreate_confirm"
MINE, EVERYONE = "Mine", "Everyone"
LINK = r"session=([^&]+)$"

f = frame(ACTIVE)

# Sized so the whole row fits a 1400 px screen: the countdown and what the session is first, the
# links right after them, who made it last. The bar has no title: "Left" beside it says the same.
ACTIVE_COLUMNS = {
    "Left": st.column_config.TextColumn("Left", width=56, help="mm:ss until the session expires"),
    "Remaining": st.column_config.ProgressColumn("", width=64, min_value=0.0, max_value=1.0, format=" ",
                                                 help="Share of the 10-minute lifetime left"),
    "Order id": st.column_config.TextColumn("Order id", width=125),
    "Amount": st.column_config.TextColumn("Amount", width=92),
    "Payment": st.column_config.TextColumn("Payment", width=170, help="Did the customer pay? In words."),
    "State": st.column_config.TextColumn("State", width=105,
                                         help="⚠️ uncertain: an amount update's outcome is unknown. "
                                              "Resend it from Update amount."),
    "Session": st.column_config.LinkColumn("Session", display_text=LINK, width=250,
                                           help="Opens the session's detail page"),
    "Update": st.column_config.LinkColumn("Update", display_text="✏️ update", width=74,
                                          help="Opens the Update amount page for this session"),
    "Created by": st.column_config.TextColumn("Created by", width=170),
}


EXPIRED_COLUMNS = {
    "Ago": st.column_config.TextColumn("Ago", width=56, help="mm:ss since it expired"),
    "Order id": st.column_config.TextColumn("Order id", width=125),
    "Amount": st.column_config.TextColumn("Amount", width=92),
    "Payment": st.column_config.TextColumn("Payment", width=220, help="Paid, or expired unpaid (and why)"),
    "Session": st.column_config.LinkColumn("Session", display_text=LINK, width=250,
                                           help="Opens the session's detail page"),
    "Expired": st.column_config.TextColumn("Expired", width=170),
    "Created by": st.column_config.TextColumn("Created by", width=170),
}


@st.fragment(run_every=1)
def active_grid(sessions: SessionsService, payments: PaymentsService, env_name: str, operator: str | None,
                include_qa: bool) -> None:
    """Re-queries the registry every second (sessions others create appear within 2 s, a payment
    shows within 2 s of its webhook) and redraws only this grid."""
    table = sessions.active_table(env_name, operator=operator, include_qa=include_qa)
    states = payments.active_statuses([row["Session"] for row in table])
    rows = linked([{**row, "Payment": states[row["Session"]].text} for row in table], TO_DETAIL, TO_UPDATE)
    if not rows:
        st.info(f"No active sessions in **{env_name}**{' of yours' if operator else ''}.", icon="💤")
        return
    st.caption(f"**{len(rows)}** active, soonest expiry first")
    st.dataframe(rows, column_config=ACTIVE_COLUMNS, hide_index=True, width="stretch",
                 column_order=with_payment(active_columns(rows)), key="active_grid")


def with_payment(columns: list[str]) -> list[str]:
    """The payment status right after the amount it is about."""
    at = columns.index("Amount") + 1
    return [*columns[:at], "Payment", *columns[at:]]


def recreate_selected() -> None:
    """Button callback: recreate the expired row selected in the grid exactly as it was drawn."""
    selected = st.session_state.get(EXPIRED_GRID, {}).get("selection", {}).get("rows", [])
    shown = st.session_state.get(EXPIRED_SHOWN, [])
    if selected and selected[0] < len(shown):
        recreate_session(f.sessions, f.env_name, f.identity, shown[selected[0]], key=RECREATED,
                         confirm_key=RECREATE_CONFIRM)


left, right, _ = st.columns([2, 2, 4])
whose = left.segmented_control("Created by", [MINE, EVERYONE], default=EVERYONE, key=WHOSE)
include_qa = right.toggle("Include QA-run sessions", key=INCLUDE_QA,
                          help="Sessions made by automated QA runs (tagged qa-run:…) are hidden by default.")
operator = f.operator if whose == MINE else None

active_grid(f.sessions, f.payments, f.env_name, operator, include_qa)

st.subheader("Expired in the last hour")
gone = f.sessions.recently_expired(f.env_name, operator=operator, include_qa=include_qa)
ids = [s.session_id for s in gone]
paid = f.payments.statuses(gone)
expired = linked([{**row, "Payment": paid[row["Session"]].text} for row in expired_rows(gone, f.sessions.clock(), f.tz)],
                 TO_DETAIL)
st.session_state[EXPIRED_SHOWN] = ids  # the ids of the grid as drawn: a selection acts on what was seen
if not expired:
    st.caption("None.")
else:
    st.caption("Whether each was paid is its Payment column (webhooks, and a lookup after expiry). "
               "Select a row to recreate it.")
    event = st.dataframe(expired, hide_index=True, width="stretch", key=EXPIRED_GRID,
                         on_select="rerun", selection_mode="single-row",
                         column_order=["Ago", "Order id", "Amount", "Payment", "Session", "Expired", "Created by"],
                         column_config=EXPIRED_COLUMNS)
    chosen = event.selection.rows if event else []
    if chosen and chosen[0] < len(ids):
        picked = gone[chosen[0]]
        live_confirmation(f.env, picked.amount, picked.currency, key=RECREATE_CONFIRM)
    st.button("Recreate with the same parameters", icon="♻️", disabled=not chosen,
              help="A new session (new id, new 10 minutes) with the expired one's latest parameters.",
              **once(RECREATED, recreate_selected))
    st.caption("Refreshes when the page reruns (any click); the active list above ticks on its own.")
show_recreated(f.sessions, f.env_name, f.identity, key=RECREATED, tz=f.tz, confirm_key=RECREATE_CONFIRM)
