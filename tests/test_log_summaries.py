"""The log's summaries (lib.calllog.summaries) always equal a recount of the entries, and the audit
questions answered from them equal the raw answers (latency within 1 %): after random appends across
minute, hour and day boundaries, killed attempts, concurrent writers, archiving and migration."""
from __future__ import annotations

import math
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.audit import queries, summary_queries
from lib.audit.filters import AuditFilters
from lib.calllog import cli, summaries
from lib.calllog.archive import archive
from lib.calllog.log import CallLog
from lib.storage.db import connect
from tests.clocks import FakeClock

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
ENVS, OPS, ENDPOINTS = ("sandbox", "acquired-test"), ("ann", "bob"), ("/v1/login", "/v1/payment-sessions", None)
OUTCOMES = ("ok", "http_error", "network_error", "unknown_outcome")
# Steps across every grain's boundary, and none at all (many entries in one microsecond).
STEPS = [timedelta(0), timedelta(microseconds=1), timedelta(seconds=7), timedelta(seconds=59),
         timedelta(minutes=1), timedelta(minutes=59), timedelta(hours=1), timedelta(hours=23), timedelta(days=1)]

request = st.fixed_dictionaries({
    "environment": st.sampled_from(ENVS), "operator": st.sampled_from(OPS), "endpoint": st.sampled_from(ENDPOINTS),
    "method": st.sampled_from(("POST", "PUT", None))})
outcome = st.fixed_dictionaries({
    "outcome": st.sampled_from(OUTCOMES), "http_status": st.sampled_from((None, 200, 201, 400, 500)),
    "duration_ms": st.one_of(st.none(), st.just(0.0), st.floats(0.001, 60_000))})
# One step: a call (answered, or killed before its result), another kind of entry, or time passing.
step = st.one_of(
    st.tuples(st.just("call"), request, st.one_of(st.none(), outcome)),
    st.tuples(st.just("other"), request, st.sampled_from(("webhook", "session_start", "export", "resolution"))),
    st.tuples(st.just("wait"), st.sampled_from(STEPS), st.none()),
)


def apply(log: CallLog, clock: FakeClock, steps: list[tuple[str, Any, Any]], prefix: str = "a") -> None:
    for n, (what, values, extra) in enumerate(steps):
        if what == "wait":
            clock.advance(values)
        elif what == "other":
            log.append(extra, **values)
        else:
            attempt = f"{prefix}{n}"
            log.append("api_request", attempt_id=attempt, **values)
            if extra is not None:  # None: the process died before the result was written
                log.append("api_result", attempt_id=attempt, **values, **extra)


def assert_summaries_agree(db_path: Path) -> None:
    assert summaries.check(connect(db_path).conn) == dict.fromkeys(summaries.TABLES, 0)


def raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every audit question read the entries, as before the summaries."""
    monkeypatch.setattr(summary_queries, "answerable", lambda filters, latency=False: False)


def assert_questions_agree(db_path: Path, f: AuditFilters, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [queries.count(db_path, f), queries.calls_per_hour(db_path, f).to_dict("records")]
    fast += [queries.calls_over_time(db_path, f, b) for b in (None, "minute", "5 minutes", "hour", "day")]
    latency = queries.latency_by_endpoint(db_path, f)
    with monkeypatch.context() as m:
        raw(m)
        exact = [queries.count(db_path, f), queries.calls_per_hour(db_path, f).to_dict("records")]
        exact += [queries.calls_over_time(db_path, f, b) for b in (None, "minute", "5 minutes", "hour", "day")]
        exact_latency = queries.latency_by_endpoint(db_path, f)
    assert fast[:2] == exact[:2], f
    for (frame, name), (raw_frame, raw_name) in zip(fast[2:], exact[2:], strict=True):
        assert (name, frame.to_dict("records")) == (raw_name, raw_frame.to_dict("records")), f
    assert list(latency["endpoint"]) == list(exact_latency["endpoint"]) and list(latency["calls"]) == list(
        exact_latency["calls"]), f
    for column in ("p50_ms", "p95_ms"):
        for got, want in zip(latency[column], exact_latency[column], strict=True):
            assert abs(got - want) <= summaries.RELATIVE_ACCURACY * want * (1 + 1e-9), (f, column)


views = st.builds(
    AuditFilters,
    since=st.one_of(st.none(), st.integers(-600, 3 * 24 * 60).map(
        lambda m: datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(minutes=m, seconds=0.5 * (m % 3)))),
    until=st.one_of(st.none(), st.integers(0, 4 * 24 * 60).map(
        lambda m: datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(minutes=m))),
    environment=st.sampled_from((None, *ENVS)), operator=st.sampled_from((None, *OPS)),
    endpoint=st.sampled_from((None, "/v1/login")), method=st.sampled_from((None, "POST")),
    outcome=st.sampled_from((None, "ok", "http_error", "in_flight")), http_status=st.sampled_from((None, 500)),
    kinds=st.sampled_from(((), ("api_call",), ("api_request",), ("webhook", "api_result"))),
    per_call=st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=40), filters=st.lists(views, min_size=1, max_size=4))
def test_summaries_equal_a_recount_and_answer_like_the_entries(steps: list[tuple[str, Any, Any]],
                                                               filters: list[AuditFilters],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock()
        log = CallLog(Path(tmp) / "ops.db", clock=clock, synchronous="NORMAL")
        apply(log, clock, steps)
        assert_summaries_agree(log.db_path)
        for f in filters:
            assert_questions_agree(log.db_path, f, monkeypatch)
        in_flight = [e["seq"] for e in log.in_flight()]
        assert in_flight == [r["seq"] for r in queries.page(log.db_path, AuditFilters(outcome="in_flight"), 1, 1000)][::-1]


# An entry as the log hands it to ``summaries.record``, with how long after the previous one it came;
# few values, so entries of one batch often share a row and a histogram bucket.
entry = st.tuples(st.sampled_from(STEPS), st.sampled_from(("api_request", "api_result", "webhook")),
                  st.fixed_dictionaries({"environment": st.sampled_from(ENVS), "operator": st.just("ann"),
                                         "endpoint": st.just(ENDPOINTS[1]), "method": st.just("POST")}),
                  st.one_of(st.none(), st.fixed_dictionaries({
                      "outcome": st.sampled_from(OUTCOMES[:2]), "http_status": st.just(201),
                      "duration_ms": st.sampled_from((None, 0.0, 3.0, 250.0))})), st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(entry, max_size=40), cuts=st.sets(st.integers(1, 39)))
def test_counts_added_up_per_batch_equal_a_recount(entries: list[tuple[Any, ...]], cuts: set[int]) -> None:
    """``deferred`` (a group commit's batch) writes each key once with its batch's sum: the tables
    must come out as a per-entry recount whatever the entries and however they are cut into batches."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(CallLog(Path(tmp) / "ops.db").db_path).conn
        now, columns = datetime(2026, 3, 1, 23, 58, tzinfo=UTC), ", ".join(summaries.OPEN_COLUMNS)
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            conn.execute("BEGIN IMMEDIATE")
            with summaries.deferred(conn):
                for fields in batch:
                    conn.execute(f"INSERT INTO entries (kind, tags, prev_hash, hash, {columns}) "
                                 f"VALUES (?, '[]', '', '', {', '.join('?' * len(summaries.OPEN_COLUMNS))})",
                                 [fields["kind"], *(fields[c] for c in summaries.OPEN_COLUMNS)])
                    summaries.record(conn, fields)
            conn.execute("COMMIT")
            batch.clear()

        for n, (step, kind, values, result, attempt) in enumerate(entries, 1):
            now += step
            batch.append({"seq": n, "ts": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kind": kind, "attempt_id": f"a{attempt}",
                          **values, **(result or {"outcome": None, "http_status": None, "duration_ms": None})})
            if n in cuts:
                flush()
        flush()
        assert_summaries_agree(Path(tmp) / "ops.db")


@given(st.floats(min_value=1e-9, max_value=1e12))
def test_every_duration_is_within_1_percent_of_its_bucket(duration: float) -> None:
    assert abs(summaries.bucket_value(summaries.bucket_key(duration)) - duration) <= 0.01 * duration * (1 + 1e-12)


@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e7)), min_size=1), st.sampled_from((0.5, 0.95, 0.01, 1.0)))
def test_nearest_rank_from_the_histogram_is_within_1_percent(durations: list[float], p: float) -> None:
    histogram: dict[int, int] = {}
    for d in durations:
        histogram[summaries.bucket_key(d)] = histogram.get(summaries.bucket_key(d), 0) + 1
    exact = sorted(durations)[max(1, math.ceil(p * len(durations))) - 1]
    assert abs(summary_queries.nearest_rank(histogram, p) - exact) <= 0.01 * exact * (1 + 1e-12)


def test_in_flight_with_kinds_that_exclude_requests_is_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    log = CallLog(tmp_path / "ops.db", clock=clock, synchronous="NORMAL")
    apply(log, clock, [("call", {"environment": "sandbox", "operator": "ann"}, None)])
    for kinds in (("webhook",), ("api_result",), ("api_call",)):
        assert_questions_agree(log.db_path, AuditFilters(outcome="in_flight", kinds=kinds), monkeypatch)
    assert queries.count(log.db_path, AuditFilters(outcome="in_flight", kinds=("webhook",))) == 0


def test_pieces_tile_a_range_with_the_fewest_buckets() -> None:
    day = 1440 * 20_000
    assert summary_queries.pieces(day - 61, day + 1440 + 121, summaries.COUNT_GRAINS) == [
        (1, day - 61, day - 60), (60, day - 60, day), (1440, day, day + 1440), (60, day + 1440, day + 1560),
        (1, day + 1560, day + 1561)]


# A writer process: appends calls until it is told to stop or killed; every 4th call never gets its result.
WRITER = """
import sys
from lib.calllog.log import CallLog
log, name = CallLog(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
n = 0
while True:
    attempt = f"{name}-{n}"
    log.append("api_request", operator=name, environment="sandbox", attempt_id=attempt, endpoint="/v1/x")
    if n % 4:
        log.append("api_result", operator=name, environment="sandbox", attempt_id=attempt, endpoint="/v1/x",
                   outcome="ok", http_status=200, duration_ms=n % 300)
    n += 1
    if n == 30:
        print("written", flush=True)
"""


def test_concurrent_writers_and_a_process_killed_mid_append_leave_the_summaries_right(tmp_path: Path) -> None:
    """Threads and two processes append at once; one process is SIGKILLed while appending, so its
    last request may have no result and its last transaction may be cut: nothing half-counted."""
    log = CallLog(tmp_path / "ops.db")
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(log.db_path), f"proc{i}"], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n", child.stderr

    def worker(name: str) -> None:
        clock = FakeClock(datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC))
        mine = CallLog(log.db_path, clock=clock)
        apply(mine, clock, [("call", {"environment": "sandbox", "operator": name, "endpoint": "/v1/y", "method": "PUT"},
                             None if n % 5 == 0 else {"outcome": "ok", "http_status": 201, "duration_ms": float(n)})
                            if n % 3 else ("wait", timedelta(seconds=7), None) for n in range(40)], prefix=name)

    threads = [threading.Thread(target=worker, args=(f"thread{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "written\n"
    children[0].send_signal(signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    children[1].send_signal(signal.SIGKILL)
    for child in children:
        child.wait(timeout=60)
    assert log.verify().ok
    assert_summaries_agree(log.db_path)
    assert {e["operator"] for e in log.in_flight()} >= {"thread0", "proc0", "proc1"}


def test_archiving_then_forgetting_keeps_the_summaries_equal_to_a_recount(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 22, tzinfo=UTC))
    log = CallLog(tmp_path / "ops.db", clock=clock, synchronous="NORMAL")
    call = {"environment": "sandbox", "operator": "ann", "endpoint": "/v1/x", "method": "POST"}
    done = {"outcome": "ok", "http_status": 200, "duration_ms": 5.0}
    apply(log, clock, [("call", call, done if n % 7 else None) if n % 2 else ("wait", timedelta(minutes=37), None)
                       for n in range(400)])
    marker = archive(log, date(2026, 3, 2), tmp_path / "before-march-2.jsonl", operator="aud@example.com",
                     today=date(2026, 3, 20))
    assert marker.count > 0 and log.verify().ok
    conn = sqlite3.connect(log.db_path, isolation_level=None)
    assert_summaries_agree(log.db_path)
    assert_questions_agree(log.db_path, AuditFilters(), monkeypatch)
    with pytest.raises(ValueError, match="midnight"):
        summaries.forget_before(conn, "2026-03-02T01:00:00.000000Z")


@pytest.mark.parametrize("commit", ("d3b227b", "cbb0ed7"))
def test_migration_backfills_the_summaries_of_an_old_log(commit: str, tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    shutil.copyfile(FIXTURES / f"ops-{commit}.db", path)
    log = CallLog(path)
    assert connect(path).conn.execute("SELECT SUM(n) FROM entry_counts WHERE grain = 1").fetchone()[0] == log.count()
    assert_summaries_agree(path)
    log.append("api_request", operator="dave", environment="sandbox", attempt_id="new")
    assert_summaries_agree(path)


def test_the_summaries_command_finds_and_repairs_tampered_tables(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    log = CallLog(tmp_path / "ops.db", clock=clock, synchronous="NORMAL")
    apply(log, clock, [("call", {"environment": "sandbox", "operator": "ann"}, {"outcome": "ok", "duration_ms": 1.0})])
    connect(log.db_path).conn.execute("UPDATE entry_counts SET n = n + 1")  # 2 entries × 3 grains changed
    connect(log.db_path).conn.execute("INSERT INTO open_attempts (seq, ts, operator, environment) VALUES (99, '', '', '')")
    assert cli.main(["summaries", "--db", str(log.db_path)]) == 1
    out = capsys.readouterr().out
    assert "open_attempts: 1 rows differ" in out and "entry_counts: 12 rows differ" in out
    assert cli.main(["summaries", "--db", str(log.db_path), "--rebuild"]) == 0
    assert_summaries_agree(log.db_path)
