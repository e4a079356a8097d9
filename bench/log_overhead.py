"""What the call log costs one create call: the logged client vs the same requests without it.

Both sides talk to the same local sandbox in the same run, interleaved call by call so drift
hits both alike. The baseline is a bare pooled ``requests.Session`` sending the same body with
the same token; the logged side is ``Client.create_session`` (two chained log entries and the
registry row, each in its own BEGIN IMMEDIATE transaction). Prints medians in ms and the ratio.

    .venv/bin/python bench/log_overhead.py [--calls 400]
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

from lib import jsonutil  # noqa: E402
from lib.calllog import CallLog  # noqa: E402
from lib.client import Client  # noqa: E402
from lib.config import Credentials, Environment  # noqa: E402
from lib.db import connect  # noqa: E402
from lib.sandbox.runtime import serve_in_thread  # noqa: E402
from lib.validation import SessionRequest  # noqa: E402


def body(i: int) -> dict:
    return {"transaction": {"order_id": f"bench-{i}", "amount": Decimal("15.02"), "currency": "gbp"},
            "tds": {"is_active": True, "challenge_preference": "no_preference"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = serve_in_thread(Path(tmp) / "sandbox.db")
        try:
            env = Environment("sandbox", f"{server.base_url}/v1", Credentials("sandbox", "sandbox"))
            log = CallLog(Path(tmp) / "ops.db")
            client = Client(env, operator="bench", log=log)
            token = client.login()
            bare = requests.Session()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                       "Accept": "application/json"}
            url = f"{env.api_base}/payment-sessions"
            for i in range(20):  # warm both paths (connections, schema, caches)
                client.create_session(SessionRequest.parse(body(i)))
                bare.post(url, data=jsonutil.dumps(body(i)).encode(), headers=headers, timeout=10).raise_for_status()
            logged_ms, bare_ms = [], []
            for i in range(args.calls):
                request = SessionRequest.parse(body(i))  # pre-check is outside both timings
                started = time.perf_counter()
                client.create_session(request)
                logged_ms.append((time.perf_counter() - started) * 1000)
                data = jsonutil.dumps(request.body).encode()
                started = time.perf_counter()
                bare.post(url, data=data, headers=headers, timeout=10).raise_for_status()
                bare_ms.append((time.perf_counter() - started) * 1000)
            synchronous = connect(log.db_path).execute("PRAGMA synchronous").fetchone()[0]
        finally:
            server.stop()
    logged, baseline = statistics.median(logged_ms), statistics.median(bare_ms)
    print(f"calls each side       : {args.calls}")
    print(f"sqlite synchronous    : {({0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'})[synchronous]} (WAL)")
    print(f"median bare create    : {baseline:.3f} ms")
    print(f"median logged create  : {logged:.3f} ms")
    print(f"log overhead (median) : {logged - baseline:.3f} ms  (ratio {logged / baseline:.2f}x)  target < 2 ms")


if __name__ == "__main__":
    main()
