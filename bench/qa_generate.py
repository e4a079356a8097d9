"""QA suite generation on the default model: cases, coverage and time, ours beside PICT's.

For pairwise and 3-way, and for both rules of negatives (``smallest``: each negative once;
``pict``: each negative beside every t-1 valid values the constraints allow), it prints the case
count, the valid t-tuples covered by cases without a negative, the negative pairs held, and the
best generation time of ``--runs`` (ours: placing the cases, then checking each against the
contract, which PICT does not do, after the +). A last pair of lines covers the default model
pairwise with a 3-way sub-model over the 3-D Secure fields and the currency. Given the PICT binary (``--pict PATH`` or ``PICT=``), PICT's
own count, coverage (measured by our :func:`lib.qa.generate.coverage_of`) and time on the same
export are printed beside: against the whole export for the ``pict`` rule, against the export
without its negatives for ``smallest`` (PICT has no "each negative once"), beside ours on the
model without its negatives; then our time over PICT's for that like-for-like pair.

    .venv/bin/python bench/qa_generate.py [--pict /tmp/pict-src/build/cli/pict] [--runs 3] [--strengths 2 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pict_check import read_rows, run_pict

from lib.qa.allpairs import positives_only
from lib.qa.defaults import default_model
from lib.qa.generate import CHECKING, coverage_of, generate
from lib.qa.model import Model, SubModel
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.suite import Coverage, Suite

T = TypeVar("T")


SUBMODEL = SubModel(("tds.is_active", "tds.challenge_preference", "tds.challenge_window_size",
                     "transaction.currency"), 3)


def best_of(runs: int, make: Callable[[], T]) -> tuple[T, float]:
    """The result and the best wall time (ms) of ``runs`` calls: the machine is shared, the best is the least noisy."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = make()
        times.append((time.perf_counter() - start) * 1000)
    assert result is not None
    return result, min(times)


def timed(model: Model, **options: Any) -> tuple[Suite, float, float]:
    """One generation: the suite, ms placing its cases, ms checking them against the contract."""
    checking: list[float] = []

    def seen(what: str, done: int, total: int | None) -> None:
        if what == CHECKING and not checking:
            checking.append(time.perf_counter())

    start = time.perf_counter()
    suite = generate(model, progress=seen, **options)
    end = time.perf_counter()
    split = checking[0] if checking else end
    return suite, (split - start) * 1000, (end - split) * 1000


def ours(model: Model, runs: int, **options: Any) -> tuple[Suite, str, tuple[float, float]]:
    """Our suite, its best time of ``runs`` as text and as (ms placing, ms checking)."""
    suite, placing, checking = min((timed(model, **options) for _ in range(runs)), key=lambda r: r[1] + r[2])
    return suite, f"{placing:8.0f} ms + {checking:.0f}", (placing, checking)


def ratio(times: tuple[float, float], pict_ms: float | None) -> str:
    """Ours over PICT's time on the same model, with the contract check and without."""
    if not pict_ms:
        return ""
    placing, checking = times
    return f"  ours / PICT: {(placing + checking) / pict_ms:.1f}x with the check, {placing / pict_ms:.1f}x placing only"


def line(who: str, cases: int, coverage: Coverage, ms: float | str) -> str:
    negatives = (f"{coverage.negative_pairs:,} / {coverage.negative_pairs_possible:,}"
                 if coverage.negative_pairs_possible else "—")
    took = f"{ms:8.0f} ms" if isinstance(ms, float) else ms
    return (f"  {who:<6} {cases:>5} cases  {coverage.covered:>6,} / {coverage.possible:<6,} tuples "
            f"({coverage.percent:5.1f} %)  negative pairs {negatives:<13}  {took}")


def pict_line(pict: str, model: Model, strength: int, rule: NegativeRule, runs: int) -> tuple[str, float | None]:
    """PICT's line, and its best time (None when it failed)."""
    given = model if rule == "pict" else positives_only(model)
    done, ms = best_of(runs, partial(run_pict, pict, given, f"/o:{strength}"))
    if done.returncode != 0:
        return f"  PICT   exit {done.returncode}: {done.stderr.strip()}", None
    rows = read_rows(given, done.stdout)
    return line("PICT", len(rows), coverage_of(model, rows, strength), ms) + (
        "" if rule == "pict" else "  (export without negatives)"), ms


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
            suite, took, times = ours(model, args.runs, strength=strength, negative_rule=rule)
            assert suite.coverage is not None
            print(line("ours", len(suite.cases), suite.coverage, took))
            if rule == "smallest":  # like for like with PICT's export without negatives
                valid, took, times = ours(positives_only(model), args.runs, strength=strength)
                assert valid.coverage is not None
                print(line("ours", len(valid.cases), valid.coverage, took) + "  (without negatives)")
            if args.pict:
                text, pict_ms = pict_line(args.pict, model, strength, rule, args.runs)
                print(text + ratio(times, pict_ms))
    mixed = dataclasses.replace(positives_only(model), submodels=[SUBMODEL])
    print(f"pairwise with {SUBMODEL.pict}, without negatives:")
    suite, took, times = ours(mixed, args.runs)
    assert suite.coverage is not None
    print(line("ours", len(suite.cases), suite.coverage, took))
    if args.pict:
        text, pict_ms = pict_line(args.pict, mixed, 2, "pict", args.runs)
        print(text + ratio(times, pict_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
