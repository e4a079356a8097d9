"""A saved run as a file to download: CSV for a spreadsheet, JSON for everything.

Both are masked like the page for people who see customer data masked (qa), and every CSV cell
is escaped against spreadsheet formulas, since a value label may start with ``=`` or ``-``.
"""
from __future__ import annotations

import csv
import dataclasses
import io

from lib.audit.export import csv_escape
from lib.common import jsonutil
from lib.qa.interface import RunRecords

_CSV_COLUMNS = ("index", "result", "surprise", "expected", "http_status", "session_id", "paths", "reasons",
                "latency_ms", "negative_path", "attempt_id")


def export_json(runs: RunRecords, run_id: str, *, mask: bool = False) -> bytes:
    """The run (model included), its summary and every case, as UTF-8 JSON; ``mask`` hides the
    personal fields of what was sent (qa sees customer data masked, exports included)."""
    run = runs.record(run_id)
    if run is None:
        raise KeyError(f"no QA run {run_id!r}")
    document = {"run": run, "summary": dataclasses.asdict(runs.summary(run_id)),
                "cases": [case.masked(mask).document() for case in runs.cases(run_id)]}
    return jsonutil.dumps(document, pretty=True).encode("utf-8")


def export_csv(runs: RunRecords, run_id: str, *, mask: bool = False) -> bytes:
    """One row per case with a column per dimension; ``mask`` hides personal values as
    :func:`export_json` does."""
    dimensions = runs.dimensions(run_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_escape(h) for h in (*_CSV_COLUMNS, *dimensions)])
    for case in runs.cases(run_id):
        case = case.masked(mask)
        cells = (case.index, case.result, "yes" if case.surprise else "no", case.expected, case.http_status,
                 case.session_id, ", ".join(case.paths), case.reasons, case.latency_ms, case.negative_path,
                 case.attempt_id, *(case.labels.get(d) for d in dimensions))
        writer.writerow([csv_escape("" if c is None else str(c)) for c in cells])
    return out.getvalue().encode("utf-8")
