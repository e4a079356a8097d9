"""Audit log: filter the call log, page through it, open an entry, export, chart, verify the chain.

Opening the log is itself evidence: each new view (its filters) is recorded as an ``audit_view``
entry for a signed-in person (``lib.access.policy``), as is every export. Request and answer bodies are
masked for roles that must not see customer personal data (``lib.access.masking``).

The whole view lives in the URL (filters, time range, opened entry, page), so an auditor shares
what they see as a link. Widgets own the state while the person works; the URL is rewritten from
them on every run and read back into them only when it changes from outside (first visit, a
link from another page, a reload with an edited URL). Every query runs in SQLite (``lib.audit.queries``).
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

import altair as alt
import pandas as pd
import streamlit as st

from lib.access import policy as access
from lib.audit import queries as audit
from lib.common import jsonutil
from lib.access import masking
from lib.audit.queries import AuditFilters, AuditView
from ui.frame import frame
from ui.text import md
from ui.widgets import DETAIL_PAGE, page_link

f = frame("Audit log", icon="🧾")
DB = str(f.console.db_path)
PAGE_SIZE = 50
GRID_KEY = "audit_grid"
PAGE_KEY = "audit_page"
RANGE_KEY, FROM_KEY, UNTIL_KEY = "audit_range", "audit_from", "audit_until"
STATUS_KEY = "audit_http_status"
# Filter fields drawn as a select box (options from the log where an index gives them cheaply).
CHOICE_FIELDS = ("environment", "operator", "endpoint", "method", "kind", "outcome")
TEXT_FIELDS = ("session_id", "order_id")
ENTRY = "audit_entry"  # the opened entry's seq (not a widget: a row click or the URL sets it)
WRITTEN = "audit_url_written"  # the URL this page last wrote: any other URL came from outside
SEEN_SELECTION = "audit_seen_selection"  # grid selection last acted on (a new one opens its row)
LAST_FILTERS = "audit_last_filters"  # to go back to page 1 when the filters change
VERIFIED = "audit_verified"
RECORDED_VIEW = "audit_recorded_view"  # the filters whose opening was last logged (once per change)
# The log grids: missing values (a request has no HTTP status or duration yet) are blank cells,
# not the text "None"; durations to a tenth of a millisecond.
GRID_CONFIG = {
    "seq": st.column_config.NumberColumn("seq", format="%d", width="small"),
    "HTTP status": st.column_config.NumberColumn("HTTP status", format="%d", width="small"),
    "duration ms": st.column_config.NumberColumn("duration ms", format="%.1f", width="small"),
}
MISSING = ""  # what an empty cell shows (st.dataframe's placeholder)
# Outcome colours that mean the same thing in every chart.
# Chart bucket → its tick labels' format.
AXIS_FORMAT = {"minute": "%H:%M", "5 minutes": "%H:%M", "hour": "%b %d %H:%M", "day": "%Y-%m-%d"}
OUTCOME_COLORS = {"ok": "#21a366", "http_error": "#f08c00", "network_error": "#e03131",
                  "unknown_outcome": "#7048e8"}


def key_of(field: str) -> str:
    return f"audit_{field}"


def load_view(view: AuditView) -> None:
    """Put a view from the URL into the widgets (before they are drawn, so they show it)."""
    ss = st.session_state
    ss[RANGE_KEY] = view.time_range
    filters = view.filters
    custom = view.time_range == audit.CUSTOM
    ss[FROM_KEY] = _naive_local(filters.since) if custom else None
    ss[UNTIL_KEY] = _naive_local(filters.until) if custom else None
    for name in (*CHOICE_FIELDS, *TEXT_FIELDS):
        ss[key_of(name)] = getattr(filters, name) or ("" if name in TEXT_FIELDS else None)
    ss[STATUS_KEY] = filters.http_status
    ss[ENTRY] = view.entry
    if ss.get(PAGE_KEY, 1) != view.page:  # page 1 is the widget's own default: no write needed
        ss[PAGE_KEY] = view.page
    ss[SEEN_SELECTION] = list(_grid_selection())
    ss[LAST_FILTERS] = None


def _grid_selection() -> list[int]:
    state = st.session_state.get(GRID_KEY)
    try:
        return list(state["selection"]["rows"]) if state else []
    except (KeyError, TypeError):
        return []


def start_custom(now: datetime) -> None:
    """Range callback: a custom range starts as the window shown until now (widgets that were not
    drawn have lost their state), so switching to it changes nothing until a bound is edited."""
    ss = st.session_state
    if ss.get(RANGE_KEY) == audit.CUSTOM and ss.get(FROM_KEY) is None and ss.get(UNTIL_KEY) is None:
        ss[FROM_KEY] = _naive_local(audit.sliding_since(audit.DEFAULT_RANGE, now))


def _naive_local(moment: datetime | None) -> datetime | None:
    """A stored time as the date-time widget shows it: the viewer's wall clock, no zone."""
    return None if moment is None else moment.astimezone(f.tz).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    """A datetime picked in the viewer's zone, made aware (the widget gives naive local times)."""
    return None if moment is None else moment.replace(tzinfo=f.tz)


def choice(field: str, label: str, options: list[str] | tuple[str, ...], *, labels: dict[str, str] | None = None) -> None:
    """A select box for one filter; a value from the URL that the log does not hold yet stays
    selectable, so a shared link never silently loses a filter."""
    current = st.session_state.get(key_of(field))
    shown = [None, *options, *([current] if current is not None and current not in options else [])]
    st.selectbox(label, shown, key=key_of(field), placeholder="All",
                 format_func=lambda v: "All" if v is None else (labels or {}).get(v, v))


def filter_widgets(now: datetime) -> tuple[AuditFilters, str]:
    """Draw the filters; return them and the time-range choice."""
    ss = st.session_state
    time_col, from_col, until_col, kind_col = st.columns(4)
    time_range = time_col.selectbox("Time range", list(audit.TIME_RANGES), key=RANGE_KEY,
                                    format_func=lambda r: audit.TIME_RANGES[r][0], on_change=start_custom, args=(now,))
    if time_range == audit.CUSTOM:
        tz_name = f.time(now).rsplit(" ", 1)[-1]
        from_col.datetime_input(f"From ({tz_name})", key=FROM_KEY, step=60, format="YYYY-MM-DD")
        until_col.datetime_input(f"Until, excluded ({tz_name})", key=UNTIL_KEY, step=60, format="YYYY-MM-DD")
        since, until = _aware(ss.get(FROM_KEY)), _aware(ss.get(UNTIL_KEY))
    else:
        since, until = audit.sliding_since(time_range, now), None
        from_col.caption(f"From **{f.time(since)}**" if since else "From the first entry")
    with kind_col:
        choice("kind", "Kind", audit.KINDS)
    row = st.columns(4)
    with row[0]:
        choice("environment", "Environment", audit.environments(DB))
    with row[1]:
        choice("operator", "Operator", audit.operators(DB))
    with row[2]:
        choice("endpoint", "Endpoint", audit.endpoints(DB))
    with row[3]:
        choice("method", "Method", audit.METHODS)
    row = st.columns(4)
    with row[0]:
        choice("outcome", "Outcome", [*audit.OUTCOMES, audit.IN_FLIGHT], labels=audit.OUTCOME_LABELS)
    with row[1]:
        st.number_input("HTTP status", min_value=100, max_value=599, step=1, key=STATUS_KEY,
                        placeholder="any")
    with row[2]:
        st.text_input("Session id", key=key_of("session_id"), placeholder="exact, or prefix*",
                      help="An exact id, or the start of one followed by `*`.")
    with row[3]:
        st.text_input("Order id", key=key_of("order_id"), placeholder="exact, or prefix*",
                      help="An exact id, or the start of one followed by `*`.")
    status = ss.get(STATUS_KEY)
    filters = AuditFilters(
        since=since, until=until, http_status=None if status is None else int(status),
        **{name: ss.get(key_of(name)) for name in CHOICE_FIELDS},
        **{name: (ss.get(key_of(name)) or "").strip() for name in TEXT_FIELDS},
    )
    return filters, time_range


def sync_url(view: AuditView) -> None:
    """Write the view into the URL (only when it changed: a write costs a browser history step)."""
    params = audit.view_to_query_params(view)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    st.session_state[WRITTEN] = params


def close_entry() -> None:
    st.session_state[ENTRY] = None


def pair_title(e: dict) -> str:
    label = {"api_request": "Request", "api_result": "Result"}.get(e["kind"], e["kind"])
    return f"{label} #{e['seq']}"


def show_entry(seq: int) -> None:
    """The opened entry: its call's request and result in full, chain hashes, the session's timeline."""
    view = audit.entry_view(DB, seq)
    head, close = st.columns([5, 1])
    head.subheader(f"Entry #{seq}")
    close.button("Close", icon="✖️", on_click=close_entry, key="audit_close_entry")
    if view is None:
        st.warning(f"There is no log entry #{seq}.")
        return
    pair = [masking.mask_entry(e, enabled=f.mask) or e for e in view.pair]
    for column, e in zip(st.columns(len(pair)), pair):
        with column:
            st.markdown(f"**{pair_title(e)}**{' ← opened' if e['seq'] == seq else ''}")
            st.markdown(
                f"{f.time(datetime.fromisoformat(e['ts']))} · {md(e['kind'])} · **{md(e['operator'])}** · "
                f"{md(e['environment'])}" + (f" · tags {md(', '.join(e['tags']))}" if e["tags"] else ""))
            if e["method"]:
                outcome = audit.outcome_label({**e, "in_flight": False}) if e["kind"] != "api_request" else ""
                status = f" → HTTP {e['http_status']}" if e["http_status"] else ""
                took = f" in {e['duration_ms']:.0f} ms" if e["duration_ms"] is not None else ""
                st.markdown(f"{md(e['method'])} {md(e['path'])}{status} {outcome}{took}")
            if len(pair) == 1 and e["kind"] == "api_request":
                st.info("No result recorded: the call is in flight, or its outcome was never recorded.", icon="⏳")
            st.code(jsonutil.dumps(e["detail"], pretty=True) if e["detail"] is not None else "null", language="json")
            st.code(f"hash      {e['hash']}\nprev_hash {e['prev_hash']}", language=None, wrap_lines=True)
    if view.session_id:
        st.markdown(f"**Timeline of session** {md(view.session_id)}")
        st.dataframe(audit.grid_frame(view.timeline, f.tz), hide_index=True, key="audit_timeline",
                     column_config=GRID_CONFIG, placeholder=MISSING)
        page_link(DETAIL_PAGE, label="Session detail", icon="🔎", query={"session": view.session_id})


@st.cache_data(ttl=60, show_spinner="Counting calls…")
def charts(db_path: str, filters: AuditFilters) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Both charts of a view, cached a minute per filter (30 days of latency is ~2 s on 1M rows)."""
    over_time, bucket = audit.calls_over_time(db_path, filters)
    return over_time, bucket, audit.latency_by_endpoint(db_path, filters)


def _vega_time(moment: pd.Timestamp) -> alt.DateTime:
    """A naive wall-clock time as Vega-Lite reads the chart's data (local, to the minute)."""
    return alt.DateTime(year=moment.year, month=moment.month, date=moment.day, hours=moment.hour,
                        minutes=moment.minute)


def calls_chart(frame: pd.DataFrame, bucket: str) -> alt.Chart:
    """Stacked bars, each as wide as its bucket on a time axis in the viewer's zone; the axis spans
    at least ten buckets so a short burst of calls does not fill the whole width."""
    local = frame.assign(
        start=frame["start"].dt.tz_convert(f.tz).dt.tz_localize(None),
        end=frame["end"].dt.tz_convert(f.tz).dt.tz_localize(None),
        label=frame["outcome"].map(lambda o: audit.OUTCOME_LABELS.get(o, o)),
    )
    width = frame["end"].iloc[0] - frame["start"].iloc[0]
    last = local["end"].max()
    first = min(local["start"].min(), last - 10 * width)
    outcomes = [o for o in audit.OUTCOMES if o in set(frame["outcome"])]
    zone = f.time(datetime.now(timezone.utc)).rsplit(" ", 1)[-1]
    # Ticks on bucket starts, about a dozen of them, labelled on a 24-hour clock (Vega's default
    # multi-format shows 12-hour times and seconds).
    buckets = int((last - first) / width)
    ticks = pd.date_range(first, last, freq=width * max(1, -(-buckets // 12)))
    axis = alt.Axis(format=AXIS_FORMAT[bucket], labelOverlap=True, values=[_vega_time(t) for t in ticks])
    return alt.Chart(local).mark_bar().encode(
        x=alt.X("start:T", title=f"{zone}, per {bucket}", axis=axis,
                scale=alt.Scale(domain=[_vega_time(first), _vega_time(last)])),
        x2="end:T",
        y=alt.Y("sum(calls):Q", title="calls", stack="zero"),
        color=alt.Color("label:N", title="outcome",
                        scale=alt.Scale(domain=[audit.OUTCOME_LABELS[o] for o in outcomes],
                                        range=[OUTCOME_COLORS[o] for o in outcomes])),
        tooltip=[alt.Tooltip("start:T", title="from", format="%Y-%m-%d %H:%M"), alt.Tooltip("label:N", title="outcome"),
                 alt.Tooltip("calls:Q", title="calls")],
    ).properties(height=260)


def show_charts(filters: AuditFilters) -> None:
    over_time, bucket, latency = charts(DB, filters)
    st.markdown(f"**Finished calls per {bucket}, by outcome**")
    if over_time.empty:
        st.caption("No finished calls in this view.")
    else:
        st.altair_chart(calls_chart(over_time, bucket), width="stretch", key="audit_calls_chart")
    st.markdown("**Latency per endpoint (ms, nearest rank)**")
    st.dataframe(latency, hide_index=True, key="audit_latency",
                 column_config={"p50_ms": st.column_config.NumberColumn("p50 ms", format="%.1f"),
                                "p95_ms": st.column_config.NumberColumn("p95 ms", format="%.1f")})


def show_export(filters: AuditFilters, total: int) -> None:
    if total > audit.EXPORT_LIMIT:
        st.warning(f"{total:,} entries match: only the first (newest) {audit.EXPORT_LIMIT:,} are exported.")
    else:
        st.markdown(f"{total:,} entries match: all are exported.")
    st.caption("The export is recorded in the log (who, when, which filters, how many rows).")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    st.download_button(
        "Export CSV", data=partial(audit.export_and_record, DB, filters, operator=f.operator,
                                   environment=f.env_name, tags=("audit_log",)),
        file_name=f"audit-log-{stamp}.csv", mime="text/csv", icon="⬇️", disabled=total == 0, key="audit_export")


def run_verify() -> None:
    """Button callback: the full chain walk (seconds on a big log), only when asked."""
    st.session_state[VERIFIED] = (f.console.log.verify(), datetime.now(timezone.utc))


def show_integrity() -> None:
    st.button("Verify the chain", icon="🔗", on_click=run_verify, key="audit_verify",
              help="Recompute every entry's hash and check the checkpoints.")
    verified = st.session_state.get(VERIFIED)
    if verified:
        result, at = verified
        if result.ok:
            st.success(f"{result.message}, checked {f.time(at)}", icon="✅")
        else:
            where = f"at entry #{result.broken_seq}" if result.broken_seq else ""
            st.error(f"The chain is broken {where}: {result.message} (checked {f.time(at)})", icon="🚨")
    checkpoint = audit.last_checkpoint(f.console.log)
    if checkpoint:
        st.caption(f"Last checkpoint: {f.time(datetime.fromisoformat(checkpoint['at']))} "
                   f"at entry {checkpoint['count']:,}")
    else:
        st.caption("No checkpoint recorded yet (`python -m lib.calllog checkpoint`).")


# --- the page ------------------------------------------------------------------------------------
now = audit.minute_of(datetime.now(timezone.utc))
url = st.query_params.to_dict()
if st.session_state.get(WRITTEN) != url:
    opened_view, problems = audit.view_from_query_params(url, now)
    load_view(opened_view)
    for problem in problems:
        st.warning(md(problem), icon="⚠️")

filters, time_range = filter_widgets(now)
signature = audit.view_to_query_params(AuditView(filters, time_range))
if time_range != audit.CUSTOM:
    signature.pop("since")  # a sliding window moving on is not a new filter
new_filters = st.session_state.get(LAST_FILTERS) not in (None, signature)
st.session_state[LAST_FILTERS] = signature
if st.session_state.get(RECORDED_VIEW) != signature:
    st.session_state[RECORDED_VIEW] = signature
    access.record_access(f.console.log, f.identity, access.AUDIT_VIEW, detail={"filters": signature})

total = audit.count(DB, filters)
pages = audit.page_count(total, PAGE_SIZE)
wanted_page = 1 if new_filters else min(max(1, st.session_state.get(PAGE_KEY) or 1), pages)
if st.session_state.get(PAGE_KEY, 1) != wanted_page:  # written only when it moves: a write resets the widget
    st.session_state[PAGE_KEY] = wanted_page
summary = st.container()
grid_slot = st.container()
page_no = st.pagination(pages, key=PAGE_KEY)
summary.markdown(f"**{total:,} entries match** · page {page_no:,} of {pages:,}")

rows = audit.page(DB, filters, page_no, PAGE_SIZE)
event = grid_slot.dataframe(audit.grid_frame(rows, f.tz), key=GRID_KEY, on_select="rerun",
                            selection_mode="single-row", hide_index=True, column_config=GRID_CONFIG,
                            placeholder=MISSING)
selected = list(event.selection.rows)
if selected != st.session_state.get(SEEN_SELECTION):
    st.session_state[SEEN_SELECTION] = selected
    if selected and selected[0] < len(rows):
        st.session_state[ENTRY] = rows[selected[0]]["seq"]
opened = st.session_state.get(ENTRY)
sync_url(AuditView(filters, time_range, opened, page_no))

if opened is not None:
    with st.container(border=True):
        show_entry(opened)

charts_tab, export_tab, integrity_tab = st.tabs(["📊 Charts", "⬇️ Export", "🔗 Integrity"])
with charts_tab:
    show_charts(filters)
with export_tab:
    show_export(filters, total)
with integrity_tab:
    show_integrity()
