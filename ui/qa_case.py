"""The QA explorer's opened case: the request a case sent and the API's answer, from the call log.

Bodies and headers came from the API or were sent to it: they are shown in ``st.code`` (text as
text), masked for people who see customer data masked. The same entry opens on the Audit log page
for those who may read it.
"""
from __future__ import annotations

import streamlit as st

from lib.audit.service import outcome_label, pretty_json
from lib.qa.service import QAService
from ui.frame import Frame
from ui.pages import AUDIT
from ui.text import md
from ui.widgets import page_link


def show(service: QAService, f: Frame, run_id: str, index: int) -> None:
    call = service.case_call(run_id, index, f.identity)
    if call is None:
        st.warning(f"Run {md(run_id)} has no case #{index}.")
        return
    case = call.case
    st.markdown(f"**Case #{case.index}** · {md(case.result)} · expected {md(case.expected)}")
    request_col, answer_col = st.columns(2)
    with request_col:
        st.markdown("**Request**")
        if call.request is None:
            st.info(f"Nothing was logged as sent: {md(case.error or 'no call recorded')}", icon="📭")
        else:
            st.code(f"{call.request.method} {call.request.path}", language=None)
            st.caption("Headers (secrets redacted as the log stored them)")
            st.code(pretty_json(call.sent_headers), language="json")
            st.caption("Body sent")
            st.code(pretty_json(call.sent_body), language="json")
    with answer_col:
        st.markdown("**Answer**")
        if call.response is None:
            st.info("No answer recorded: the call is in flight, or its entries were archived.", icon="⏳")
        else:
            took = f" · {call.response.duration_ms:.0f} ms" if call.response.duration_ms is not None else ""
            status = f"HTTP {call.response.http_status}" if call.response.http_status else "no HTTP answer"
            st.markdown(f"{status} · {md(outcome_label({'outcome': call.response.outcome}))}{took}")
            st.code(pretty_json(call.answer), language="json")
    if call.audit_query is None:
        return
    if f.identity.may(AUDIT.action):
        page_link(AUDIT, label=f"Open entry #{case.entry_seq} in the Audit log", icon="🧾", query=call.audit_query)
    else:
        st.caption(f"Log entry #{case.entry_seq} (the Audit log page is not open to your role).")
