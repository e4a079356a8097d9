"""The log across threads and processes, and an attempt cut short by SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from lib.api.client import Client
from lib.calllog.log import CallLog
from lib.sandbox import SandboxServer
from lib.sessions.registry import Registry
from tests.sandbox_support import RECORDER, order, sandbox_env

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import sys
    from decimal import Decimal
    from lib.calllog.log import CallLog
    from lib.api.client import Client
    from lib.sessions.recorder import RegistryRecorder
    from lib.settings import Credentials, Environment
    RECORDER = RegistryRecorder()
    base, db, count, fault = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    env = Environment("sandbox", base + "/v1", Credentials("sandbox", "sandbox"), session_ttl_seconds=600)
    Client(env, operator="proc", log=CallLog(db), recorder=RECORDER).login()  # the fault is for the create, not the login
    client = Client(env, operator="proc", log=CallLog(db), recorder=RECORDER, headers={"X-Sandbox-Fault": fault} if fault else {})
    for i in range(count):
        client.create_session({"transaction": {"order_id": f"proc-{i}", "amount": Decimal("1.00"), "currency": "gbp"}})
    print("done", flush=True)
""")


def child(base_url: str, db: Path, count: int, fault: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, base_url, str(db), str(count), fault], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_process_leaves_its_attempt_visible_in_flight(tmp_path: Path, sandbox: SandboxServer) -> None:
    db = tmp_path / "ops.db"
    Client(sandbox_env(sandbox.base_url), operator="warm", log=CallLog(db), recorder=RECORDER).login()  # the schema exists
    proc = child(sandbox.base_url, db, 1, fault="latency=20000")
    log = CallLog(db)
    deadline = time.monotonic() + 20
    while not any(e["endpoint"] == "/v1/payment-sessions" for e in log.in_flight()):
        assert time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "no request entry"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    stuck = [e for e in log.in_flight() if e["endpoint"] == "/v1/payment-sessions"]
    assert len(stuck) == 1 and stuck[0]["operator"] == "proc" and stuck[0]["order_id"] == "proc-0"
    assert log.verify().ok


def test_eight_threads_and_two_processes_lose_nothing(tmp_path: Path, sandbox: SandboxServer) -> None:
    db = tmp_path / "ops.db"
    log = CallLog(db)
    client = Client(sandbox_env(sandbox.base_url), operator="thread", log=log, recorder=RECORDER)
    client.login()
    procs = [child(sandbox.base_url, db, 50) for _ in range(2)]

    def work(n: int) -> int:
        for i in range(50):
            client.create_session(order(f"t{n}-{i}"))
        return n

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(8))) == list(range(8))
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    entries = [log.entry(seq) for seq in range(1, log.count() + 1)]
    kinds = Counter((e["attempt_id"], e["kind"]) for e in entries)
    attempts = {attempt for attempt, _ in kinds}
    assert all(kinds[(a, "api_request")] == 1 and kinds[(a, "api_result")] == 1 for a in attempts)
    creates = [e for e in entries if e["kind"] == "api_result" and e["endpoint"] == "/v1/payment-sessions"]
    assert len(creates) == 8 * 50 + 2 * 50 and all(e["outcome"] == "ok" for e in creates)
    assert len(Registry(db).active("sandbox", datetime.now(UTC))) == 8 * 50 + 2 * 50
    assert log.verify().ok
