"""How fast the Audit log page's questions are on big logs (a script, not a test).

    .venv/bin/python bench/audit_scale.py                                  # 1M and 5M entries
    .venv/bin/python bench/audit_scale.py --sizes 100000 --db-dir /tmp/x    # a quick try

Each size's log is kept in ``--db-dir`` as ``audit-N.db`` and reused by later runs; a missing one
is filled with realistic entries (30 days ending now, never after it; 10 operators, 3
environments, the 3 endpoints, ~95% ok, real-looking latencies, a few calls still in flight), then
its summaries are rebuilt, which is what migration 0004 does to an existing log (timed). Prints
the median of 5 runs of each question the page asks, every size side by side (target < 50 ms on
the largest, flat as the log grows), then the log's overhead per create call on the largest log
and bench/verify_floor.py's figures on the largest log (verify against reading and hashing the same rows).

``CallLog`` has no batch append, so entries are written here in batches of one ``BEGIN
IMMEDIATE`` transaction each, chained with the log's own ``entry_hash``; the result verifies like
a log written entry by entry (``--verify``).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.audit import export as audit_export
from lib.audit import queries as audit
from lib.audit import summary_queries
from lib.audit.view import default_view
from lib.calllog import summaries
from lib.calllog.log import COLUMNS, GENESIS_HASH, HASHED_COLUMNS, CallLog, entry_hash
from lib.calllog.recipes import CURRENT
from lib.common import jsonutil
from lib.common.timefmt import utc_text
from lib.storage.db import close_thread_connections, connect, immediate

DAYS = 30
BATCH = 20_000
RUNS = 5
VERIFY_FLOOR = Path(__file__).resolve().parent / "verify_floor.py"
OPERATORS = [f"op{n:02d}@example.com" for n in range(10)]
ENVIRONMENTS = [("sandbox", 0.70), ("acquired-test", 0.25), ("acquired-live", 0.05)]
LOGIN, SESSIONS, SESSION = "/v1/login", "/v1/payment-sessions", "/v1/payment-sessions/{session_id}"
# (outcome, http status, weight) per call; latencies below.
OUTCOME_MIX = [
    ("ok", None, 0.950), ("http_error", 400, 0.030), ("http_error", 401, 0.004), ("http_error", 404, 0.005),
    ("http_error", 500, 0.004), ("network_error", None, 0.005), ("unknown_outcome", None, 0.002),
]
LATENCY_BUDGET_MS = 205.0
IN_FLIGHT_SHARE = 0.0005  # requests whose result never came (crashes) or is still coming
_INSERT = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _calls(n_entries: int, end: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Entries (as column → value) in time order, about two per call, ``n_entries`` in all, within
    the ``DAYS`` before ``end`` and never after it: each result also waits its latency, so the step
    between entries leaves room for ``LATENCY_BUDGET_MS`` per call (above the mix's ~200.6 ms mean by
    more than the spread of its sum, ~35 minutes over 2.5M calls: the data ends a few hours before
    ``end``; a last one running late would be held at ``end``)."""
    step = (timedelta(days=DAYS) - timedelta(milliseconds=LATENCY_BUDGET_MS) * (n_entries / 2)) / n_entries
    moment = end - timedelta(days=DAYS)
    made, order_no = 0, 0
    sessions: list[tuple[str, str]] = []  # (session_id, order_id) of recent creates, for updates
    while made < n_entries:
        operator = rng.choice(OPERATORS)
        environment = rng.choices([e for e, _ in ENVIRONMENTS], [w for _, w in ENVIRONMENTS])[0]
        roll = rng.random()
        amount = f"{rng.randint(100, 500_000) / 100:.2f}"
        session_id = order_id = None
        if roll < 0.10:
            method, endpoint, path, body = "POST", LOGIN, LOGIN, {"app_id": "app", "app_key": "[REDACTED]"}
            amount = None
        elif roll < 0.80 or not sessions:
            order_no += 1
            order_id = f"ORD-{order_no:08d}"
            method, endpoint, path = "POST", SESSIONS, SESSIONS
            body = {"transaction": {"order_id": order_id, "amount": amount, "currency": "gbp", "capture": True}}
        else:
            session_id, order_id = rng.choice(sessions[-500:])
            method, endpoint, path = "PUT", SESSION, f"/v1/payment-sessions/{session_id}"
            body = {"transaction": {"order_id": order_id, "amount": amount, "currency": "gbp"}}
        outcome, status, _ = rng.choices(OUTCOME_MIX, [w for *_, w in OUTCOME_MIX])[0]
        if outcome == "ok" and endpoint == SESSIONS:
            sessions.append((str(uuid.UUID(int=rng.getrandbits(128))), order_id))
            status = 201
        elif outcome == "ok":
            status = 200
        base = {LOGIN: 80.0, SESSIONS: 140.0, SESSION: 110.0}[endpoint]
        latency = 30_000.0 if outcome == "unknown_outcome" else round(rng.lognormvariate(0, 0.45) * base, 3)
        attempt_id = uuid.UUID(int=rng.getrandbits(128)).hex
        common = {
            "operator": operator, "environment": environment, "tags": "[]", "attempt_id": attempt_id,
            "method": method, "endpoint": endpoint, "path": path, "session_id": session_id, "order_id": order_id,
            "amount": amount, "currency": None if amount is None else "gbp",
        }
        yield {**common, "ts": utc_text(moment), "kind": "api_request", "http_status": None, "outcome": None,
               "duration_ms": None, "detail": jsonutil.dumps({"url": "https://test-api.acquired.com" + path,
                                                              "headers": {"Authorization": "[REDACTED]"}, "body": body})}
        moment += step
        made += 1
        if made < n_entries and rng.random() >= IN_FLIGHT_SHARE:
            moment = min(moment + timedelta(milliseconds=latency), end)
            answer = {"session_id": sessions[-1][0]} if status == 201 else {"status": "success" if status == 200 else "error"}
            yield {**common, "ts": utc_text(moment), "kind": "api_result", "http_status": status, "outcome": outcome,
                   "duration_ms": latency, "detail": jsonutil.dumps({"headers": {}, "body": answer})}
            moment += step
            made += 1


def fill(db_path: Path, n_entries: int, end: datetime, seed: int = 1) -> None:
    """Write ``n_entries`` chained entries, ``BATCH`` per transaction."""
    CallLog(db_path)  # the log's own schema and indexes
    db = connect(db_path)
    head = db.conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    if head is not None:
        raise SystemExit(f"{db_path} already holds entries: pass a new file, or --reuse")
    prev = GENESIS_HASH
    batch: list[list[Any]] = []
    for seq, fields in enumerate(_calls(n_entries, end, random.Random(seed)), start=1):
        fields.update(seq=seq, prev_hash=prev, hash_version=CURRENT)
        values = [fields[name] for name in HASHED_COLUMNS]
        prev = entry_hash(values)
        batch.append([*values, prev])
        if len(batch) == BATCH:
            with immediate(db):
                db.conn.executemany(_INSERT, batch)
            batch.clear()
    with immediate(db):
        db.conn.executemany(_INSERT, batch)


def render_time(db_path: Path) -> float | None:
    """Seconds for one full run of the Audit log page (default view: grid, count, charts) under
    AppTest on ``db_path``, reached as a person does: ``app.py`` first, then ``switch_page``.

    The app's own sandbox, secrets and operator are pointed at throwaway values so the bench
    never touches a real configuration. A second run (charts cached) is printed alongside.
    """
    import os

    from streamlit.testing.v1 import AppTest

    from tests.net import free_port

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        saved = {k: os.environ.get(k) for k in ("OPS_DB_PATH", "OPS_SECRETS_PATH", "OPS_OPERATOR",
                                                "SANDBOX_PORT", "SANDBOX_DB_PATH")}
        os.environ.update(OPS_DB_PATH=str(db_path), OPS_SECRETS_PATH=str(Path(tmp) / "secrets.toml"),
                          OPS_OPERATOR="bench@example.com", SANDBOX_PORT=str(port),
                          SANDBOX_DB_PATH=str(Path(tmp) / "sandbox.db"))
        try:
            at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600)
            at.run()
            at.switch_page("pages/audit_log.py")
            started = time.perf_counter()
            at.run()
            first = time.perf_counter() - started
            if at.exception:
                raise RuntimeError(f"the Audit page failed: {[e.message for e in at.exception]}")
            shown = next((m.value for m in at.markdown if " match**" in m.value), "?")
            started = time.perf_counter()
            at.run()
            print(f"page render: rerun (charts cached) {time.perf_counter() - started:.2f} s; page says {shown}")
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return first


def _median_ms(run: Callable[[], Any]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(db_path: Path, now: datetime) -> list[tuple[str, float, float]]:
    """(name, median ms, target ms) of each question the page asks."""
    default = default_view(now).filters  # the page's opening view: 24 h, one row per call, the default kinds
    day, week, month = (audit.AuditFilters(since=now - timedelta(days=d)) for d in (1, 7, DAYS))
    everything = audit.AuditFilters()
    some_operator = OPERATORS[3]
    # The newest order id less its last 3 digits: about 1,000 orders, all within the last day.
    newest = connect(db_path).conn.execute("SELECT MAX(order_id) FROM entries").fetchone()[0]
    prefix = newest[:-3] + "*"
    views = {
        "default view (24 h)": default,
        "operator + outcome (24 h)": replace(day, operator=some_operator, outcome="http_error"),
        "operator + outcome (all time)": audit.AuditFilters(operator=some_operator, outcome="http_error"),
        "order id prefix (24 h, raw)": replace(day, order_id=prefix),
        "order id prefix (all time, raw)": audit.AuditFilters(order_id=prefix),
        "in flight (24 h)": replace(day, outcome="in_flight"),
        "in flight (all time)": audit.AuditFilters(outcome="in_flight"),
        "environment acquired-live (30 d)": replace(month, environment="acquired-live"),
    }
    results = []
    for name, filters in views.items():
        results.append((f"{name}: page 1", _median_ms(lambda f=filters: audit.page(db_path, f, 1)), 50.0))
        results.append((f"{name}: count", _median_ms(lambda f=filters: audit.count(db_path, f)), 50.0))
    results.append(("default view: page 100", _median_ms(lambda: audit.page(db_path, default, 100)), 50.0))
    results.append(("export entries (default view, 5,000 rows)",
                    _median_ms(lambda: audit_export.export_entries(db_path, default, 5_000)), 1000.0))
    conn = connect(db_path).conn
    for name, filters in (("24 h", day), ("7 d", week), ("30 d", month), ("all time", everything)):
        results.append((f"calls_per_hour ({name})", _median_ms(lambda f=filters: audit.calls_per_hour(db_path, f)), 50.0))
        results.append((f"calls_over_time ({name})",
                        _median_ms(lambda f=filters: audit.calls_over_time(db_path, f)), 50.0))
        results.append((f"  its span pre-query ({name})",
                        _median_ms(lambda f=filters: summary_queries.first_last(conn, f)), 50.0))
        results.append((f"latency_by_endpoint ({name})",
                        _median_ms(lambda f=filters: audit.latency_by_endpoint(db_path, f)), 50.0))
    for name, filters in (("endpoint, 30 d", replace(month, endpoint=SESSIONS)),
                          ("operator, 30 d", replace(month, operator=some_operator)),
                          ("method, 24 h", replace(day, method="PUT"))):
        results.append((f"latency_by_endpoint ({name})",
                        _median_ms(lambda f=filters: audit.latency_by_endpoint(db_path, f)), 50.0))
    results.append(("calls_over_time (operator + env, 30 d)", _median_ms(
        lambda: audit.calls_over_time(db_path, replace(month, operator=some_operator, environment="sandbox"))), 50.0))
    for helper in (audit.operators, audit.environments, audit.endpoints):
        results.append((f"{helper.__name__}()", _median_ms(lambda h=helper: h(db_path)), 50.0))
    return results


def prepare(db_path: Path, n_entries: int) -> datetime:
    """Fill ``db_path`` if it does not exist (raw entries, then the summaries rebuilt: what
    migration 0004 does to an old log), else open it (running that migration if it is pending);
    return its last filled entry's time, the "now" of its questions."""
    started = time.perf_counter()
    if not db_path.exists():
        partial = db_path.with_name(db_path.name + ".partial")
        for stale in partial.parent.glob(partial.name + "*"):
            stale.unlink()
        fill(partial, n_entries, datetime.now(UTC))
        close_thread_connections()
        partial.rename(db_path)
        print(f"{db_path}: filled {n_entries:,} entries in {time.perf_counter() - started:.1f} s")
        db = connect(db_path)
        started = time.perf_counter()
        with immediate(db):
            summaries.rebuild(db.conn)
        print(f"{db_path}: summaries rebuilt (the migration's backfill) in {time.perf_counter() - started:.1f} s")
    else:
        CallLog(db_path)
        print(f"{db_path}: opened (with any pending migration) in {time.perf_counter() - started:.1f} s")
    print(f"{db_path}: {db_path.stat().st_size / 1e6:,.0f} MB; summaries "
          + ", ".join(f"{table} {connect(db_path).conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0]:,} rows"
                      for table in summaries.TABLES))
    # The newest filled entry: the calls the overhead measurement appends (now) are not the data.
    last = max(connect(db_path).conn.execute("SELECT MAX(ts) FROM entries WHERE operator = ?", (op,)).fetchone()[0]
               for op in OPERATORS)
    return datetime.fromisoformat(last)


def overhead(db_path: Path, calls: int) -> None:
    """Log overhead per create call with ``db_path`` as the log and with a new log, interleaved in
    one run (bench/log_overhead.py's comparison), each with fsync (FULL, as shipped) and without
    (NORMAL): what the log's size adds, told apart from what the machine's disk costs."""
    from log_overhead import compare

    with tempfile.TemporaryDirectory() as tmp:
        logs = {f"{which}, {mode}": CallLog(path, synchronous=mode)
                for which, path in ((f"{CallLog(db_path).count():,} entries", db_path), ("new log", Path(tmp) / "new.db"))
                for mode in ("FULL", "NORMAL")}
        bare_ms, logged_ms = compare(logs, Path(tmp) / "sandbox.db", calls)
    bare = statistics.median(bare_ms)
    print(f"log overhead per create call (bare {bare:.3f} ms, median of {calls}; target < 2 ms):")
    for name, times in logged_ms.items():
        print(f"  {name:<28} {statistics.median(times) - bare:7.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000", help="entries of each log, comma-separated")
    parser.add_argument("--db-dir", type=Path, default=Path("/tmp/audit-bench"),
                        help="where the logs are kept (audit-N.db: filled when missing, reused when there)")
    parser.add_argument("--calls", type=int, default=200, help="create calls for the overhead on the largest log")
    parser.add_argument("--verify", action="store_true", help="recompute the hash chain of each log")
    parser.add_argument("--render", action="store_true", help="also time the page under AppTest on the largest log")
    args = parser.parse_args(argv)

    sizes = [int(n) for n in args.sizes.split(",")]
    figures: dict[int, dict[str, tuple[float, float]]] = {}
    for n in sizes:
        db_path = (args.db_dir / f"audit-{n}.db").resolve()
        now = prepare(db_path, n)
        if args.verify:
            print("verify:", CallLog(db_path).verify().message)
        figures[n] = {name: (ms, target) for name, ms, target in measure(db_path, now)}
    largest = sizes[-1]
    print(f"median of {RUNS} runs (ms), " + " | ".join(f"{n:,} entries" for n in sizes))
    failed = 0
    for name, (_, target) in figures[largest].items():
        cells = "  ".join(f"{figures[n][name][0]:9.1f}" for n in sizes)
        slow = figures[largest][name][0] >= target
        failed += slow
        print(f"  {name:<46} {cells}   (< {target:.0f}) {'SLOW' if slow else 'ok'}")
    big = (args.db_dir / f"audit-{largest}.db").resolve()
    overhead(big, args.calls)
    subprocess.run([sys.executable, str(VERIFY_FLOOR), "--db", str(big)], check=False)
    if args.render:
        rendered = render_time(big)
        print("page render: " + ("not measured" if rendered is None else f"{rendered:.2f} s"))
    print(json.dumps({"entries": largest, "slow": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
