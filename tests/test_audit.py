"""The Audit log page's engine: filters, paging, in-flight calls, export, charts, URL round trip.

The log is a real SQLite file written through ``CallLog.append``; every query is checked against
a plain-Python model of the same entries (filtering a list), so SQL and model must agree.
"""
from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.audit import export as audit_export
from lib.audit import filters as audit_filters
from lib.audit import queries as audit_queries
from lib.audit import view as audit_view
from lib.audit.filters import AuditFilters
from lib.calllog.log import CallLog
from lib.calllog.outcome import Outcome
from lib.sessions import registry
from lib.storage.db import connect

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LOGIN, SESSIONS, SESSION = "/v1/login", "/v1/payment-sessions", "/v1/payment-sessions/{session_id}"
OPERATORS = ["ann", "bob", "cat"]
ENVIRONMENTS = ["sandbox", "acquired-test"]
RESULTS = [("ok", 201), ("ok", 201), ("ok", 201), ("http_error", 400), ("http_error", 404),
           ("network_error", None), ("unknown_outcome", None)]
FORMULA = '=HYPERLINK("http://evil.example","x")'


class StepClock:
    """A clock that moves one minute per reading: entry n gets T0 + n minutes."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@dataclass
class Log:
    path: Path
    model: list[dict[str, Any]] = field(default_factory=list)  # every entry as appended, with seq and ts
    created_session: str = ""  # a session whose create call is linked through the registry


def _write(log: CallLog, clock: StepClock, model: list[dict[str, Any]], kind: str, **values: Any) -> int:
    seq = log.append(kind, **values)
    model.append({"seq": seq, "ts": clock.now, "kind": kind, **values})
    return seq


def _build(path: Path) -> Log:
    """~330 entries over ~5.5 hours: calls on every endpoint, all outcomes, some still in flight."""
    clock = StepClock()
    log = CallLog(path, clock=clock)
    out = Log(path)
    for n in range(160):
        endpoint = (LOGIN, SESSIONS, SESSION)[n % 3]
        session_id = f"sess-{n % 7:02d}-{n:04d}" if endpoint == SESSION else None
        common = dict(
            operator=OPERATORS[n % 3 if n % 5 else 0], environment=ENVIRONMENTS[n % 2], attempt_id=f"att-{n:04d}",
            method="PUT" if endpoint == SESSION else "POST", endpoint=endpoint,
            path=endpoint.replace("{session_id}", session_id or ""), session_id=session_id,
            order_id=None if endpoint == LOGIN else f"ORD-{n // 10:02d}-{n:04d}",
            amount=None if endpoint == LOGIN else Decimal(f"{n}.50"), currency=None if endpoint == LOGIN else "gbp",
            tags=["qa"] if n % 4 == 0 else [],
        )
        _write(log, clock, out.model, "api_request", detail={"body": {"n": n}}, **common)
        if n % 23 == 22:
            continue  # in flight: no result
        outcome, status = RESULTS[n % len(RESULTS)]
        status = 200 if status == 201 and endpoint != SESSIONS else status
        _write(log, clock, out.model, "api_result", outcome=outcome, http_status=status,
               duration_ms=float((n * 37) % 101 + 1), detail={"body": {"status": outcome}}, **common)
        if n % 40 == 0:
            _write(log, clock, out.model, "access", operator=FORMULA, environment="sandbox", tags=["-1+1", "@x"])
    # A create whose session then gets updated: the create's request joins the timeline through its attempt.
    created = "sess-created"
    out.created_session = created
    create = dict(operator="ann", environment="sandbox", attempt_id="att-create", method="POST",
                  endpoint=SESSIONS, path=SESSIONS, order_id="ORD-created", amount=Decimal("9.99"), currency="gbp")
    _write(log, clock, out.model, "api_request", **create)

    def record(db: Any, seq: int) -> None:
        registry.record_created(db, session_id=created, environment="sandbox", order_id="ORD-created",
                                operator="ann", sent_at=T0, ttl_seconds=600, params={}, tags=[], entry_seq=seq)

    _write(log, clock, out.model, "api_result", outcome="ok", http_status=201, duration_ms=5.0, then=record,
           **{**create, "session_id": created})  # as the client writes it: the answer names the session
    update = {**create, "attempt_id": "att-update", "method": "PUT", "endpoint": SESSION,
              "path": f"/v1/payment-sessions/{created}", "session_id": created}
    _write(log, clock, out.model, "api_request", **update)
    _write(log, clock, out.model, "api_result", outcome="ok", http_status=200, duration_ms=6.0, **update)
    for entry in out.model:
        entry.pop("then", None)
    return out


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    return _build(tmp_path_factory.mktemp("audit") / "ops.db")


def _in_flight(model: list[dict[str, Any]], entry: dict[str, Any]) -> bool:
    return entry["kind"] == "api_request" and not any(
        e["kind"] == "api_result" and e.get("attempt_id") == entry["attempt_id"] for e in model)


def _matches(model: list[dict[str, Any]], entry: dict[str, Any], f: AuditFilters) -> bool:
    """The filter semantics, written plainly in Python."""
    if f.since is not None and entry["ts"] < f.since or f.until is not None and entry["ts"] >= f.until:
        return False
    for name in ("environment", "operator", "endpoint", "method", "http_status"):
        if getattr(f, name) is not None and entry.get(name) != getattr(f, name):
            return False
    kinds = {k for kind in f.kinds for k in (("api_request", "api_result") if kind == audit_filters.CALL else (kind,))}
    if kinds and entry["kind"] not in kinds:
        return False
    if f.per_call and entry["kind"] == "api_request" and not _in_flight(model, entry):
        return False
    if f.outcome == audit_filters.IN_FLIGHT:
        if not _in_flight(model, entry):
            return False
    elif f.outcome is not None and entry.get("outcome") != f.outcome:
        return False
    for name in ("session_id", "order_id"):
        wanted, value = getattr(f, name), entry.get(name)
        if wanted is None:
            continue
        if value is None:
            return False
        if wanted.endswith("*") and not value.startswith(wanted[:-1]) or not wanted.endswith("*") and value != wanted:
            return False
    return True


def _expected(log: Log, f: AuditFilters) -> list[int]:
    return [e["seq"] for e in reversed(log.model) if _matches(log.model, e, f)]


def _all_pages(log: Log, f: AuditFilters, size: int) -> Iterator[dict[str, Any]]:
    for page_no in range(1, 1000):
        rows = audit_queries.page(log.path, f, page_no, size)
        yield from rows
        if len(rows) < size:
            return


# --- filters -------------------------------------------------------------------------------


def test_where_without_filters_matches_everything() -> None:
    assert audit_filters.where(AuditFilters(per_call=False)) == ("1", [])
    assert audit_filters.where(AuditFilters()) == (audit_filters.PER_CALL_SQL, [])


def test_where_builds_one_clause_per_filter() -> None:
    f = AuditFilters(since=T0, until=T0 + timedelta(hours=1), operator="ann", outcome="ok", http_status=201,
                     session_id="s-1", kinds=("webhook", "api_call"), per_call=False)
    sql, params = audit_filters.where(f)
    assert sql == ("e.ts >= ? AND e.ts < ? AND e.operator = ? AND e.kind IN (?, ?, ?) AND e.outcome = ? "
                   "AND e.http_status = ? AND e.session_id = ?")
    assert params == ["2024-05-01T09:00:00.000000Z", "2024-05-01T10:00:00.000000Z", "ann", "api_request",
                      "api_result", "webhook", "ok", 201, "s-1"]


def test_prefix_search_is_an_index_range_not_like(log: Log) -> None:
    sql, params = audit_filters.where(AuditFilters(order_id="ORD-1*", per_call=False))
    assert (sql, params) == ("e.order_id >= ? AND e.order_id < ?", ["ORD-1", "ORD-2"])
    assert "LIKE" not in sql
    plan = connect(log.path).conn.execute(
        f"EXPLAIN QUERY PLAN SELECT * FROM entries AS e WHERE {sql} ORDER BY e.seq DESC LIMIT 50", params).fetchall()
    assert any("entries_order_id" in row[-1] for row in plan), plan


@pytest.mark.parametrize(("prefix", "end"), [
    ("ab", "ac"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("\ud7ff", "\ue000"), ("", None),
])
def test_prefix_end_bounds_every_string_with_the_prefix(prefix: str, end: str | None) -> None:
    assert audit_filters._prefix_end(prefix) == end


def test_bare_star_means_any_value() -> None:
    assert audit_filters.where(AuditFilters(session_id="*", per_call=False)) == ("e.session_id IS NOT NULL", [])


def test_in_flight_filter_needs_no_parameter() -> None:
    sql, params = audit_filters.where(AuditFilters(outcome="in_flight"))
    assert "open_attempts" in sql and params == []


def test_the_opening_view_is_the_last_24_hours_one_row_per_call_without_the_noise() -> None:
    view = audit_view.default_view(T0)
    assert view == audit_view.AuditView(AuditFilters(since=T0 - timedelta(hours=24), kinds=audit_view.DEFAULT_KINDS))
    assert view.filters.per_call and not {"tab_start", "session_start", "audit_view"} & set(view.filters.kinds)


def test_empty_text_means_no_filter() -> None:
    assert AuditFilters(operator="", order_id="", outcome="") == AuditFilters()


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"since": datetime(2024, 5, 1)}, "since"),
    ({"until": datetime(2024, 5, 1)}, "until"),
    ({"outcome": "failed"}, "outcome"),
    ({"http_status": 42}, "http_status"),
    ({"http_status": True}, "http_status"),
])
def test_bad_filters_are_refused_naming_the_field(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AuditFilters(**kwargs)


# --- URL query parameters ------------------------------------------------------------------

_text = st.text(min_size=1, max_size=12)
_moment = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))
_filters = st.builds(
    AuditFilters,
    since=st.none() | _moment, until=st.none() | _moment,
    environment=st.none() | _text, operator=st.none() | _text, endpoint=st.none() | _text,
    method=st.none() | _text, outcome=st.none() | st.sampled_from([*audit_filters.OUTCOMES, audit_filters.IN_FLIGHT]),
    http_status=st.none() | st.integers(100, 599), session_id=st.none() | _text, order_id=st.none() | _text,
    kinds=st.lists(st.text(min_size=1, max_size=12).filter(lambda k: "," not in k), max_size=3).map(tuple),
    per_call=st.booleans(),
)


@given(_filters)
def test_filters_round_trip_through_query_params(f: AuditFilters) -> None:
    params = audit_filters.to_query_params(f)
    assert all(isinstance(v, str) for v in params.values())
    assert audit_filters.from_query_params(params) == f


def test_an_all_time_view_still_has_a_since_parameter() -> None:
    assert audit_filters.to_query_params(AuditFilters()) == {"since": "all"}
    assert audit_filters.from_query_params({"since": "all"}) == AuditFilters()


def test_query_params_ignore_unknown_keys_and_accept_offsets() -> None:
    f = audit_filters.from_query_params({"since": "2024-05-01T11:00:00+02:00", "seq": "12", "order_id": "ORD-1*"})
    assert f == AuditFilters(since=T0, order_id="ORD-1*")


@pytest.mark.parametrize(("params", "named"), [
    ({"since": "yesterday"}, "since"),
    ({"until": "2024-05-01T09:00:00"}, "until"),
    ({"http_status": "abc"}, "http_status"),
    ({"http_status": "99"}, "http_status"),
    ({"outcome": "bogus"}, "outcome"),
])
def test_bad_query_params_name_the_parameter(params: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=f"query parameter {named}"):
        audit_filters.from_query_params(params)


# --- count, page, entry, attempt, timeline -------------------------------------------------


def _field_filters(log: Log) -> list[AuditFilters]:
    mid = log.model[len(log.model) // 2]["ts"]
    return [
        AuditFilters(),
        AuditFilters(since=mid),
        AuditFilters(until=mid),
        AuditFilters(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2)),
        AuditFilters(environment="acquired-test"),
        AuditFilters(operator="bob"),
        AuditFilters(endpoint=SESSION),
        AuditFilters(method="PUT"),
        AuditFilters(kinds=("access",)),
        AuditFilters(kinds=("session_start", "api_call")),
        AuditFilters(kinds=("api_request",), per_call=False),
        AuditFilters(per_call=False),
        AuditFilters(outcome="in_flight", per_call=False),
        AuditFilters(http_status=404),
        AuditFilters(outcome="http_error"),
        AuditFilters(outcome="unknown_outcome"),
        AuditFilters(outcome="in_flight"),
        AuditFilters(operator="ann", outcome="ok"),
        AuditFilters(session_id="sess-03-0017"),
        AuditFilters(session_id="sess-03*"),
        AuditFilters(order_id="ORD-1*"),
        AuditFilters(order_id="ORD-10-0100"),
        AuditFilters(order_id="*"),
        AuditFilters(order_id="ORD-10-010"),  # exact: a prefix of real ids, matching none
    ]


def test_each_filter_narrows_to_exactly_the_matching_entries(log: Log) -> None:
    for f in _field_filters(log):
        wanted = _expected(log, f)
        assert audit_queries.count(log.path, f) == len(wanted), f
        assert [r["seq"] for r in _all_pages(log, f, 50)] == wanted, f
        assert 0 < len(wanted) < len(log.model) or f in (AuditFilters(per_call=False), AuditFilters(order_id="ORD-10-010")), f


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_filter_combinations_agree_with_the_model(log: Log, data: st.DataObject) -> None:
    pool = {
        "environment": ENVIRONMENTS, "operator": OPERATORS + [FORMULA], "endpoint": [LOGIN, SESSIONS, SESSION],
        "method": ["POST", "PUT"], "outcome": [*audit_filters.OUTCOMES, audit_filters.IN_FLIGHT], "http_status": [200, 201, 400],
        "kinds": [("api_request",), ("api_result",), ("access",), ("api_call", "access")], "per_call": [False],
        "session_id": ["sess-0*", "sess-01*", "sess-created"],
        "order_id": ["ORD-0*", "ORD-1*", "ORD-05*"],
    }
    chosen = data.draw(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in pool.items()}))
    hours = data.draw(st.none() | st.integers(0, 6))
    if hours is not None:
        chosen["since"] = T0 + timedelta(hours=hours)
    f = AuditFilters(**chosen)
    wanted = _expected(log, f)
    assert audit_queries.count(log.path, f) == len(wanted)
    assert [r["seq"] for r in audit_queries.page(log.path, f, 1, 500)] == wanted


def test_pages_are_newest_first_and_split_cleanly(log: Log) -> None:
    everything = [r["seq"] for r in audit_queries.page(log.path, AuditFilters(per_call=False), 1, 1000)]
    assert everything == sorted(everything, reverse=True) and len(everything) == len(log.model)
    first, second = audit_queries.page(log.path, AuditFilters(per_call=False), 1, 50), audit_queries.page(log.path, AuditFilters(per_call=False), 2, 50)
    assert [r["seq"] for r in first + second] == everything[:100]
    last_page = math.ceil(len(everything) / 50)
    assert len(audit_queries.page(log.path, AuditFilters(per_call=False), last_page)) == len(everything) - 50 * (last_page - 1)
    assert audit_queries.page(log.path, AuditFilters(per_call=False), last_page + 1) == []
    with pytest.raises(ValueError, match="page_no"):
        audit_queries.page(log.path, AuditFilters(per_call=False), 0)


def test_rows_are_decoded_and_flag_calls_in_flight(log: Log) -> None:
    rows = audit_queries.page(log.path, AuditFilters(per_call=False), 1, 1000)
    flagged = {r["seq"] for r in rows if r["in_flight"]}
    assert flagged == {e["seq"] for e in log.model if _in_flight(log.model, e)} and len(flagged) == 6
    row = next(r for r in rows if r["order_id"] == "ORD-00-0004" and r["kind"] == "api_request")
    assert row["amount"] == Decimal("4.50") and row["tags"] == ["qa"] and "detail" not in row


def test_entry_decodes_detail(log: Log) -> None:
    seq = next(e["seq"] for e in log.model if e.get("attempt_id") == "att-0005")
    got = audit_queries.entry(log.path, seq)
    assert got is not None and got["detail"] == {"body": {"n": 5}} and got["attempt_id"] == "att-0005"
    assert audit_queries.entry(log.path, 10**9) is None


def test_attempt_gives_request_then_result(log: Log) -> None:
    pair = audit_queries.attempt(log.path, "att-0003")
    assert [e["kind"] for e in pair] == ["api_request", "api_result"]
    assert pair[1]["detail"] == {"body": {"status": "http_error"}}
    assert [e["kind"] for e in audit_queries.attempt(log.path, "att-0022")] == ["api_request"]  # in flight
    assert audit_queries.attempt(log.path, "nope") == []


def test_session_timeline_includes_the_create_through_its_attempt(log: Log) -> None:
    timeline = audit_queries.session_timeline(log.path, log.created_session)
    assert [(r["kind"], r["method"]) for r in timeline] == [
        ("api_request", "POST"), ("api_result", "POST"), ("api_request", "PUT"), ("api_result", "PUT")]
    other = audit_queries.session_timeline(log.path, "sess-03-0017")
    assert [r["seq"] for r in other] == sorted(e["seq"] for e in log.model if e.get("session_id") == "sess-03-0017")
    assert audit_queries.session_timeline(log.path, "unknown") == []


def test_session_timeline_works_without_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    CallLog(path).append("api_request", operator="ann", environment="sandbox", session_id="s1", attempt_id="a")
    assert [r["session_id"] for r in audit_queries.session_timeline(path, "s1")] == ["s1"]


# --- export --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", FORMULA])
def test_csv_escape_defuses_formulas(cell: str) -> None:
    assert audit_export.csv_escape(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "ann", "15.02", "'=already", " =space", "a=b"])
def test_csv_escape_leaves_plain_cells(cell: str) -> None:
    assert audit_export.csv_escape(cell) == cell


@given(st.text())
def test_csv_escape_never_lets_a_formula_lead(cell: str) -> None:
    escaped = audit_export.csv_escape(cell)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert escaped in (cell, "'" + cell)


def _exported_seqs(log: Log, f: AuditFilters, limit: int) -> list[int]:
    """What an export of the view holds, by the model: its newest ``limit`` rows and, a call being
    one row, the request of each result among them."""
    shown = [e for e in reversed(log.model) if _matches(log.model, e, f)][:limit]
    requests = {e["seq"] for e in log.model if e["kind"] == "api_request" and f.per_call and any(
        s["kind"] == "api_result" and s["attempt_id"] == e["attempt_id"] for s in shown)}
    return sorted({e["seq"] for e in shown} | requests)


@pytest.mark.parametrize("f", [AuditFilters(), AuditFilters(operator="bob"), AuditFilters(per_call=False),
                               AuditFilters(kinds=("api_result",)), AuditFilters(outcome="http_error"),
                               AuditFilters(kinds=("access", "api_call"), per_call=False)],
                         ids=["calls", "bob", "raw", "results", "refused", "raw-kinds"])
@pytest.mark.parametrize("limit", [7, audit_filters.EXPORT_LIMIT])
def test_export_entries_are_the_views_rows_and_their_calls_requests(log: Log, f: AuditFilters, limit: int) -> None:
    entries = audit_export.export_entries(log.path, f, limit)
    assert [e[0] for e in entries] == _exported_seqs(log, f, limit)
    calllog = CallLog(log.path)
    for values in entries[:20]:
        stored = dict(zip(audit_export.EXPORT_COLUMNS, values, strict=True))
        assert stored["hash"] == calllog.entry(stored["seq"])["hash"] and isinstance(stored["detail"], str | None)


def test_the_csv_is_escaped_newest_first_and_parses_back(log: Log) -> None:
    entries = audit_export.export_entries(log.path, AuditFilters(kinds=("access",)))
    parsed = list(csv.reader(io.StringIO(audit_export.csv_file(entries).decode("utf-8-sig"))))
    assert parsed[0] == list(audit_export.EXPORT_COLUMNS) and len(parsed) == 1 + len(entries) == 5
    record = dict(zip(parsed[0], parsed[1], strict=True))
    assert record["operator"] == "'" + FORMULA
    assert record["tags"] == '["-1+1", "@x"]' and record["in_flight"] == "false" and record["outcome"] == ""
    assert [int(r[0]) for r in parsed[1:]] == sorted((e[0] for e in entries), reverse=True)
    assert all(len(record[c]) == 64 for c in ("hash", "prev_hash"))


def test_export_of_in_flight_request_says_so(log: Log) -> None:
    entries = audit_export.export_entries(log.path, AuditFilters(outcome="in_flight"))
    assert len(entries) == 6 and {e[-1] for e in entries} == {True}


# --- charts and filter choices -------------------------------------------------------------


def test_calls_per_hour_counts_results_by_hour_and_outcome(log: Log) -> None:
    f = AuditFilters(operator="ann")
    frame = audit_queries.calls_per_hour(log.path, f)
    assert list(frame.columns) == ["hour", "outcome", "calls"]
    assert str(frame["hour"].dt.tz) == "UTC"
    got = {(h.to_pydatetime(), o): c for h, o, c in frame.itertuples(index=False)}
    wanted = Counter((e["ts"].replace(minute=0, second=0, microsecond=0), e["outcome"])
                     for e in log.model if e["kind"] == "api_result" and _matches(log.model, e, f))
    assert got == dict(wanted) and len(got) > 5


def test_chart_bucket_follows_the_span_of_the_calls() -> None:
    pick = audit_queries.chart_bucket
    assert [pick(timedelta(0)), pick(timedelta(minutes=59)), pick(timedelta(hours=2))] == ["minute"] * 3
    assert [pick(timedelta(hours=2, seconds=1)), pick(timedelta(hours=12))] == ["5 minutes"] * 2
    assert [pick(timedelta(hours=13)), pick(timedelta(days=7))] == ["hour"] * 2
    assert pick(timedelta(days=30)) == "day"


def _floor(moment: datetime, minutes: int) -> datetime:
    return moment.replace(minute=moment.minute // minutes * minutes, second=0, microsecond=0)


def _over_time(log: Log, f: AuditFilters, bucket: str | None = None) -> tuple[dict[Any, int], str, set[timedelta]]:
    frame, name = audit_queries.calls_over_time(log.path, f, bucket)
    assert list(frame.columns) == ["start", "end", "outcome", "calls"] and str(frame["start"].dt.tz) == "UTC"
    got = {(s.to_pydatetime(), o): c for s, _, o, c in frame.itertuples(index=False)}
    return got, name, set(frame["end"] - frame["start"])


def test_calls_over_time_uses_short_buckets_for_short_spans(log: Log) -> None:
    results = [e for e in log.model if e["kind"] == "api_result"]
    # ~5.5 hours of calls: 5-minute bars.
    got, name, widths = _over_time(log, AuditFilters())
    assert (name, widths) == ("5 minutes", {timedelta(minutes=5)})
    assert got == dict(Counter((_floor(e["ts"], 5), e["outcome"]) for e in results))
    # One hour of them: one-minute bars (an hourly chart would be a single thin bar).
    hour = AuditFilters(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    got, name, widths = _over_time(log, hour)
    assert (name, widths) == ("minute", {timedelta(minutes=1)})
    assert got == dict(Counter((_floor(e["ts"], 1), e["outcome"]) for e in results if _matches(log.model, e, hour)))
    assert len(got) > 20
    # A bucket asked for by name; hourly agrees with calls_per_hour.
    got, name, _ = _over_time(log, AuditFilters(operator="ann"), "hour")
    per_hour = audit_queries.calls_per_hour(log.path, AuditFilters(operator="ann"))
    assert name == "hour" and got == {(h.to_pydatetime(), o): c for h, o, c in per_hour.itertuples(index=False)}
    got, name, _ = _over_time(log, AuditFilters(), "day")
    assert name == "day" and sum(got.values()) == len(results)


def test_calls_over_time_of_an_empty_view(log: Log) -> None:
    frame, name = audit_queries.calls_over_time(log.path, AuditFilters(operator="nobody"))
    assert frame.empty and name == "minute" and list(frame.columns) == ["start", "end", "outcome", "calls"]


def _nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered)) - 1]


@pytest.mark.parametrize(("f", "percentiles"), [
    (AuditFilters(environment="sandbox"), "within 1% (histogram)"),  # the histogram holds the view
    (AuditFilters(operator="ann"), "within 1% (histogram)"),  # the operator's own histogram
    (AuditFilters(method="POST", http_status=201), "within 1% (histogram)"),  # keyed by both
    (AuditFilters(outcome="in_flight"), "within 1% (histogram)"),  # nothing in flight has finished: empty
    (AuditFilters(order_id="ORD-1*"), "exact"),  # no histogram has the ids: read from the entries
])
def test_latency_by_endpoint_gives_nearest_rank_percentiles(log: Log, f: AuditFilters, percentiles: str) -> None:
    frame = audit_queries.latency_by_endpoint(log.path, f)
    assert list(frame.columns) == ["endpoint", "calls", "p50_ms", "p95_ms"]
    assert frame.attrs["percentiles"] == percentiles
    tolerance = 0.01 if percentiles != "exact" else 0.0
    for endpoint, calls, p50, p95 in frame.itertuples(index=False):
        durations = [e["duration_ms"] for e in log.model if e["kind"] == "api_result"
                     and e["endpoint"] == endpoint and _matches(log.model, e, f)]
        assert calls == len(durations)
        for got, p in ((p50, 0.5), (p95, 0.95)):
            assert got == pytest.approx(_nearest_rank(durations, p), rel=tolerance, abs=0)
    assert list(frame["endpoint"]) == sorted({e["endpoint"] for e in log.model if e["kind"] == "api_result"
                                              and _matches(log.model, e, f)})


def test_charts_of_an_empty_view_are_empty_frames(log: Log) -> None:
    nothing = AuditFilters(operator="nobody")
    assert audit_queries.calls_per_hour(log.path, nothing).empty
    assert audit_queries.latency_by_endpoint(log.path, nothing).empty


def test_distinct_values_for_the_filter_widgets(log: Log) -> None:
    assert audit_queries.operators(log.path) == sorted({*OPERATORS, FORMULA})
    assert audit_queries.environments(log.path) == sorted(ENVIRONMENTS)
    assert audit_queries.endpoints(log.path) == sorted([LOGIN, SESSIONS, SESSION])


def test_an_empty_log_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert audit_queries.count(path, AuditFilters()) == 0 and audit_queries.page(path, AuditFilters(), 1) == []
    assert audit_queries.operators(path) == [] and audit_export.export_entries(path, AuditFilters()) == []


def test_filter_fields_are_all_in_the_url() -> None:
    every = AuditFilters(since=T0, until=T0, environment="e", operator="o", endpoint="p", method="m", outcome="ok",
                         http_status=200, session_id="s", order_id="x*", kinds=("k",), per_call=False)
    names = {f.name for f in fields(AuditFilters)} - {"kinds", "per_call"} | {"kind", "rows"}
    assert set(audit_filters.to_query_params(every)) == names


# --- the page's view: URL ⇄ view, grid rows, opened entry, recorded export, checkpoints ----------
NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)


def test_a_url_without_filters_opens_the_sliding_last_24_hours() -> None:
    for url in ({}, {"entry": "7"}, {"unrelated": "x"}, {"http_status": "abc"}):
        view, problems = audit_view.view_from_query_params(url, NOW)
        assert len(problems) == ("http_status" in url) and view.time_range == audit_view.DEFAULT_RANGE
        assert view.filters == AuditFilters(since=NOW - timedelta(hours=24), kinds=audit_view.DEFAULT_KINDS)
    assert audit_view.view_from_query_params({"entry": "7"}, NOW)[0].entry == 7


def test_a_preset_slides_and_a_link_without_one_keeps_its_bounds() -> None:
    later = NOW + timedelta(hours=5)
    shared = audit_view.view_to_query_params(audit_view.AuditView(AuditFilters(since=T0, until=NOW, operator="ann"),
                                                        audit_view.CUSTOM, entry=3, page=2))
    assert "range" not in shared and shared["entry"] == "3" and shared["page_no"] == "2"
    view, _ = audit_view.view_from_query_params(shared, later)
    assert view == audit_view.AuditView(AuditFilters(since=T0, until=NOW, operator="ann"), audit_view.CUSTOM, 3, 2)
    preset = audit_view.view_to_query_params(audit_view.AuditView(AuditFilters(since=NOW - timedelta(hours=1)), "1h"))
    view, _ = audit_view.view_from_query_params(preset, later)
    assert view.time_range == "1h" and view.filters.since == later - timedelta(hours=1)
    view, _ = audit_view.view_from_query_params({"since": "all", "operator": "bob"}, later)
    assert view.time_range == audit_filters.ALL_TIME
    assert view.filters == AuditFilters(operator="bob", kinds=audit_view.DEFAULT_KINDS)  # no kind: the opening kinds


_kind_names = st.sampled_from(audit_view.KINDS) | st.text(min_size=1, max_size=12).filter(
    lambda k: "," not in k and k != audit_view.ALL_KINDS)


@given(kinds=st.lists(_kind_names, max_size=6).map(tuple), per_call=st.booleans(),
       time_range=st.sampled_from([r for r in audit_view.TIME_RANGES if r != audit_view.CUSTOM]))
def test_any_set_of_kinds_round_trips_through_the_page_url(kinds: tuple[str, ...], per_call: bool,
                                                           time_range: str) -> None:
    """Every kind set, the empty one (every kind) and the opening one included, comes back as it was."""
    view = audit_view.AuditView(AuditFilters(since=audit_view.sliding_since(time_range, NOW), kinds=kinds,
                                             per_call=per_call), time_range)
    params = audit_view.view_to_query_params(view)
    assert "kind" in params  # an absent kind means the opening kinds, so a link always names them
    assert audit_view.view_from_query_params(params, NOW) == (view, [])


@pytest.mark.parametrize(("kinds", "hidden"), [
    ((), []),
    (audit_view.DEFAULT_KINDS, ["tab_start", "audit_view", "session_start"]),
    (("api_result",), [k for k in audit_view.KINDS if k not in ("api_result",)]),
    (("api_request", "api_result"), [k for k in audit_view.KINDS if k not in audit_filters.CALL_KINDS + ("api_call",)]),
    (("api_call", "webhook", "nonsense"), [k for k in audit_view.KINDS if k not in (
        "api_call", "api_request", "api_result", "webhook")]),
])
def test_hidden_kinds_are_the_known_kinds_a_filter_leaves_out(kinds: tuple[str, ...], hidden: list[str]) -> None:
    assert audit_view.hidden_kinds(tuple(sorted(kinds))) == hidden


@pytest.mark.parametrize(("params", "named"), [
    ({"http_status": "abc"}, "http_status"), ({"http_status": "42"}, "http_status"), ({"outcome": "x"}, "outcome"),
    ({"until": "tomorrow"}, "until"), ({"entry": "0"}, "entry"), ({"page_no": "two"}, "page_no"),
    ({"range": "1y"}, "range"),
])
def test_bad_url_values_are_ignored_one_by_one_with_a_message(params: dict[str, str], named: str) -> None:
    view, problems = audit_view.view_from_query_params({**params, "operator": "ann"}, NOW)
    assert len(problems) == 1 and f"query parameter {named}" in problems[0]
    assert view.filters.operator == "ann" and view.page >= 1


def test_a_bad_since_falls_back_to_the_default_window_not_all_time() -> None:
    view, problems = audit_view.view_from_query_params({"since": "last week", "operator": "ann"}, NOW)
    assert "query parameter since" in problems[0]
    assert view.time_range == audit_view.DEFAULT_RANGE and view.filters.since == NOW - audit_filters.DEFAULT_WINDOW


def test_minute_of_and_page_count() -> None:
    assert audit_view.minute_of(NOW.replace(second=59, microsecond=9)) == NOW
    assert [audit_view.page_count(n, 50) for n in (0, 1, 50, 51)] == [1, 1, 1, 2]


def test_grid_frame_reads_like_the_page(log: Log) -> None:
    rows = audit_queries.page(log.path, AuditFilters(per_call=False), 1, size=500)
    frame = audit_view.grid_frame(rows, UTC, per_call=False)
    assert list(frame.columns) == list(audit_view.GRID_COLUMNS) and len(frame) == len(rows)
    assert {frame["outcome"].iloc[i] for i, r in enumerate(rows) if r["in_flight"]} == {Outcome.IN_FLIGHT.label}
    assert set(frame["kind"]) == {"api_request", "api_result", "access"}
    first = frame.iloc[-1]
    assert first["time"] == (T0 + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")  # the zone is in the heading
    # A request has no status or duration: missing values (the page shows them blank), never text.
    request = next(i for i, r in enumerate(rows) if r["kind"] == "api_request")
    assert frame["HTTP status"].isna().iloc[request] and frame["duration ms"].isna().iloc[request]
    assert str(frame["HTTP status"].dtype) == "Int64" and str(frame["duration ms"].dtype) == "float64"
    priced = next(i for i, r in enumerate(rows) if r["amount"] is not None)
    assert frame.iloc[priced]["amount"] == f"{rows[priced]['amount']} GBP"  # exact text, never a float


def test_per_call_grid_rows_are_calls_timed_by_their_request(log: Log) -> None:
    rows = audit_queries.page(log.path, AuditFilters(), 1, size=500)
    frame = audit_view.grid_frame(rows, UTC, per_call=True)
    model = {e["seq"]: e for e in log.model}
    requests = {e["attempt_id"]: e for e in log.model if e["kind"] == "api_request"}
    for i, row in enumerate(rows):
        entry = model[row["seq"]]
        made = requests[entry["attempt_id"]]["ts"] if entry["kind"] == "api_result" else entry["ts"]
        assert frame["time"].iloc[i] == made.strftime("%Y-%m-%d %H:%M:%S")
        assert frame["kind"].iloc[i] == ("call" if entry["kind"].startswith("api_") else entry["kind"])
        assert pd.isna(frame["HTTP status"].iloc[i]) == (entry.get("http_status") is None)
    assert (rows[0]["requested_ts"] is None) == (rows[0]["kind"] != "api_result")


def test_entry_view_pairs_the_call_and_finds_its_session(log: Log) -> None:
    create_request = next(e for e in log.model if e.get("attempt_id") == "att-create")
    view = audit_queries.entry_view(log.path, create_request["seq"])
    assert view is not None
    assert [e.kind for e in view.pair] == ["api_request", "api_result"]
    assert view.session_id == log.created_session
    assert [r["seq"] for r in view.timeline] == [e["seq"] for e in log.model if e.get("attempt_id") in
                                                 ("att-create", "att-update")]
    access = next(e for e in log.model if e["kind"] == "access")
    lone = audit_queries.entry_view(log.path, access["seq"])
    assert lone is not None and len(lone.pair) == 1 and lone.session_id is None and lone.timeline == []
    assert audit_queries.entry_view(log.path, 10**9) is None


@pytest.mark.parametrize("fmt", [audit_export.EVIDENCE, audit_export.CSV])
def test_an_export_is_recorded_and_keeps_the_chain(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "ops.db"
    log = _build(path)
    filters = AuditFilters(operator="bob")
    calllog = CallLog(path)
    entries = audit_export.export_entries(path, filters, 5)
    data = audit_export.file_and_record(entries, fmt, calllog, filters, operator="aud", environment="sandbox",
                                        tags=("audit_log",))
    assert data == (audit_export.csv_file(entries) if fmt == audit_export.CSV
                    else audit_export.evidence_file(entries, [], filters))
    recorded = calllog.entry(calllog.count())
    assert recorded["kind"] == "export" and recorded["seq"] == len(log.model) + 1
    assert recorded["detail"] == {"filters": {"since": "all", "operator": "bob"}, "format": fmt,
                                  "entries": len(entries)}
    assert calllog.verify().ok


def test_last_checkpoint_is_the_newest_well_formed_line(tmp_path: Path) -> None:
    calllog = CallLog(tmp_path / "ops.db")
    assert calllog.latest_checkpoint() is None
    calllog.append("access", operator="ann", environment="sandbox")
    first = calllog.checkpoint()
    with calllog.checkpoint_path.open("a") as f:
        f.write("not json\n")
    assert calllog.latest_checkpoint() == first
