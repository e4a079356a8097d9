"""The audit view as a CSV file an auditor takes away, and the record that they took it.

Cells a spreadsheet would run as formulas are made inert (OWASP "CSV injection"), and the file
is UTF-8 with a BOM so spreadsheets read names and symbols right.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lib.audit.filters import (
    EXPORT_COLUMNS,
    EXPORT_LIMIT,
    FORMULA_LEAD,
    IN_FLIGHT_SQL,
    NEWEST_FIRST,
    ROW_COLUMNS,
    AuditFilters,
    to_query_params,
    where,
)
from lib.audit.queries import _conn
from lib.calllog.interface import CallLogStore
from lib.calllog.kinds import EXPORT
from lib.calllog.log import CallLog


def csv_escape(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a formula-leading cell gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_LEAD) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_escape(str(value))


def export_rows(db_path: str | Path, filters: AuditFilters, limit: int = EXPORT_LIMIT) -> Iterator[list[str]]:
    """The view as escaped text cells, header first, newest first, at most ``limit`` entries,
    streamed from a cursor. ``detail`` is left out (``entry`` has it); ``hash`` ties each row to
    the chain so an exported row can be checked against the log."""
    sql, params = where(filters)
    cursor = _conn(db_path).execute(
        f"SELECT {', '.join('e.' + c for c in ROW_COLUMNS)}, {IN_FLIGHT_SQL}, e.hash FROM entries AS e "
        f"WHERE {sql} {NEWEST_FIRST} LIMIT ?",
        [*params, limit],
    )
    yield [csv_escape(c) for c in EXPORT_COLUMNS]
    for values in cursor:
        yield [_cell(bool(v) if name == "in_flight" else v) for name, v in zip(EXPORT_COLUMNS, values, strict=True)]


def export_and_record(
    db_path: str | Path, filters: AuditFilters, *, operator: str, environment: str,
    tags: tuple[str, ...] = (), limit: int = EXPORT_LIMIT,
) -> bytes:
    """The CSV export of the view, recorded in the log as an ``export`` entry (who took what,
    with the filters as URL parameters and the rows actually written). Taking evidence out of the
    log is itself evidence; if recording fails, no file is handed out."""
    return csv_and_record(export_rows(db_path, filters, limit), CallLog(db_path), filters, operator=operator,
                          environment=environment, tags=tags)


def csv_and_record(rows: Iterable[list[str]], log: CallLogStore, filters: AuditFilters, *, operator: str,
                   environment: str, tags: tuple[str, ...] = ()) -> bytes:
    """``rows`` (header first) as the CSV file, once its ``export`` entry is in ``log``."""
    out = io.StringIO()
    writer = csv.writer(out)
    lines = iter(rows)
    writer.writerow(next(lines))  # the header, which is not a row
    written = 0
    for cells in lines:
        writer.writerow(cells)
        written += 1
    log.append(EXPORT, operator=operator, environment=environment, tags=tags,
               detail={"filters": to_query_params(filters), "rows": written})
    return out.getvalue().encode("utf-8-sig")


