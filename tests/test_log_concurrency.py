"""Many threads and two other processes append to one log at once: no errors, no fork in the chain,
each append answered with the seq of its own entry (the threads' appends share group commits)."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from lib.calllog import summaries
from lib.calllog.log import CallLog
from lib.storage.db import connect

REPO = Path(__file__).resolve().parent.parent
THREADS, PROCESSES, PAIRS = 8, 2, 50

# A writer process: it opens the log, says "ready", waits for "go" on stdin, then writes its pairs.
CHILD = """
import sys
from lib.calllog import summaries
from lib.calllog.log import CallLog
log, name, pairs = CallLog(sys.argv[1]), sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
for n in range(pairs):
    attempt = f"{name}-{n}"
    log.append("api_request", operator=name, environment="sandbox", attempt_id=attempt, method="POST")
    log.append("api_result", operator=name, environment="sandbox", attempt_id=attempt, http_status=201, outcome="ok")
"""


def test_threads_and_processes_append_pairs_concurrently(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", tmp_path / "checkpoints.jsonl")
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(log.db_path), f"proc{i}", str(PAIRS)], cwd=REPO,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(PROCESSES)
    ]
    for child in children:
        assert child.stdout.readline() == "ready\n", child.stderr.read()

    start = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []
    answered: dict[int, tuple[str, str]] = {}

    def worker(name: str) -> None:
        try:
            start.wait()
            for n in range(PAIRS):
                attempt = f"{name}-{n}"
                seq = log.append("api_request", operator=name, environment="sandbox", attempt_id=attempt, method="POST")
                answered[seq] = (attempt, "api_request")
                seq = log.append("api_result", operator=name, environment="sandbox", attempt_id=attempt, outcome="ok")
                answered[seq] = (attempt, "api_result")
        except BaseException as exc:  # noqa: BLE001 - every failure is reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"thread{i}",)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for child in children:  # release the processes together with the threads
        child.stdin.write("go\n")
        child.stdin.flush()
    start.wait()
    for thread in threads:
        thread.join(timeout=60)
    outputs = [child.communicate(timeout=60) for child in children]

    assert errors == []
    assert [child.returncode for child in children] == [0] * PROCESSES, outputs
    kinds = Counter(
        (row["attempt_id"], row["kind"]) for row in connect(log.db_path).query("SELECT attempt_id, kind FROM entries")
    )
    writers = [f"thread{i}" for i in range(THREADS)] + [f"proc{i}" for i in range(PROCESSES)]
    expected = {(f"{w}-{n}", kind) for w in writers for n in range(PAIRS) for kind in ("api_request", "api_result")}
    assert set(kinds) == expected and set(kinds.values()) == {1}
    assert len(answered) == 2 * PAIRS * THREADS
    assert all((log.entry(seq)["attempt_id"], log.entry(seq)["kind"]) == found for seq, found in answered.items())
    assert log.in_flight() == []
    assert all(n == 0 for n in summaries.check(connect(log.db_path).conn).values())
    assert log.verify().message == f"OK ({2 * PAIRS * (THREADS + PROCESSES)} entries)"


def test_a_writer_of_this_process_waits_its_turn_and_gives_up_at_the_busy_timeout(tmp_path: Path) -> None:
    """Threads of one process queue on their own lock before SQLite's: the wait still ends at the
    busy timeout with "database is locked", as it would between processes."""
    from lib.storage.db import close_thread_connections, immediate

    path = tmp_path / "one.db"
    holding, release = threading.Event(), threading.Event()
    errors: list[str] = []

    def holder() -> None:
        with immediate(connect(path)):
            holding.set()
            release.wait(10)
        close_thread_connections()

    def latecomer() -> None:
        try:
            with immediate(connect(path, busy_timeout_s=0.05)):
                pass
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))
        finally:
            close_thread_connections()

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=latecomer)
    second.start()
    second.join(10)
    release.set()
    first.join(10)
    assert errors == ["database is locked"]
    with immediate(connect(path)):  # free again once the holder committed
        pass
