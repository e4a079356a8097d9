"""The Audit log page's filters, kept in step with the URL so an auditor shares a view as a link.

Widgets own the state while the person works; the URL is rewritten from them on every run and
read back into them only when it changes from outside (first visit, a link from another page, a
reload with an edited URL).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

import streamlit as st

from lib.audit.service import (
    CUSTOM,
    DEFAULT_RANGE,
    IN_FLIGHT,
    KINDS,
    METHODS,
    OUTCOMES,
    TIME_RANGES,
    AuditFilters,
    AuditService,
    AuditView,
    Outcome,
    default_view,
    hidden_kinds,
    kind_label,
    sliding_since,
    view_to_query_params,
)
from ui.text import md

GRID_KEY = "audit_grid"
PAGE_KEY = "audit_page"
RANGE_KEY, FROM_KEY, UNTIL_KEY = "audit_range", "audit_from", "audit_until"
STATUS_KEY = "audit_http_status"
# Filter fields drawn as a select box (options from the log where an index gives them cheaply).
CHOICE_FIELDS = ("environment", "operator", "endpoint", "method", "outcome")
KINDS_KEY, PER_CALL_KEY = "audit_kinds", "audit_per_call"
TEXT_FIELDS = ("session_id", "order_id")
ENTRY = "audit_entry"  # the opened entry's seq (not a widget: a row click or the URL sets it)
WRITTEN = "audit_url_written"  # the URL this page last wrote: any other URL came from outside
SEEN_SELECTION = "audit_seen_selection"  # grid selection last acted on (a new one opens its row)
LAST_FILTERS = "audit_last_filters"  # to go back to page 1 when the filters change


def key_of(field: str) -> str:
    return f"audit_{field}"


def _naive_local(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """A stored time as the date-time widget shows it: the viewer's wall clock, no zone."""
    return None if moment is None else moment.astimezone(tz).replace(tzinfo=None)


def _aware(moment: datetime | None, tz: tzinfo) -> datetime | None:
    """A datetime picked in the viewer's zone, made aware (the widget gives naive local times)."""
    return None if moment is None else moment.replace(tzinfo=tz)


def grid_selection() -> list[int]:
    state = st.session_state.get(GRID_KEY)
    try:
        return list(state["selection"]["rows"]) if state else []
    except (KeyError, TypeError):
        return []


def load_view(view: AuditView, tz: tzinfo) -> None:
    """Put a view from the URL into the widgets (before they are drawn, so they show it)."""
    ss = st.session_state
    ss[RANGE_KEY] = view.time_range
    filters = view.filters
    custom = view.time_range == CUSTOM
    ss[FROM_KEY] = _naive_local(filters.since, tz) if custom else None
    ss[UNTIL_KEY] = _naive_local(filters.until, tz) if custom else None
    for name in (*CHOICE_FIELDS, *TEXT_FIELDS):
        ss[key_of(name)] = getattr(filters, name) or ("" if name in TEXT_FIELDS else None)
    ss[STATUS_KEY] = filters.http_status
    ss[KINDS_KEY] = list(filters.kinds)
    ss[PER_CALL_KEY] = filters.per_call
    ss[ENTRY] = view.entry
    if ss.get(PAGE_KEY, 1) != view.page:  # page 1 is the widget's own default: no write needed
        ss[PAGE_KEY] = view.page
    ss[SEEN_SELECTION] = grid_selection()
    ss[LAST_FILTERS] = None


def _start_custom(now: datetime, tz: tzinfo) -> None:
    """Range callback: a custom range starts as the window shown until now (widgets that were not
    drawn have lost their state), so switching to it changes nothing until a bound is edited."""
    ss = st.session_state
    if ss.get(RANGE_KEY) == CUSTOM and ss.get(FROM_KEY) is None and ss.get(UNTIL_KEY) is None:
        ss[FROM_KEY] = _naive_local(sliding_since(DEFAULT_RANGE, now), tz)


def _reset(now: datetime, tz: tzinfo) -> None:
    """Button callback: the opening view again (default range and kinds, no other filter, page 1,
    no entry open); the URL follows at the end of the run."""
    load_view(default_view(now), tz)


def _choice(field: str, label: str, options: list[str] | tuple[str, ...], *,
            labels: Callable[[str], str] | None = None) -> None:
    """A select box for one filter; a value from the URL that the log does not hold yet stays
    selectable, so a shared link never silently loses a filter."""
    current = st.session_state.get(key_of(field))
    shown = [None, *options, *([current] if current is not None and current not in options else [])]
    st.selectbox(label, shown, key=key_of(field), placeholder="All",
                 format_func=lambda v: "All" if v is None else (labels(v) if labels else v))


def filter_widgets(audit: AuditService, now: datetime, tz: tzinfo, time: Callable[[datetime | None], str]
                   ) -> tuple[AuditFilters, str]:
    """Draw the filters; return them and the time-range choice."""
    ss = st.session_state
    time_col, from_col, until_col, kind_col = st.columns([1, 1, 1, 2])  # the kinds need room for their chips
    time_range = time_col.selectbox("Time range", list(TIME_RANGES), key=RANGE_KEY,
                                    format_func=lambda r: TIME_RANGES[r][0], on_change=_start_custom, args=(now, tz))
    if time_range == CUSTOM:
        tz_name = time(now).rsplit(" ", 1)[-1]
        from_col.datetime_input(f"From ({tz_name})", key=FROM_KEY, step=60, format="YYYY-MM-DD")
        until_col.datetime_input(f"Until, excluded ({tz_name})", key=UNTIL_KEY, step=60, format="YYYY-MM-DD")
        since, until = _aware(ss.get(FROM_KEY), tz), _aware(ss.get(UNTIL_KEY), tz)
    else:
        since, until = sliding_since(time_range, now), None
        from_col.caption(f"From **{time(since)}**" if since else "From the first entry")
    with kind_col:
        kinds = ss.get(KINDS_KEY) or []
        st.multiselect("Kind", [*KINDS, *(k for k in kinds if k not in KINDS)], key=KINDS_KEY, placeholder="All kinds",
                       format_func=kind_label, help="Empty: every kind. Console visits and views of this page "
                       "are left out at first: they would fill the first page.")
        ss.setdefault(PER_CALL_KEY, True)  # the view auditors read (widget state is lost on a page switch)
        st.toggle("One row per call", key=PER_CALL_KEY,
                  help="A request and its result read as one row; off: every entry of the log.")
    row = st.columns(4)  # the fourth, for the method, is filled below
    for column, (name, label) in zip(row, (("environment", "Environment"), ("operator", "Operator"),
                                           ("endpoint", "Endpoint")), strict=False):
        with column:
            _choice(name, label, audit.choices(name))
    with row[3]:
        _choice("method", "Method", METHODS)
    row = st.columns(4)
    with row[0]:
        _choice("outcome", "Outcome", [*OUTCOMES, IN_FLIGHT], labels=Outcome.label_of)
    with row[1]:
        st.number_input("HTTP status", min_value=100, max_value=599, step=1, key=STATUS_KEY, placeholder="any")
    for column, name, label in ((row[2], "session_id", "Session id"), (row[3], "order_id", "Order id")):
        column.text_input(label, key=key_of(name), placeholder="exact, or prefix*",
                          help="An exact id, or the start of one followed by `*`.")
    st.button("Reset filters", icon=":material/restart_alt:", on_click=_reset, args=(now, tz), key="audit_reset",
              help="Back to the opening view: the last 24 hours, the default kinds, no other filter.")
    status = ss.get(STATUS_KEY)
    filters = AuditFilters(
        since=since, until=until, http_status=None if status is None else int(status),
        kinds=tuple(ss.get(KINDS_KEY) or ()), per_call=bool(ss.get(PER_CALL_KEY, True)),
        **{name: ss.get(key_of(name)) for name in CHOICE_FIELDS},
        **{name: (ss.get(key_of(name)) or "").strip() for name in TEXT_FIELDS},
    )
    return filters, time_range


def show_hidden_kinds(filters: AuditFilters) -> None:
    """Say which kinds the view leaves out, so a quiet page is never mistaken for a quiet log."""
    hidden = hidden_kinds(filters.kinds)
    if hidden:
        names = ", ".join(md(kind_label(k)) for k in hidden)
        st.caption(f"Not shown (kind filter): {names}. Add them under **Kind**, or clear it for every kind.")


def sync_url(view: AuditView) -> None:
    """Write the view into the URL (only when it changed: a write costs a browser history step)."""
    params = view_to_query_params(view)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    st.session_state[WRITTEN] = params
