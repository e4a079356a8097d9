"""The Audit log page's charts: finished calls over time by outcome, and latency per endpoint."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

import altair as alt
import pandas as pd
import streamlit as st

from lib.audit.service import OUTCOMES, AuditFilters, AuditService, Charts, Outcome

# Chart bucket → its tick labels' format.
AXIS_FORMAT = {"minute": "%H:%M", "5 minutes": "%H:%M", "hour": "%b %d %H:%M", "day": "%Y-%m-%d"}
# Outcome colours that mean the same thing in every chart.
OUTCOME_COLORS = {"ok": "#21a366", "http_error": "#f08c00", "network_error": "#e03131", "unknown_outcome": "#7048e8"}


@st.cache_data(ttl=60, show_spinner="Counting calls…", hash_funcs={AuditService: lambda s: str(s.db_path)})
def _charts(audit: AuditService, filters: AuditFilters) -> Charts:
    """Both charts of a view, cached a minute per filter (30 days of latency is ~2 s on 1M rows)."""
    return audit.charts(filters)


def _vega_time(moment: pd.Timestamp) -> alt.DateTime:
    """A naive wall-clock time as Vega-Lite reads the chart's data (local, to the minute)."""
    return alt.DateTime(year=moment.year, month=moment.month, date=moment.day, hours=moment.hour,
                        minutes=moment.minute)


def calls_chart(frame: pd.DataFrame, bucket: str, tz: tzinfo, zone: str) -> alt.Chart:
    """Stacked bars, each as wide as its bucket on a time axis in the viewer's zone; the axis spans
    at least ten buckets so a short burst of calls does not fill the whole width."""
    local = frame.assign(
        start=frame["start"].dt.tz_convert(tz).dt.tz_localize(None),
        end=frame["end"].dt.tz_convert(tz).dt.tz_localize(None),
        label=frame["outcome"].map(Outcome.label_of),
    )
    width = frame["end"].iloc[0] - frame["start"].iloc[0]
    last = local["end"].max()
    first = min(local["start"].min(), last - 10 * width)
    outcomes = [o for o in OUTCOMES if o in set(frame["outcome"])]
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
                        scale=alt.Scale(domain=[Outcome.label_of(o) for o in outcomes],
                                        range=[OUTCOME_COLORS[o] for o in outcomes])),
        tooltip=[alt.Tooltip("start:T", title="from", format="%Y-%m-%d %H:%M"), alt.Tooltip("label:N", title="outcome"),
                 alt.Tooltip("calls:Q", title="calls")],
    ).properties(height=260)


def show_charts(audit: AuditService, filters: AuditFilters, tz: tzinfo, time: Callable[[datetime | None], str]) -> None:
    charts = _charts(audit, filters)
    st.markdown(f"**Finished calls per {charts.bucket}, by outcome**")
    if charts.over_time.empty:
        st.caption("No finished calls in this view.")
    else:
        zone = time(datetime.now(UTC)).rsplit(" ", 1)[-1]
        st.altair_chart(calls_chart(charts.over_time, charts.bucket, tz, zone), width="stretch", key="audit_calls_chart")
    st.markdown("**Latency per endpoint (ms, nearest rank)**")
    st.caption(f"p50 / p95 {charts.latency.attrs.get('percentiles', 'exact')}")
    st.dataframe(charts.latency, hide_index=True, key="audit_latency",
                 column_config={"p50_ms": st.column_config.NumberColumn("p50 ms", format="%.1f"),
                                "p95_ms": st.column_config.NumberColumn("p95 ms", format="%.1f")})
