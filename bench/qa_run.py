"""QA runner throughput: a 500-case suite against the local sandbox at concurrency 8, then 1.

At each concurrency a plain ``requests`` loop sends the same cases to the same sandbox (the same
number of threads, one pooled session, the same token, nothing logged or saved): the floor the
runner is measured against. The two alternate ``--rounds`` times (the machine's load drifts
within seconds) and the medians are printed, with their ratio.

The suite is the default model's pairwise suite (``lib.qa.generate.generate``, strength 2) for
seeds 1, 2, 3, ... concatenated and cut at 500 cases: one pairwise suite of the default model is
~118 cases (88 without a negative), and successive seeds give distinct cases to send. Order ids carry
the seed, so every case is a distinct session.

The sandbox runs in a separate process by default, so the runner's event loop does not share
the GIL with it (``--in-process`` compares). That process is this script again, serving with
``lib.sandbox.serve_in_thread``: it binds its socket as TCP so responses go out with TCP_NODELAY.
(``python -m lib.sandbox`` lets uvicorn bind, without that option: each response then waits
~40 ms for the client's delayed ACK and the runner manages ~55 cases/s at any concurrency.)

    .venv/bin/python bench/qa_run.py [--cases 500] [--rounds 3] [--in-process]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from lib.access.signin import AccessPolicy
from lib.common import jsonutil
from lib.qa import runner
from lib.qa.allpairs import allpairspy_suite, positives_only
from lib.qa.defaults import default_model
from lib.qa.generate import coverage_of, generate
from lib.qa.model import Model
from lib.qa.results import RunReader
from lib.qa.store import RunStore
from lib.qa.suite import Case, Suite
from lib.sandbox.runtime import serve_in_thread
from lib.sessions.service import SessionsService

TARGET_AT_8 = 150.0


def pairwise_cases(model: Model, count: int) -> tuple[Suite, int, int, float]:
    """``count`` cases from pairwise suites of successive seeds, re-indexed; also one suite's size,
    the seeds used and the slowest suite's generation time in seconds."""
    cases: list[Case] = []
    seed, first, slowest = 0, 0, 0.0
    while len(cases) < count:
        seed += 1
        started = time.perf_counter()
        suite = generate(model, strength=2, seed=seed)
        slowest = max(slowest, time.perf_counter() - started)
        first = first or len(suite.cases)
        cases.extend(suite.cases)
    cases = [dataclasses.replace(case, index=i) for i, case in enumerate(cases[:count])]
    return Suite(cases, None, 2, 1), first, seed, slowest


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox(tmp: Path, in_process: bool) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of the sandbox: in this process, or in a child that lives until its stdin closes."""
    if in_process:
        server = serve_in_thread(tmp / "sandbox.db")
        try:
            yield server.base_url, os.getpid()
        finally:
            server.stop()
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve-sandbox", str(tmp / "sandbox.db")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip(), child.pid
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(15)


def serve_sandbox(db_path: str) -> None:
    """Child mode: serve on a free port, print the base URL, stop when the parent closes stdin."""
    server = serve_in_thread(db_path)
    print(server.base_url, flush=True)
    sys.stdin.read()
    server.stop()


def timed_run(console: SessionsService, suite: Suite, concurrency: int, model_json: str,
              sandbox_pid: int) -> tuple[float, float, float, str]:
    """Cases per second from start to the run's end (as a person waiting on it sees it), and the CPU
    ms per case of this process and of the sandbox's: steadier than the rate on a shared machine,
    and each process's ceiling (1000 / ms) when it has a core to itself (one GIL each)."""
    started, cpu, sandbox_cpu = time.perf_counter(), time.process_time(), cpu_seconds(sandbox_pid)
    run_id = runner.start_run(console, env_name="sandbox", who=AccessPolicy(auth=False).identity(None, operator_fallback="bench"), suite=suite,
                              concurrency=concurrency, model_json=model_json)
    runner.wait(run_id)
    cases = len(suite.cases)
    return (cases / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / cases,
            (cpu_seconds(sandbox_pid) - sandbox_cpu) * 1000 / cases, run_id)


def plain_loop(console: SessionsService, suite: Suite, concurrency: int) -> tuple[float, float]:
    """Cases per second, and CPU ms per case of this process, of bare POSTs of the suite's payloads over ``concurrency`` threads sharing
    one pooled ``requests`` session: what the runner would do with no log, no registry, no run store."""
    client = console.client("sandbox", "bench")
    token = client.login()
    url = f"{client.env.api_base}/payment-sessions"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    http = requests.Session()
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
    cases, lock = iter(suite.cases), threading.Lock()

    def work() -> None:
        while True:
            with lock:
                case = next(cases, None)
            if case is None:
                return
            http.post(url, data=jsonutil.dumps(case.payload).encode(), headers=headers, timeout=10)

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cases = len(suite.cases)
    return cases / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="plain loop and runner alternate this many times")
    parser.add_argument("--in-process", action="store_true", help="run the sandbox in this process")
    parser.add_argument("--serve-sandbox", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox)
        return
    model = default_model()
    started = time.perf_counter()
    suite, one_suite, seeds, slowest_s = pairwise_cases(model, args.cases)
    generated_s = time.perf_counter() - started
    valid = positives_only(model)
    ours_valid, theirs = generate(valid, seed=0), allpairspy_suite(valid)
    theirs_default = allpairspy_suite(model)
    print(f"default model, pairwise : {one_suite} cases per suite, negatives included, at most {slowest_s:.2f} s "
          f"each; allpairspy {len(theirs_default)} cases at {coverage_of(model, theirs_default, 2).percent:.1f} % coverage")
    print(f"valid values only       : ours {len(ours_valid.cases)} vs allpairspy {len(theirs)} "
          f"({coverage_of(valid, theirs, 2).percent:.1f} % coverage)")
    free = dataclasses.replace(valid, constraints=[])  # where allpairspy reaches 100 %: like for like
    ours_free, theirs_free = generate(free, seed=0), allpairspy_suite(free)
    print(f"… and no constraints    : ours {len(ours_free.cases)} vs allpairspy {len(theirs_free)} "
          f"({coverage_of(free, theirs_free, 2).percent:.1f} % coverage)")
    print(f"bench suite             : {len(suite.cases)} cases = pairwise suites of seeds 1-{seeds} "
          f"(generated in {generated_s:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp, sandbox(Path(tmp), args.in_process) as (base_url, pid):
        print(f"sandbox                 : {'in this process' if args.in_process else 'separate process'} at {base_url}")
        console = SessionsService(base_url, db_path=Path(tmp) / "ops.db")
        warm = Suite(suite.cases[:40], None, 2, 1)
        timed_run(console, warm, 8, model.to_json(), pid)  # token, connections, schema
        plain_loop(console, warm, 8)
        runs = RunReader(RunStore(console.db_path))
        rates = {}
        for concurrency in (8, 1):
            plain, ours = [], []
            for _ in range(args.rounds):
                plain.append(plain_loop(console, suite, concurrency))
                ours.append(timed_run(console, suite, concurrency, model.to_json(), pid))
            plain_rate, plain_ms = statistics.median(r for r, _ in plain), statistics.median(ms for _, ms in plain)
            rate, cpu_ms, sandbox_ms = (statistics.median(run[i] for run in ours) for i in range(3))
            progress = runs.progress(ours[-1][3])
            rates[concurrency] = rate
            print(f"plain loop at {concurrency:<2}        : {plain_rate:6.1f} cases/s  CPU ms/case: {plain_ms:.2f}  "
                  f"(requests only, same cases; median of {args.rounds})")
            cpu = f"CPU ms/case: runner {cpu_ms:.2f}" + ("" if args.in_process else f", sandbox {sandbox_ms:.2f}")
            print(f"concurrency {concurrency:<2}          : {rate:6.1f} cases/s  {cpu}  "
                  f"({progress.status}, {progress.done} done, {progress.surprises} surprises; median of {args.rounds})")
            print(f"runner / plain at {concurrency:<2}    : {rate / plain_rate:.2f}x  "
                  f"(rounds: {', '.join(f'{o[0] / p[0]:.2f}' for p, o in zip(plain, ours, strict=True))})")
            # what bounds the runner: one process, one GIL; and the CPU both processes need per case
            print(f"runner process at {concurrency:<2}    : {rate * cpu_ms / 1000:.2f} of one core busy (its ceiling: "
                  f"{1000 / cpu_ms:.0f} cases/s); CPU per case with the sandbox's: runner {cpu_ms + sandbox_ms:.2f} ms, "
                  f"plain loop {plain_ms + sandbox_ms:.2f} ms ({(plain_ms + sandbox_ms) / (cpu_ms + sandbox_ms):.2f}x)")
    verdict = "met" if rates[8] >= TARGET_AT_8 else "MISSED"
    print(f"target at 8             : >= {TARGET_AT_8:.0f} cases/s: {verdict} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
