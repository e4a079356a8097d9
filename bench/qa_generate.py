"""QA suite generation on the default model: cases, coverage and time, ours beside PICT's.

For pairwise and 3-way, and for both rules of negatives (``smallest``: each negative once;
``pict``: each negative beside every t-1 valid values the constraints allow), it prints the case
count, the valid t-tuples covered by cases without a negative, the negative pairs held, and the
best generation time of ``--runs``. Given the PICT binary (``--pict PATH`` or ``PICT=``), PICT's
own count, coverage (measured by our :func:`lib.qa.generate.coverage_of`) and time on the same
export are printed beside: against the whole export for the ``pict`` rule, against the export
without its negatives for ``smallest`` (PICT has no "each negative once"), beside ours on the
model without its negatives.

    .venv/bin/python bench/qa_generate.py [--pict /tmp/pict-src/build/cli/pict] [--runs 3] [--strengths 2 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pict_check import read_rows, run_pict

from lib.qa.allpairs import positives_only
from lib.qa.defaults import default_model
from lib.qa.generate import coverage_of, generate
from lib.qa.model import Model
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.suite import Coverage

T = TypeVar("T")


def best_of(runs: int, make: Callable[[], T]) -> tuple[T, float]:
    """The result and the best wall time (ms) of ``runs`` calls: the machine is shared, the best is the least noisy."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = make()
        times.append((time.perf_counter() - start) * 1000)
    assert result is not None
    return result, min(times)


def line(who: str, cases: int, coverage: Coverage, ms: float) -> str:
    negatives = (f"{coverage.negative_pairs:,} / {coverage.negative_pairs_possible:,}"
                 if coverage.negative_pairs_possible else "—")
    return (f"  {who:<6} {cases:>5} cases  {coverage.covered:>6,} / {coverage.possible:<6,} tuples "
            f"({coverage.percent:5.1f} %)  negative pairs {negatives:<13}  {ms:8.0f} ms")


def pict_line(pict: str, model: Model, strength: int, rule: NegativeRule, runs: int) -> str:
    given = model if rule == "pict" else positives_only(model)
    done, ms = best_of(runs, partial(run_pict, pict, given, f"/o:{strength}"))
    if done.returncode != 0:
        return f"  PICT   exit {done.returncode}: {done.stderr.strip()}"
    rows = read_rows(given, done.stdout)
    return line("PICT", len(rows), coverage_of(model, rows, strength), ms) + (
        "" if rule == "pict" else "  (export without negatives)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pict", default=os.environ.get("PICT"), help="the PICT binary, to compare with")
    parser.add_argument("--runs", type=int, default=3, help="generations timed per line (the best is shown)")
    parser.add_argument("--strengths", type=int, nargs="+", default=[2, 3])
    args = parser.parse_args()
    model = default_model()
    print(f"default model: {len(model.enabled())} fields enabled, "
          f"{sum(len(d.negatives) for d in model.enabled())} negatives, {len(model.constraints)} constraints")
    for strength in args.strengths:
        for rule in NEGATIVE_RULES:
            print(f"{strength}-way, negatives {rule}:")
            suite, ms = best_of(args.runs, partial(generate, model, strength=strength, negative_rule=rule))
            assert suite.coverage is not None
            print(line("ours", len(suite.cases), suite.coverage, ms))
            if rule == "smallest":  # like for like with PICT's export without negatives
                valid, ms = best_of(args.runs, partial(generate, positives_only(model), strength=strength))
                assert valid.coverage is not None
                print(line("ours", len(valid.cases), valid.coverage, ms) + "  (without negatives)")
            if args.pict:
                print(pict_line(args.pict, model, strength, rule, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
