"""Webhook deliveries accepted per second through the real route (a script, not a test).

    .venv/bin/python bench/webhooks.py                    # 600 deliveries, 8 senders
    .venv/bin/python bench/webhooks.py --deliveries 2000 --senders 16

Starts the fake of the API's payment routes (tests/fake_acquired.py) as the console's sandbox and
``streamlit run app.py`` on free ports (tests/browser_support.py), then POSTs signed status
updates, each for its own transaction, to ``/webhooks/acquired/sandbox``. Each one is verified,
appended to the call log (synchronous=FULL) with its delivery row, confirmed by a logged lookup
(request and result entries, the transaction recorded in the result's transaction) and answered.
Prints deliveries per second and the answer time's median and 99th percentile. Target: ≥ 200/s.

Measured on the shared 2-core machine: 123-149/s, the same with one request at a time as with
eight (≈ 7 ms each in the server), so the bound is the three synchronous=FULL commits every
delivery makes (its own entry before the 200, the lookup's request entry before the GET leaves,
its result): ≈ 1.5 ms of fsync each here. Reaching 200/s needs fewer fsyncs per delivery, e.g. a
group commit in the call log, not changes to the route.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lib.calllog.log import CallLog  # noqa: E402
from tests.browser_support import streamlit_app  # noqa: E402
from tests.fake_acquired import FakeAcquired, FakeServer, delivery, sign  # noqa: E402
from tests.net import free_port  # noqa: E402

TARGET_PER_S = 200.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=600)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    fake = FakeAcquired()
    bodies = []
    for i in range(args.deliveries):
        session_id = str(uuid.uuid4())
        fake.sessions[session_id] = {"transaction": {"order_id": f"ord-bench-{i}", "amount": 10, "currency": "gbp"}}
        txn = fake.pay(session_id)
        bodies.append(delivery(txn.transaction_id, "success", txn.order_id))
    # The fake answers from a process of its own (forked with the transactions above), so the
    # senders here do not compete with it for this process's interpreter lock.
    port = free_port()
    api = multiprocessing.get_context("fork").Process(target=serve, args=(fake, port), daemon=True)
    api.start()
    wait_for(f"http://127.0.0.1:{port}/sandbox/info")
    with tempfile.TemporaryDirectory() as work, \
            streamlit_app(Path(work), extra_env={"SANDBOX_PORT": str(port)}) as server:
        url = f"{server.url}/webhooks/acquired/sandbox"
        local = threading.local()

        def send(body: bytes) -> tuple[int, float]:
            http = getattr(local, "http", None) or requests.Session()
            local.http = http
            started = time.perf_counter()
            answer = http.post(url, data=body, headers={"Hash": sign(body), "Content-Type": "application/json"},
                               timeout=30)
            return answer.status_code, (time.perf_counter() - started) * 1000

        send(delivery("warm-up", "success", "ord-warm"))  # the first delivery builds the service
        started = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:
            results = list(pool.map(send, bodies))
        elapsed = time.perf_counter() - started
        accepted = sum(1 for status, _ in results if status == 200)
        times = sorted(ms for _, ms in results)
        rate = accepted / elapsed
        print(f"{accepted}/{len(results)} deliveries accepted in {elapsed:.2f} s with {args.senders} senders: "
              f"{rate:.0f}/s (target ≥ {TARGET_PER_S:.0f}/s: {'met' if rate >= TARGET_PER_S else 'NOT met'})")
        print(f"answer time: median {statistics.median(times):.1f} ms, p99 {times[int(len(times) * 0.99) - 1]:.1f} ms")
        log = CallLog(Path(work) / "ops.db", checkpoint_key=None)
        print(f"call log: {log.count()} entries, verify: {log.verify().message}")
    api.terminate()
    api.join(10)


def serve(fake: FakeAcquired, port: int) -> None:
    FakeServer(fake, port)
    threading.Event().wait()


def wait_for(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    main()
