"""Did the customer pay? A session's payment as Session detail and Payments show it.

The status in words (``lib.payments.models``), redrawn every two seconds without a reload: the
tick that sees it change reruns the page, so the money forms follow the new status at once. Below
it, the transactions known for the session and, for an operation that got no answer, what
happens now: it is never sent again; the transaction is looked up ("look up now"), and when the
API's answer cannot say, a person decides (``PaymentsService.settle``).
"""
from __future__ import annotations

from datetime import tzinfo
from typing import Any

import streamlit as st

from lib.access.service import AccessService, Identity
from lib.audit.service import CallLogUnavailable
from lib.payments.service import (
    AccessDenied,
    Operation,
    PaymentNotFound,
    PaymentsService,
    PaymentState,
    TransactionRecord,
    reason_words,
)
from lib.sessions.service import ApiError, amount_text, local_time
from ui.money_ops import money_operations
from ui.once import once
from ui.text import md
from ui.widgets import log_link, show_failure

LOOKED = "payment_looked_up"  # transaction id → what the last "look up now" said
SETTLED = "payment_settled"  # operation id → the resolution's seq, or why it failed


def _fingerprint(state: PaymentState) -> tuple[Any, ...]:
    t = state.transaction
    return state.status, state.text, state.attempts, (t.transaction_id, t.version) if t else None


def status_text(state: PaymentState) -> str:
    """The status line as Markdown (the reason comes from the API: shown as text)."""
    return f"**Payment**: {md(state.text)}"


@st.fragment(run_every=2)
def live_status(payments: PaymentsService, session_id: str, *, key: str) -> None:
    """The payment status, re-read every 2 s; a change reruns the whole page (new forms, new figures)."""
    state = payments.status(session_id)
    seen_key = f"{key}-payment-seen"
    now = _fingerprint(state)
    before = st.session_state.get(seen_key)
    st.session_state[seen_key] = now
    st.markdown(status_text(state))
    if before is not None and before != now:
        st.rerun()


def transaction_rows(records: list[TransactionRecord], tz: tzinfo) -> list[dict[str, Any]]:
    """One row per transaction known for the session, newest first (declined attempts included)."""
    def money(value: Any, currency: str | None) -> str:
        return amount_text(value, currency)
    return [{
        "Transaction": t.transaction_id,
        "Card status": t.status or "",
        "Reason": reason_words(t.reason),
        "Amount": money(t.amount, t.currency),
        "Captured": money(t.captured, t.currency),
        "Refunded": money(t.refunded, t.currency),
        "Left to capture": money(t.left_to_capture, t.currency),
        "Left to refund": money(t.left_to_refund, t.currency),
        "Voided": "yes" if t.voided else "",
        "Created": local_time(t.created, tz),
    } for t in records]


def _look_up(payments: PaymentsService, env_name: str, who: Identity, transaction_id: str) -> None:
    """Button callback: ask the API now and record what it says."""
    try:
        record = payments.look_up(env_name, who, transaction_id)
        still = payments.undecided(env_name, transaction_id)
        said: object = ("The API answered, but its answer cannot say whether the operation took effect: "
                        "decide below." if still else f"Looked up: {record.status or 'unknown'}; "
                        "the figures above are the API's.")
    except (ApiError, AccessDenied, PaymentNotFound, CallLogUnavailable) as exc:
        said = exc
    st.session_state.setdefault(LOOKED, {})[transaction_id] = said


def _settle(payments: PaymentsService, env_name: str, who: Identity, op_id: int, took_effect: bool,
            note_key: str) -> None:
    """Button callback: a person records whether an unanswered operation took effect."""
    try:
        outcome: object = payments.settle(env_name, who, op_id, took_effect=took_effect,
                                          note=str(st.session_state.get(note_key) or ""))
    except (LookupError, AccessDenied, CallLogUnavailable) as exc:
        outcome = exc
    st.session_state.setdefault(SETTLED, {})[op_id] = outcome


def _unanswered(payments: PaymentsService, env_name: str, who: Identity, op: Operation, record: TransactionRecord,
                tz: tzinfo, looked: object) -> None:
    what = f"{op.operation} of {amount_text(op.amount, record.currency) if op.amount is not None else 'all'}"
    st.warning(f"**No answer** to the {md(what)} sent by {md(op.operator)} at {local_time(op.requested_at, tz)}. "
               "It was **not sent again**: the transaction is being looked up to learn whether it took effect.",
               icon="❓")
    log_link(op.entry_seq, "The unanswered request")
    refused = AccessService.refusal(who, op.operation, env_name)
    if refused is not None or looked is None or isinstance(looked, Exception):
        return
    st.markdown("**The API cannot say: a person must decide.** Check with the acquirer, then record it "
                "(a log entry names you and what you decided).")
    note_key = f"payment-settle-note-{op.id}"
    st.text_input("Note for the log (what you checked, whom you asked)", key=note_key)
    yes, no = st.columns(2)
    yes.button("It took effect", key=f"payment-settle-yes-{op.id}",
               **once(f"payment-settle-{op.id}", _settle, payments, env_name, who, op.id, True, note_key))
    no.button("It did not take effect", key=f"payment-settle-no-{op.id}",
              **once(f"payment-settle-{op.id}", _settle, payments, env_name, who, op.id, False, note_key))


def unknown_operations(payments: PaymentsService, env_name: str, who: Identity, record: TransactionRecord,
                       tz: tzinfo) -> None:
    """Operations on ``record`` with no answer: look up now, then (if the answer cannot say) settle."""
    for op_id, outcome in st.session_state.get(SETTLED, {}).items():
        if isinstance(outcome, Exception):
            show_failure(outcome)
        elif any(op.id == op_id for op in payments.operations(env_name, record.transaction_id)):
            st.success("Your decision is recorded in the log.", icon="🗒")
            log_link(int(outcome), "The resolution")
    ops = payments.undecided(env_name, record.transaction_id)
    looked = st.session_state.get(LOOKED, {}).get(record.transaction_id)
    if isinstance(looked, Exception):
        show_failure(looked)
    elif looked is not None:
        st.info(md(looked), icon="🔍")
    if not ops:
        return
    for op in ops:
        with st.container(border=True):
            _unanswered(payments, env_name, who, op, record, tz, looked)
    st.button("Look up now", icon="🔍", key=f"payment-lookup-{record.transaction_id}",
              help="Ask the API for this transaction now and record what it says.",
              **once(f"payment-lookup-{record.transaction_id}", _look_up, payments, env_name, who,
                     record.transaction_id))


def payment_section(payments: PaymentsService, env_name: str, who: Identity, session_id: str, tz: tzinfo, *,
                    key: str) -> PaymentState:
    """The status (live), the transactions, unanswered operations, and the money operations."""
    live_status(payments, session_id, key=key)
    state = payments.status(session_id)
    records = payments.transactions_of(session_id)
    if records:
        st.dataframe(transaction_rows(records, tz), hide_index=True, width="stretch", key=f"{key}-transactions")
    else:
        st.caption("No payment attempt known yet. The console hears of one by webhook, and looks up the "
                   "payments of sessions that expired without one.")
    record = state.transaction
    if record is not None and record.succeeded:
        unknown_operations(payments, env_name, who, record, tz)
        money_operations(payments, env_name, who, record, key=f"{key}-{record.transaction_id}")
    return state
