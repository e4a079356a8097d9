"""Capture, void and refund one transaction: the forms, the refusals at their fields, before → after.

Everything decided here is the payments service's: who may (``lib.access``), what is left, the
one amount parser, the live guard. The page only offers what the person may do (and says why
not), shows a refusal at the field it names, and shows what the operation changed.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from lib.access.service import AccessService, Identity
from lib.audit.service import CallLogUnavailable
from lib.payments.service import (
    AccessDenied,
    InvalidRequest,
    LiveConfirmationRequired,
    LiveLimitExceeded,
    MoneyResult,
    PaymentNotFound,
    PaymentsService,
    Problem,
    TransactionRecord,
    UnknownOutcome,
)
from lib.sessions.service import ApiError, ConfigError, amount_text
from ui.once import once
from ui.text import md
from ui.widgets import log_link, show_failure

OPERATIONS = ("capture", "void", "refund")
LABELS = {"amount": "Amount", "reference": "Statement reference", "transaction": "Transaction"}
OUTCOME = "money_outcome"  # form key → (operation, MoneyResult | the exception)
REFUSED = (InvalidRequest, AccessDenied, LiveConfirmationRequired, LiveLimitExceeded, PaymentNotFound, ApiError,
           CallLogUnavailable, ConfigError)


def show_problem(problem: Problem) -> None:
    """A refusal at its field, as the session forms show theirs (label, reason, the API's name small)."""
    parameter = str(problem["parameter"])
    st.error(f"**{md(LABELS.get(parameter, parameter))}**: {md(problem['reason'])} · :small[{md(parameter)}]",
             icon="⚠️")


def _act(payments: PaymentsService, env_name: str, who: Identity, transaction_id: str, operation: str,
         key: str) -> None:
    """Button callback: one operation, with what was typed at the click; the outcome is kept for the page."""
    typed = st.session_state.get(f"{key}-{operation}-amount") or ""
    confirm = st.session_state.get(f"{key}-{operation}-confirm")
    try:
        if operation == "capture":
            result: object = payments.capture(env_name, who, transaction_id, typed or None, confirm=confirm)
        elif operation == "void":
            result = payments.void(env_name, who, transaction_id, confirm=confirm)
        else:
            result = payments.refund(env_name, who, transaction_id, typed,
                                     str(st.session_state.get(f"{key}-refund-reference") or ""), confirm=confirm)
    except REFUSED as exc:
        result = exc
    else:  # done: the form starts empty, so a second click cannot repeat it by mistake
        for field in ("amount", "reference", "confirm"):
            st.session_state.pop(f"{key}-{operation}-{field}", None)
    st.session_state.setdefault(OUTCOME, {})[key] = (operation, result)


def before_after(result: MoneyResult) -> list[dict[str, str]]:
    """What the operation changed, and what is left: Before → After, one row per figure."""
    b, a, cur = result.before, result.after, result.after.currency
    return [
        {"": "Captured", "Before": amount_text(b.captured, cur), "After": amount_text(a.captured, cur)},
        {"": "Refunded", "Before": amount_text(b.refunded, cur), "After": amount_text(a.refunded, cur)},
        {"": "Voided", "Before": "yes" if b.voided else "no", "After": "yes" if a.voided else "no"},
        {"": "Left to capture", "Before": amount_text(b.left_to_capture, cur),
         "After": amount_text(result.left_to_capture, cur)},
        {"": "Left to refund", "Before": amount_text(b.left_to_refund, cur),
         "After": amount_text(result.left_to_refund, cur)},
    ]


def _outcome(key: str) -> tuple[str | None, list[Problem]]:
    """Draw the last operation's outcome on this transaction; (its operation, the problems to show at
    its fields)."""
    operation, outcome = st.session_state.get(OUTCOME, {}).get(key, (None, None))
    if operation is None or outcome is None:
        return None, []
    return operation, _drawn(operation, outcome)


def _drawn(operation: str, outcome: object) -> list[Problem]:
    if isinstance(outcome, MoneyResult):
        st.success(f"**{operation.capitalize()} done.** Left to capture "
                   f"{md(amount_text(outcome.left_to_capture, outcome.after.currency))}, left to refund "
                   f"{md(amount_text(outcome.left_to_refund, outcome.after.currency))}.", icon="✅")
        st.dataframe(before_after(outcome), hide_index=True)
        log_link(outcome.entry_seq, "The operation's log entry")
        return []
    if isinstance(outcome, InvalidRequest):
        return list(outcome.problems)
    if isinstance(outcome, UnknownOutcome):
        st.error(f"**No answer** to the {operation}: it may or may not have taken effect. It was **not sent "
                 "again**; the transaction is being looked up (see above, or *Look up now*).", icon="❓")
        log_link(outcome.entry_seq)
        return []
    assert isinstance(outcome, Exception)
    show_failure(outcome)
    return []


def _problems_at(problems: list[Problem], parameter: str) -> None:
    for problem in problems:
        if problem["parameter"] == parameter:
            show_problem(problem)


def _confirmation(payments: PaymentsService, env_name: str, record: TransactionRecord, operation: str,
                  key: str) -> None:
    expected = payments.confirmation_needed(env_name, record, operation,
                                            st.session_state.get(f"{key}-{operation}-amount"))
    if expected:
        st.text_input(f"Type **{expected}** to confirm: acquired-live moves real money",
                      key=f"{key}-{operation}-confirm", placeholder=expected)


def _form(payments: PaymentsService, env_name: str, who: Identity, record: TransactionRecord, operation: str,
          key: str, problems: list[Problem]) -> None:
    cur = record.currency
    _problems_at(problems, "transaction")
    if operation == "capture":
        st.text_input("Amount to capture", key=f"{key}-capture-amount",
                      placeholder=f"all: {amount_text(record.left_to_capture, cur)}",
                      help="Empty captures all of it; less captures part and releases the rest.")
    elif operation == "refund":
        st.text_input("Amount to refund", key=f"{key}-refund-amount",
                      placeholder=f"at most {amount_text(record.left_to_refund, cur)}")
    _problems_at(problems, "amount")
    if operation == "refund":
        st.text_input("Statement reference", key=f"{key}-refund-reference",
                      help="What the customer's statement shows: 1-18 letters, digits, spaces, _ or -.")
        _problems_at(problems, "reference")
    _confirmation(payments, env_name, record, operation, key)
    labels = {"capture": "Capture", "void": "Void the authorisation", "refund": "Refund"}
    st.button(labels[operation], key=f"{key}-{operation}-button", type="primary" if operation != "void" else "secondary",
              **once(f"{key}-{operation}", _act, payments, env_name, who, record.transaction_id, operation, key))


def _offered(record: TransactionRecord) -> list[str]:
    """The operations the transaction's state leaves open (the service checks again when asked)."""
    if record.left_to_capture > 0:
        return ["capture", "void"]
    return ["refund"] if record.captured > 0 else []


def money_operations(payments: PaymentsService, env_name: str, who: Identity, record: TransactionRecord, *,
                     key: str) -> None:
    """The forms for ``record``: only what this person may do here, and why not otherwise."""
    done, problems = _outcome(key)
    offered = _offered(record)
    if not offered:
        st.caption("Nothing left to capture, void or refund on this payment.")
        return
    refusals = {op: AccessService.refusal(who, op, env_name) for op in offered}
    allowed = [op for op in offered if refusals[op] is None]
    for op in offered:
        if refusals[op] is not None:
            st.info(f"You may not {op} here: {md(refusals[op])}.", icon="🔒")
    if not allowed:
        return
    st.markdown(f"**Left to capture** {md(amount_text(record.left_to_capture, record.currency))} · "
                f"**left to refund** {md(amount_text(record.left_to_refund, record.currency))}")
    tabs: Any = st.tabs([op.capitalize() for op in allowed]) if len(allowed) > 1 else [st.container()]
    for tab, op in zip(tabs, allowed, strict=True):
        with tab:
            _form(payments, env_name, who, record, op, key, problems if op == done else [])
