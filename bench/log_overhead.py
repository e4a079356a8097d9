"""What the call log costs one create call: the logged client vs the same requests without it.

Both sides talk to the same local sandbox in the same run, interleaved call by call so drift
hits both alike. The baseline is a bare pooled ``requests.Session`` sending the same body with
the same token; the logged side is ``Client.create_session`` (two chained log entries and the
registry row, each in its own BEGIN IMMEDIATE transaction), once with the log as shipped
(``synchronous=FULL``: the request entry is fsynced before the request leaves) and once with
``synchronous=NORMAL`` on its own file, so the price of durability is measured, not guessed.
Prints medians in ms and the ratios. The log files go in ``--dir`` (default: a temporary
directory): put it on the disk the console will use, since fsync costs what that disk costs.

    .venv/bin/python bench/log_overhead.py [--calls 400] [--dir PATH]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.api.client import Client
from lib.calllog.log import CallLog
from lib.common import jsonutil
from lib.fields.validation import SessionRequest
from lib.sandbox.runtime import serve_in_thread
from lib.settings import Credentials, Environment
from lib.storage.db import connect


def body(i: int) -> dict:
    return {"transaction": {"order_id": f"bench-{i}", "amount": Decimal("15.02"), "currency": "gbp"},
            "tds": {"is_active": True, "challenge_preference": "no_preference"}}


def compare(logs: dict[str, CallLog], sandbox_db: Path, calls: int) -> tuple[list[float], dict[str, list[float]]]:
    """Milliseconds of each bare create and of each logged one per log (interleaved call by call),
    against a sandbox on ``sandbox_db``. bench/audit_scale.py runs it on its big log."""
    server = serve_in_thread(sandbox_db)
    try:
        env = Environment("sandbox", f"{server.base_url}/v1", Credentials("sandbox", "sandbox"))
        clients = {name: Client(env, operator="bench", log=log) for name, log in logs.items()}
        token = next(iter(clients.values())).login()
        for client in clients.values():
            client.login()
        bare = requests.Session()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        url = f"{env.api_base}/payment-sessions"
        for i in range(20):  # warm every path (connections, schema, caches)
            for client in clients.values():
                client.create_session(SessionRequest.parse(body(i)))
            bare.post(url, data=jsonutil.dumps(body(i)).encode(), headers=headers, timeout=10).raise_for_status()
        logged_ms: dict[str, list[float]] = {name: [] for name in clients}
        bare_ms: list[float] = []
        for i in range(calls):
            request = SessionRequest.parse(body(i))  # pre-check is outside every timing
            for name, client in clients.items():
                started = time.perf_counter()
                client.create_session(request)
                logged_ms[name].append((time.perf_counter() - started) * 1000)
            data = jsonutil.dumps(request.body).encode()
            started = time.perf_counter()
            bare.post(url, data=data, headers=headers, timeout=10).raise_for_status()
            bare_ms.append((time.perf_counter() - started) * 1000)
    finally:
        server.stop()
    return bare_ms, logged_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--dir", help="where the log files go (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        logs = {mode: CallLog(Path(tmp) / f"ops-{mode}.db", synchronous=mode) for mode in ("FULL", "NORMAL")}
        bare_ms, logged_ms = compare(logs, Path(tmp) / "sandbox.db", args.calls)
        modes = {mode: connect(log.db_path).execute("PRAGMA synchronous").fetchone()[0] for mode, log in logs.items()}
    baseline = statistics.median(bare_ms)
    print(f"calls each side        : {args.calls}")
    print(f"log directory          : {args.dir or tempfile.gettempdir()}")
    print(f"median bare create     : {baseline:.3f} ms")
    for mode, times in logged_ms.items():
        logged = statistics.median(times)
        shown = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[modes[mode]]
        print(f"logged, {shown:<6} (WAL) : {logged:.3f} ms  overhead {logged - baseline:.3f} ms  "
              f"(ratio {logged / baseline:.2f}x)  target < 2 ms")
    full, normal = statistics.median(logged_ms["FULL"]), statistics.median(logged_ms["NORMAL"])
    print(f"FULL costs over NORMAL : {full - normal:.3f} ms per create call (two fsynced commits)")


if __name__ == "__main__":
    main()
