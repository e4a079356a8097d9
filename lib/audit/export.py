"""The audit view as files an auditor takes away, and the record that they took them.

Both files hold the same log entries: those the view matches and, when a call is read as one row,
its request too, so the request and the response bodies both travel. Every stored column is
there as stored (``detail`` is the body, redacted as it was logged; ``prev_hash`` and ``hash``
tie each entry to the chain):

- ``EVIDENCE``: JSON Lines in ``lib.calllog.evidence``'s selection format, by seq, which a third
  party checks offline (``python -m lib.calllog verify-export FILE``): each entry is exactly what
  was logged; consecutive entries are chained; what lies between them is not proven complete.
- ``CSV``: the same entries newest first for a spreadsheet, plus ``in_flight``; cells a
  spreadsheet would run as formulas are made inert (OWASP "CSV injection"), UTF-8 with a BOM so
  spreadsheets read names and symbols right.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lib.audit.filters import (
    EXPORT_LIMIT,
    FORMULA_LEAD,
    IN_FLIGHT_SQL,
    NEWEST_FIRST,
    AuditFilters,
    to_query_params,
    where,
)
from lib.audit.queries import _conn
from lib.calllog import evidence
from lib.calllog.interface import CallLogStore
from lib.calllog.kinds import EXPORT
from lib.calllog.log import COLUMNS

EVIDENCE, CSV = "evidence", "csv"
# An exported entry: every stored column, then whether it is a request still without a result.
EXPORT_COLUMNS = (*COLUMNS, "in_flight")
_SELECTED = f"SELECT {', '.join('e.' + c for c in COLUMNS)}, {IN_FLIGHT_SQL} FROM entries AS e"


def csv_escape(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a formula-leading cell gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_LEAD) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_escape(str(value))


def export_entries(db_path: str | Path, filters: AuditFilters, limit: int = EXPORT_LIMIT) -> list[tuple[Any, ...]]:
    """The entries of the view's newest ``limit`` rows (a call read as one row brings its request),
    by seq, as ``EXPORT_COLUMNS`` values. The requests come through the partial index of requests."""
    sql, params = where(filters)
    shown = f"SELECT e.seq, e.kind, e.attempt_id FROM entries AS e WHERE {sql} {NEWEST_FIRST} LIMIT ?"
    requests = (f" UNION {_SELECTED} WHERE e.kind = 'api_request' AND e.attempt_id IN "
                "(SELECT attempt_id FROM shown WHERE kind = 'api_result')") if filters.per_call else ""
    rows = _conn(db_path).execute(
        f"WITH shown AS MATERIALIZED ({shown}) {_SELECTED} WHERE e.seq IN (SELECT seq FROM shown){requests} "
        "ORDER BY 1", [*params, limit])
    return [(*values[:-1], bool(values[-1])) for values in rows]


def evidence_file(entries: Sequence[tuple[Any, ...]], checkpoints: Sequence[dict[str, Any]],
                  filters: AuditFilters) -> bytes:
    """``entries`` (from ``export_entries``) as an evidence selection file, UTF-8."""
    out = io.StringIO()
    evidence.write_selection(out, COLUMNS, [e[:-1] for e in entries], checkpoints, to_query_params(filters))
    return out.getvalue().encode("utf-8")


def csv_file(entries: Sequence[tuple[Any, ...]]) -> bytes:
    """``entries`` (from ``export_entries``) as a CSV file, newest first, every cell inert."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows([_cell(v) for v in values] for values in reversed(entries))
    return out.getvalue().encode("utf-8-sig")


def file_and_record(entries: Sequence[tuple[Any, ...]], fmt: str, log: CallLogStore, filters: AuditFilters, *,
                    operator: str, environment: str, tags: tuple[str, ...] = ()) -> bytes:
    """The ``fmt`` file of ``entries``, once its ``export`` entry is in ``log`` (who took what, with
    the filters as URL parameters and the entries written). Taking evidence out of the log is
    itself evidence; if recording fails, no file is handed out."""
    data = evidence_file(entries, log.checkpoints(), filters) if fmt == EVIDENCE else csv_file(entries)
    log.append(EXPORT, operator=operator, environment=environment, tags=tags,
               detail={"filters": to_query_params(filters), "format": fmt, "entries": len(entries)})
    return data
