"""Payments: by default what was paid today and what expired unpaid; filter by status, order id,
creator and period (the environment is the sidebar's); open one to capture, void or refund it."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from lib.access.service import AccessService
from lib.payments.service import DEFAULT_RECENT, PaymentsService, PaymentStatus, RecentPayment
from lib.sessions.service import amount_text
from ui.frame import Frame, frame
from ui.pages import PAYMENTS
from ui.payment_status import payment_section
from ui.text import md
from ui.widgets import TO_DETAIL, linked

STATUSES = "payments_statuses"
ORDER = "payments_order_id"
CREATOR = "payments_creator"
PERIOD = "payments_period"
INCLUDE_QA = "payments_include_qa"
PICKED = "payments_picked"
PERIODS = {"Today (UTC)": None, "Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30)}
COLUMNS = {
    "Payment": st.column_config.TextColumn("Payment", width=260, help="The payment status in words"),
    "Order id": st.column_config.TextColumn("Order id", width=150),
    "Amount": st.column_config.TextColumn("Amount", width=100),
    "Session": st.column_config.LinkColumn("Session", display_text=r"session=([^&]+)$", width=250,
                                           help="Opens the session's detail page"),
    "Created": st.column_config.TextColumn("Created", width=150),
    "Created by": st.column_config.TextColumn("Created by", width=170),
}

f = frame(PAYMENTS)
refused = AccessService.refusal(f.identity, "view_payments", f.env_name)
if refused is not None:
    st.info(f"{md(refused)}.", icon="🔒")
    st.stop()


def rows(found: list[RecentPayment], view: Frame) -> list[dict[str, Any]]:
    return linked([{
        "Payment": p.state.text,
        "Order id": p.order_id,
        "Amount": amount_text(p.amount, p.currency),
        "Session": p.session_id,
        "Created": view.time(p.created_at, seconds=False),
        "Created by": p.created_by,
    } for p in found], TO_DETAIL)


def summary(found: list[RecentPayment]) -> str:
    counts: dict[PaymentStatus, int] = {}
    for p in found:
        counts[p.state.status] = counts.get(p.state.status, 0) + 1
    return " · ".join(f"**{n}** {status.label}" for status, n in counts.items())


def query(payments: PaymentsService, since: datetime | None) -> list[RecentPayment]:
    return payments.recent(f.env_name, statuses=st.session_state.get(STATUSES) or None,
                           order_id=(st.session_state.get(ORDER) or "").strip() or None,
                           creator=(st.session_state.get(CREATOR) or "").strip() or None,
                           since=since, include_qa=bool(st.session_state.get(INCLUDE_QA)))


@st.fragment(run_every=3)
def payments_grid(payments: PaymentsService, since: datetime | None) -> None:
    """Re-read every 3 s: a payment made meanwhile appears (or changes status) without a reload."""
    found = query(payments, since)
    if not found:
        st.info(f"No payments match in **{f.env_name}**.", icon="💤")
        return
    st.caption(f"**{len(found)}** session(s), newest first: " + summary(found))
    st.dataframe(rows(found, f), column_config=COLUMNS, hide_index=True, width="stretch", key="payments_grid")


status_col, order_col, creator_col = st.columns([3, 2, 2])
status_col.multiselect("Status", list(PaymentStatus), default=[s for s in PaymentStatus if s in DEFAULT_RECENT],
                       format_func=lambda s: PaymentStatus(s).label, key=STATUSES,
                       help="Empty: every status. By default what was paid (or authorised, or refunded) and "
                            "what expired unpaid.")
order_col.text_input("Order id", key=ORDER, placeholder="any")
creator_col.text_input("Created by", key=CREATOR, placeholder="anyone (an e-mail)")
period_col, qa_col = st.columns([3, 4])
period = period_col.segmented_control("Period", list(PERIODS), default="Today (UTC)", key=PERIOD)
qa_col.toggle("Include QA-run sessions", key=INCLUDE_QA)
within = PERIODS.get(period or "")
since = None if within is None else f.payments.clock() - within
st.caption(f"Environment **{md(f.env_name)}** (change it in the sidebar).")
payments_grid(f.payments, since)

st.subheader("Capture, void or refund")
actionable = [p for p in query(f.payments, since) if p.state.transaction and p.state.transaction.succeeded]
labels = {p.session_id: f"{p.order_id} · {amount_text(p.amount, p.currency)} · {p.created_by} · "
          f"{f.time(p.created_at, seconds=False)}" for p in actionable}
picked = st.selectbox("Payment (order id · amount · creator · created)", list(labels), index=None, key=PICKED,
                      format_func=lambda s: labels.get(s, s), placeholder="Pick a payment of the list…")
if picked is None:
    st.caption("Only payments that went through (paid, authorised, refunded) are offered here.")
else:
    payment_section(f.payments, f.env_name, f.identity, picked, f.tz, key="payments")
