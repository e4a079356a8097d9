"""Audit log: filter the call log, page through it, open an entry, export, chart, verify the chain.

Opening the log is itself evidence: each new view (its filters) is recorded as an ``audit_view``
entry, as is every export. Request and answer bodies are masked for roles that must not see
customer personal data. The whole view lives in the URL (filters, time range, opened entry,
page), so an auditor shares what they see as a link.
"""
from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from lib.audit.service import CUSTOM, AuditView, minute_of, page_count, view_from_query_params, view_to_query_params
from ui.audit_charts import show_charts
from ui.audit_entry import MISSING, grid_config, show_entry
from ui.audit_filters import (
    ENTRY,
    GRID_KEY,
    LAST_FILTERS,
    PAGE_KEY,
    SEEN_SELECTION,
    WRITTEN,
    filter_widgets,
    load_view,
    show_hidden_kinds,
    sync_url,
)
from ui.audit_tools import show_export, show_integrity, show_retention
from ui.frame import frame
from ui.pages import AUDIT
from ui.text import md

PAGE_SIZE = 50
RECORDED_VIEW = "audit_recorded_view"  # the filters whose opening was last logged (once per change)

f = frame(AUDIT)
audit = f.audit
ss = st.session_state

now = minute_of(datetime.now(UTC))
url = st.query_params.to_dict()
if ss.get(WRITTEN) != url:
    opened_view, problems = view_from_query_params(url, now)
    load_view(opened_view, f.tz)
    for problem in problems:
        st.warning(md(problem), icon="⚠️")

filters, time_range = filter_widgets(audit, now, f.tz, f.time)
signature = view_to_query_params(AuditView(filters, time_range))
if time_range != CUSTOM:
    signature.pop("since")  # a sliding window moving on is not a new filter
new_filters = ss.get(LAST_FILTERS) not in (None, signature)
ss[LAST_FILTERS] = signature
if ss.get(RECORDED_VIEW) != signature:
    ss[RECORDED_VIEW] = signature
    audit.record_view(f.identity, signature)

total = audit.count(filters)
pages = page_count(total, PAGE_SIZE)
wanted_page = 1 if new_filters else min(max(1, ss.get(PAGE_KEY) or 1), pages)
if ss.get(PAGE_KEY, 1) != wanted_page:  # written only when it moves: a write resets the widget
    ss[PAGE_KEY] = wanted_page
summary = st.container()
grid_slot = st.container()
page_no = st.pagination(pages, key=PAGE_KEY)
with summary:
    st.markdown(f"**{total:,} {'rows' if filters.per_call else 'entries'} match** · page {page_no:,} of {pages:,}")
    show_hidden_kinds(filters)
    show_retention(audit)

grid, seqs = audit.grid(filters, page_no, PAGE_SIZE, f.tz)
event = grid_slot.dataframe(grid, key=GRID_KEY, on_select="rerun", selection_mode="single-row", hide_index=True,
                            column_config=grid_config(f.time), placeholder=MISSING)
selected = list(event.selection.rows)
if selected != ss.get(SEEN_SELECTION):
    ss[SEEN_SELECTION] = selected
    if selected and selected[0] < len(seqs):
        ss[ENTRY] = seqs[selected[0]]
opened = ss.get(ENTRY)
sync_url(AuditView(filters, time_range, opened, page_no))

if opened is not None:
    with st.container(border=True):
        show_entry(audit, opened, mask=f.mask, tz=f.tz, time=f.time)

charts_tab, export_tab, integrity_tab = st.tabs(["📊 Charts", "⬇️ Export", "🔗 Integrity"])
with charts_tab:
    show_charts(audit, filters, f.tz, f.time)
with export_tab:
    show_export(audit, filters, total, operator=f.operator, environment=f.env_name)
with integrity_tab:
    show_integrity(audit, f.identity, f.time)
