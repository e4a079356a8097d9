"""Does the QA page still answer while a big suite is generated in the background (a thread, sharing the GIL)?

Opens the QA explorer under AppTest (same process, so the page's script and the generation share
the GIL as under ``streamlit run``), times page reruns before the job, then while a full product
of ``--a`` × ``--b`` cases (default 330 × 300 = 99,000) is generated, then asks Cancel and times
how long the job takes to stop. Figures are printed, never asserted.

    .venv/bin/python bench/qa_generation.py [--a 330 --b 300] [--reruns 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402 - after the path

JOB = "qa_generation_job"


def timed_run(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=int, default=330)
    parser.add_argument("--b", type=int, default=300)
    parser.add_argument("--reruns", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-generation-bench-"))
    os.environ.update(OPS_DB_PATH=str(tmp / "ops.db"), OPS_SECRETS_PATH=str(tmp / "secrets.toml"),
                      OPS_OPERATOR="bench@example.com", SANDBOX_DB_PATH=str(tmp / "sandbox.db"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/qa_explorer.py")
    at.run()
    values = lambda prefix, n: ", ".join(f"{prefix}{i}" for i in range(n))  # noqa: E731
    at.text_area(key="qa_pict_text").input(f"transaction.custom1: {values('a', args.a)}\n"
                                           f"transaction.custom2: {values('b', args.b)}\n")
    next(b for b in at.button if b.label.startswith("Apply PICT")).click().run()
    at.radio(key="qa_strength").set_value("full product").run()
    at.multiselect(key="qa_full_dims").set_value(["transaction.custom1", "transaction.custom2"]).run()
    if at.checkbox:
        at.checkbox(key="qa_confirm").check().run()
    idle = [timed_run(at) for _ in range(args.reruns)]
    print(f"page rerun, no job: median {statistics.median(idle) * 1000:.0f} ms, max {max(idle) * 1000:.0f} ms")

    started = time.perf_counter()
    next(b for b in at.button if b.label.startswith("Generate")).click().run()
    job = at.session_state[JOB]
    busy = []
    for _ in range(args.reruns):
        if job.done:
            break
        busy.append(timed_run(at))
        print(f"  rerun {busy[-1] * 1000:5.0f} ms while the job is at: {job.progress.text}")
    print(f"page rerun, job running: median {statistics.median(busy) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms"
          if busy else "the job ended before the first rerun")
    asked = time.perf_counter()
    job.cancel()
    job.wait()
    print(f"cancel asked {asked - started:.1f} s after the start, during «{job.progress.what}»: "
          f"stopped in {(time.perf_counter() - asked) * 1000:.0f} ms, state {job.state}")


if __name__ == "__main__":
    main()
