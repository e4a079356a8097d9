"""How fast the Audit log page's queries are on a big log (a script, not a test).

    .venv/bin/python bench/audit_scale.py                     # 1,000,000 entries
    .venv/bin/python bench/audit_scale.py --entries 100000    # a quick try
    .venv/bin/python bench/audit_scale.py --db /tmp/big.db    # keep the database ...
    .venv/bin/python bench/audit_scale.py --db /tmp/big.db --reuse --proposed-indexes  # ... and reuse it

Fills a temporary log with realistic entries (30 days, 10 operators, 3 environments, the 3
endpoints, ~95% ok, real-looking latencies, a few calls still in flight), then prints the median
of 5 runs of each query the page makes. Targets: a page of rows (with its count) < 50 ms,
an aggregate < 500 ms.

``CallLog`` has no batch append yet, so entries are written here in batches of one
``BEGIN IMMEDIATE`` transaction each, chained with the log's own ``entry_hash``; the result
verifies like a log written entry by entry (checked at the end with ``--verify``).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.audit import export as audit_export
from lib.audit import queries as audit
from lib.audit.view import default_view
from lib.calllog.log import COLUMNS, GENESIS_HASH, HASHED_COLUMNS, CallLog, entry_hash
from lib.calllog.recipes import CURRENT
from lib.common import jsonutil
from lib.common.timefmt import utc_text
from lib.storage.db import connect, immediate

DAYS = 30
BATCH = 20_000
RUNS = 5
OPERATORS = [f"op{n:02d}@example.com" for n in range(10)]
ENVIRONMENTS = [("sandbox", 0.70), ("acquired-test", 0.25), ("acquired-live", 0.05)]
LOGIN, SESSIONS, SESSION = "/v1/login", "/v1/payment-sessions", "/v1/payment-sessions/{session_id}"
# (outcome, http status, weight) per call; latencies below.
OUTCOME_MIX = [
    ("ok", None, 0.950), ("http_error", 400, 0.030), ("http_error", 401, 0.004), ("http_error", 404, 0.005),
    ("http_error", 500, 0.004), ("network_error", None, 0.005), ("unknown_outcome", None, 0.002),
]
IN_FLIGHT_SHARE = 0.0005  # requests whose result never came (crashes) or is still coming
# Indexes proposed for lib.calllog.log (not there yet): ``--proposed-indexes`` adds them to measure.
PROPOSED_INDEXES = {
    "entries_operator_outcome_ts": "(operator, outcome, ts)",  # operator + outcome, count included
    "entries_outcome_ts_latency": "(outcome, ts, endpoint, duration_ms)",  # covers both charts
}
_INSERT = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _calls(n_entries: int, end: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Entries (as column → value) in time order, about two per call, ``n_entries`` in all."""
    step = timedelta(days=DAYS) / n_entries
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
            moment += timedelta(milliseconds=latency)
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


def add_proposed_indexes(db_path: Path) -> None:
    """The proposed indexes; the widened outcome index replaces ``entries_outcome_ts``."""
    db = connect(db_path)
    with immediate(db):
        for name, on in PROPOSED_INDEXES.items():
            db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON entries {on}")
        db.execute("DROP INDEX IF EXISTS entries_outcome_ts")


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
    """(name, median ms, target ms) of each query the page makes."""
    default = default_view(now).filters  # the page's opening view: 24 h, one row per call, the default kinds
    some_operator = OPERATORS[3]
    # The newest order id less its last 3 digits: about 1,000 orders, all within the last day.
    newest = connect(db_path).conn.execute("SELECT MAX(order_id) FROM entries").fetchone()[0]
    prefix = newest[:-3] + "*"
    views = {
        "default view (24 h)": default,
        "operator + outcome (24 h)": audit.AuditFilters(since=default.since, operator=some_operator, outcome="http_error"),
        "operator + outcome (all time)": audit.AuditFilters(operator=some_operator, outcome="http_error"),
        f"order id prefix {prefix} (24 h)": audit.AuditFilters(since=default.since, order_id=prefix),
        f"order id prefix {prefix} (all time)": audit.AuditFilters(order_id=prefix),
        "in flight (24 h)": audit.AuditFilters(since=default.since, outcome="in_flight"),
    }
    results = []
    for name, filters in views.items():
        results.append((f"{name}: page 1", _median_ms(lambda f=filters: audit.page(db_path, f, 1)), 50.0))
        results.append((f"{name}: count", _median_ms(lambda f=filters: audit.count(db_path, f)), 50.0))
    results.append(("default view: page 100", _median_ms(lambda: audit.page(db_path, default, 100)), 50.0))
    results.append(("export entries (default view, 5,000 rows)",
                    _median_ms(lambda: audit_export.export_entries(db_path, default, 5_000)), 1000.0))
    everything = audit.AuditFilters()
    for name, filters in (("24 h", default), ("30 days", everything)):
        results.append((f"calls_per_hour ({name})", _median_ms(lambda f=filters: audit.calls_per_hour(db_path, f)), 500.0))
        results.append((f"latency_by_endpoint ({name})",
                        _median_ms(lambda f=filters: audit.latency_by_endpoint(db_path, f)), 500.0))
    for helper in (audit.operators, audit.environments, audit.endpoints):
        results.append((f"{helper.__name__}()", _median_ms(lambda h=helper: h(db_path)), 50.0))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to write (default 1,000,000)")
    parser.add_argument("--db", type=Path, help="database file to fill (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="measure --db as it is, without filling it")
    parser.add_argument("--proposed-indexes", action="store_true", help="add PROPOSED_INDEXES before measuring")
    parser.add_argument("--verify", action="store_true", help="recompute the hash chain after filling")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db_path = (args.db or Path(tmp) / "audit_scale.db").resolve()
        if args.reuse:
            last = connect(db_path).conn.execute("SELECT ts FROM entries ORDER BY seq DESC LIMIT 1").fetchone()[0]
            now = datetime.fromisoformat(last)
        else:
            now = datetime.now(UTC)
            started = time.perf_counter()
            fill(db_path, args.entries, now)
            print(f"filled {args.entries:,} entries in {time.perf_counter() - started:.1f} s "
                  f"({db_path.stat().st_size / 1e6:.0f} MB)")
        if args.proposed_indexes:
            add_proposed_indexes(db_path)
        if args.verify:
            print("verify:", CallLog(db_path).verify().message)
        total = CallLog(db_path).count()
        print(f"median of {RUNS} runs on {total:,} entries (ms):")
        failed = 0
        for name, ms, target in measure(db_path, now):
            mark = "ok" if ms < target else "SLOW"
            failed += ms >= target
            print(f"  {name:<48} {ms:8.1f}   (< {target:.0f}) {mark}")
        rendered = render_time(db_path)
        print("page render: " + ("not measured (render_time is a stub)" if rendered is None else f"{rendered:.2f} s"))
        print(json.dumps({"entries": total, "slow": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
