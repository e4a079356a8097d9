"""PICT itself reads our exports, and generates only rows our own reading of the constraints allows.

The default model and the every-construct fixture (``tests/fixtures/qa-every-construct.pict``) are
exported with :func:`lib.qa.pict.to_pict` and given to the PICT binary (``pict <file> /c``: letter
case counts, as in our reading). Each export must be accepted (exit code 0), and each row PICT
prints is read back by its fields' types and checked: a value of its field, at most one negative,
every constraint held as :class:`lib.qa.constraints.Judge` judges it. PICT's rows must also cover,
by our :func:`lib.qa.generate.coverage_of`, every pair and every sub-model's higher tuples the
constraints allow (the fixture's sub-model is 3-way): PICT and we agree on what a suite owes. The
random models of the round-trip property (``tests/test_qa_model.py``) go through the first checks.

PICT is not on CI machines (its source is not reachable there); build it from microsoft/pict
(``cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build``) and run

    .venv/bin/python bench/pict_check.py --pict /path/to/build/cli/pict     (or PICT=/path/to/pict)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.qa.constraints import Judge
from lib.qa.defaults import default_model
from lib.qa.generate import coverage_of
from lib.qa.model import Model
from lib.qa.pict import from_pict, to_pict
from lib.qa.spelling import kind_of, read
from lib.qa.suite import coverage_text
from lib.qa.values import Value

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "qa-every-construct.pict"


def read_rows(model: Model, output: str) -> list[dict[str, Value]]:
    """PICT's rows (tab-separated, a header of field names), each value read by its field's type."""
    header, *rows = output.splitlines()
    paths = header.split("\t")
    cases = []
    for row in rows:
        case = {}
        for path, text in zip(paths, row.split("\t"), strict=True):
            negative = text.startswith("~")
            case[path] = Value(read(text[1:] if negative else text, kind_of(path)), negative)
        cases.append(case)
    return cases


def problems_in_rows(model: Model, output: str) -> list[str]:
    """What is wrong with PICT's rows under our reading."""
    judge = Judge(model.constraints, {d.path: d.values for d in model.enabled()})
    found = []
    for number, case in enumerate(read_rows(model, output), start=1):
        row = "\t".join(v.label for v in case.values())
        for path, value in case.items():
            if value not in model.dimension(path).values:
                found.append(f"row {number}: {path} = {value.label} is not a value of the model")
        if sum(v.negative for v in case.values()) > 1:
            found.append(f"row {number}: more than one negative value")
        if not judge.allows(case):
            found.append(f"row {number}: breaks a constraint as we read it: {row!r}")
    return found


def run_pict(pict: str, model: Model, *options: str) -> subprocess.CompletedProcess[str]:
    """``pict <export> /c [options]``."""
    with tempfile.NamedTemporaryFile("w", suffix=".pict", delete=False, encoding="utf-8") as file:
        file.write(to_pict(model))
    try:
        return subprocess.run([pict, file.name, "/c", *options], capture_output=True, text=True, encoding="utf-8",
                              check=False)
    finally:
        os.unlink(file.name)


def check(pict: str, name: str, model: Model) -> bool:
    """Run PICT on the model's export; print its exit code, its messages and what we make of its rows."""
    done = run_pict(pict, model)
    print(f"{name}: `pict <export> /c` exit {done.returncode}")
    for line in done.stderr.splitlines():
        print(f"  pict says: {line}")
    if done.returncode != 0:
        return False
    problems = problems_in_rows(model, done.stdout)
    print(f"  {len(done.stdout.splitlines()) - 1} rows, {len(problems)} problem(s) under our reading")
    for problem in problems:
        print(f"  {problem}")
    if problems:
        return False
    coverage = coverage_of(model, read_rows(model, done.stdout), 2)
    print(f"  our measure of its rows: {coverage_text(coverage)}")
    return coverage.percent == 100.0


def check_random(pict: str, count: int) -> bool:
    """The random models of the round-trip property (every construct, awkward values): each export
    accepted, or refused only as contradictory ("Too restrictive constraints"), and its rows agreeing."""
    from hypothesis import HealthCheck, given, settings

    from tests.test_qa_model import TRICKY, TYPED, models

    failures: list[str] = []
    refused_as_contradictory = 0

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(models(values=TRICKY) | models(values=TRICKY, paths=TYPED))
    def one(model: Model) -> None:
        nonlocal refused_as_contradictory
        done = run_pict(pict, model)
        if done.returncode != 0 and "Too restrictive constraints" in done.stderr:
            refused_as_contradictory += 1
        elif done.returncode != 0:
            failures.append(f"exit {done.returncode}: {done.stderr.strip()}\n{to_pict(model)}")
        else:
            failures.extend(f"{problem}\n{to_pict(model)}" for problem in problems_in_rows(model, done.stdout))

    one()
    print(f"{count} random models: {len(failures)} failure(s), {refused_as_contradictory} refused as contradictory")
    for failure in failures[:5]:
        print(f"  {failure}")
    return not failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pict", default=os.environ.get("PICT", "pict"), help="the PICT binary")
    parser.add_argument("--random", type=int, default=200, help="random models to check too (0: none)")
    args = parser.parse_args()
    base = default_model()
    models = {"default model": base, FIXTURE.name: from_pict(FIXTURE.read_text(encoding="utf-8"), base)}
    results = [check(args.pict, name, model) for name, model in models.items()]
    if args.random:
        results.append(check_random(args.pict, args.random))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
