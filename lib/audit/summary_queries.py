"""The audit page's aggregate questions answered from the log's summaries (``lib.calllog.summaries``)
instead of the entries, so each costs what its time buckets cost, not what the entries in range do.

A time range [lo, hi) is cut into buckets: whole days in the middle, hours up to them, minutes up
to the hours, and at each end the part under a minute (under an hour for latency), which is read
from ``entries`` with the same ``where`` as the raw query (the page's ranges are whole minutes, so
usually nothing). The rows summed are at most ~(2×60 + 2×24 + days) × value combinations.

``per_call`` (a request is shown through its result) is: every counted entry but requests, plus
the requests in ``open_attempts``. Filters on session or order id are not in the summaries: those
views fall back to the raw queries in ``lib.audit.queries`` (their indexes keep them small), and
their latency says its percentiles are exact. A view of calls in flight has no latency: none of
them has finished.
"""
from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from lib.audit.filters import CALL, CALL_KINDS, IN_FLIGHT, AuditFilters, where
from lib.calllog.summaries import (
    COUNT_GRAINS,
    DAY,
    FINISHED,
    LATENCY_GRAINS,
    MINUTE,
    MINUTE_SQL,
    RELATIVE_ACCURACY,
    ZERO_BUCKET,
    bucket_key,
    bucket_value,
)
from lib.common.timefmt import utc_text

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HISTOGRAM = f"within {RELATIVE_ACCURACY:.0%} (histogram)"
EXACT = "exact"
_FINISHED_IN = f"outcome IN ({', '.join(repr(o) for o in FINISHED)})"
_COUNT_COLUMNS = frozenset({"environment", "operator", "endpoint", "method", "outcome", "http_status"})
_LATENCY_COLUMNS = frozenset({"environment", "operator", "endpoint", "method", "outcome", "http_status"})
_FIELDS = ("environment", "operator", "endpoint", "method", "outcome", "http_status", "session_id", "order_id")

Piece = tuple[int, int, int]  # (grain, first minute, end minute) of summary rows


def answerable(filters: AuditFilters, latency: bool = False) -> bool:
    """Whether the summaries hold this view: every filter set is a column of the table asked."""
    columns = _LATENCY_COLUMNS if latency else _COUNT_COLUMNS
    return all(getattr(filters, name) is None or name in columns for name in _FIELDS)


def _moment(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def pieces(first: int, end: int, grains: tuple[int, ...]) -> list[Piece]:
    """[first, end) (minutes on the finest grain) as the fewest buckets of ``grains``, in time order."""
    if first >= end:
        return []
    *finer, grain = grains
    lo, hi = -(-first // grain) * grain, end // grain * grain
    if not finer:
        return [(grain, first, end)]
    if lo >= hi:
        return pieces(first, end, tuple(finer))
    return [*pieces(first, lo, tuple(finer)), (grain, lo, hi), *pieces(hi, end, tuple(finer))]


def _range(conn: sqlite3.Connection, filters: AuditFilters) -> tuple[datetime, datetime] | None:
    """The view's time range; an open end is the first or last day the summaries hold."""
    lo, hi = filters.since, filters.until
    if lo is None or hi is None:
        # Two queries: SQLite answers a lone MIN or MAX from the key, not both at once.
        (first,), (last,) = (conn.execute(f"SELECT {f}(start) FROM call_counts WHERE grain = ?", (DAY,)).fetchone()
                             for f in ("MIN", "MAX"))
        if first is None:
            return None
        lo, hi = lo or _moment(first), hi or _moment(last + DAY)
    return (lo, hi) if lo < hi else None


def _split(lo: datetime, hi: datetime, grains: tuple[int, ...]) -> tuple[list[Piece], list[tuple[datetime, datetime]]]:
    """Summary pieces for the whole finest-grain buckets of [lo, hi), and the raw edges around them."""
    width = timedelta(minutes=grains[0])  # exact integer arithmetic: no float rounding of microseconds
    first = -((EPOCH - lo) // width) * grains[0]
    end = (hi - EPOCH) // width * grains[0]
    if first >= end:
        return [], [(lo, hi)]
    edges = [(a, b) for a, b in ((lo, _moment(first)), (_moment(end), hi)) if a < b]
    return pieces(first, end, grains), edges


def _dims(filters: AuditFilters, finished: bool, table: str) -> tuple[str, list[Any]]:
    """The view's filters as a condition on a summary table (``open`` for open_attempts: requests only)."""
    clauses, params = [], []
    for name in ("environment", "operator", "endpoint", "method", "http_status"):
        if getattr(filters, name) is not None:
            clauses.append(f"{name} = ?")
            params.append(getattr(filters, name))
    if filters.outcome not in (None, IN_FLIGHT):
        clauses.append("outcome = ?")
        params.append(filters.outcome)
    if finished:
        clauses.append(_FINISHED_IN)
    if table != "open":
        kinds = _kinds(filters)
        if kinds:
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if filters.per_call:
            clauses.append("kind <> 'api_request'")
    return " AND ".join(clauses) or "1", params


def _kinds(filters: AuditFilters) -> list[str]:
    return sorted({k for kind in filters.kinds for k in (CALL_KINDS if kind == CALL else (kind,))})


def _with_open(filters: AuditFilters) -> bool:
    """Whether open requests belong to the view (per call, or in flight) and its kinds allow them."""
    return (filters.per_call or filters.outcome == IN_FLIGHT) and (not filters.kinds or "api_request" in _kinds(filters))


@dataclass(frozen=True)
class _Plan:
    """Where each part of a view's time range is read: summary pieces, raw edges of ``entries``,
    and the time ranges whose open requests belong to it."""

    parts: list[Piece]
    edges: list[tuple[datetime, datetime]]
    opened: list[tuple[str, str]]


def _count_table(filters: AuditFilters) -> str:
    """``call_counts`` when the view filters by nothing it lacks (the default view), a few rows a
    bucket; ``entry_counts`` otherwise."""
    wide = (filters.operator, filters.endpoint, filters.method, filters.http_status)
    return "entry_counts" if any(v is not None for v in wide) else "call_counts"


def _plan(conn: sqlite3.Connection, filters: AuditFilters, grains: tuple[int, ...]) -> _Plan:
    bounds = _range(conn, filters)
    if bounds is None:
        return _Plan([], [], [])
    if filters.outcome == IN_FLIGHT:  # only open requests are in flight: no summary row is
        return _Plan([], [], [(utc_text(bounds[0]), utc_text(bounds[1]))] if _with_open(filters) else [])
    parts, edges = _split(*bounds, grains)
    opened = [(utc_text(_moment(parts[0][1])), utc_text(_moment(parts[-1][2])))] if parts else []
    return _Plan(parts, edges, opened if _with_open(filters) else [])


def _sources(conn: sqlite3.Connection, filters: AuditFilters, plan: _Plan, finished: bool,
             summary: tuple[str, str], raw: tuple[str, str], table: str = "entry_counts") -> Iterator[tuple[Any, ...]]:
    """Rows of every part of the plan: ``summary`` = (select list, group by or "") over the summary
    table, ``raw`` = the same over ``entries`` and ``open_attempts`` ({ts} is the time, {t} the
    table's prefix)."""
    condition, params = _dims(filters, finished, table)
    select, group = summary
    for grain, first, end in plan.parts:
        yield from conn.execute(f"SELECT {select} FROM {table} WHERE grain = ? AND start >= ? AND start < ? "
                                f"AND {condition}{f' GROUP BY {group}' if group else ''}", [grain, first, end, *params])
    raw_select, raw_group = raw
    extra = f" AND e.{_FINISHED_IN}" if finished else ""
    for lo, hi in plan.edges:
        sql, where_params = _within(filters, lo, hi)
        yield from conn.execute(f"SELECT {raw_select.format(ts='e.ts', t='e.')} FROM entries AS e WHERE {sql}{extra} "
                                f"GROUP BY {raw_group}", where_params)
    condition, params = _dims(filters, finished, "open")
    for since, until in plan.opened:
        yield from conn.execute(f"SELECT {raw_select.format(ts='ts', t='')} FROM open_attempts WHERE {condition} "
                                f"AND ts >= ? AND ts < ? GROUP BY {raw_group}", [*params, since, until])


def _within(filters: AuditFilters, lo: datetime, hi: datetime) -> tuple[str, list[Any]]:
    """The raw condition of the view over [lo, hi), a part of its range: one time range, so SQLite
    walks the index over that part only (given the view's bounds too, it may pick those)."""
    return where(replace(filters, since=lo, until=hi))


def count(conn: sqlite3.Connection, filters: AuditFilters) -> int:
    """How many rows the view holds (``lib.audit.queries.count``)."""
    plan = _plan(conn, filters, COUNT_GRAINS)
    return sum(n for (n,) in _sources(conn, filters, plan, False, ("SUM(n)", "grain"), ("COUNT(*)", "NULL"),
                                      _count_table(filters)))


def finished_counts(conn: sqlite3.Connection, filters: AuditFilters, width: timedelta,
                    fmt: str) -> list[tuple[str, str, int]]:
    """Finished calls per bucket of ``width`` (whole minutes dividing a day) and outcome, sorted:
    (bucket start as ``fmt`` text, outcome, calls)."""
    w = int(width / timedelta(minutes=1))
    plan = _plan(conn, filters, tuple(g for g in COUNT_GRAINS if g <= w))
    text = f"strftime('{fmt}', {{minute}} / {w} * {w} * 60, 'unixepoch')"  # SQLite formats it: no Python per row
    rows = _sources(conn, filters, plan, True, (f"{text.format(minute='start')} AS b, outcome, SUM(n)", "b, outcome"),
                    (f"{text.format(minute=MINUTE_SQL)} AS b, {{t}}outcome, COUNT(*)", "b, 2"), _count_table(filters))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for bucket, outcome, n in rows:
        totals[bucket, outcome] += n
    return [(bucket, outcome, n) for (bucket, outcome), n in sorted(totals.items())]


def _edge_minute(conn: sqlite3.Connection, table: str, parts: list[Piece], condition: str, params: list[Any],
                 last: bool) -> int | None:
    """The first (last) minute of ``parts`` with a summary row matching: the first matching
    bucket of the coarsest grain, then the same within it one grain finer."""
    for grain, first, end in reversed(parts) if last else parts:
        row = conn.execute(f"SELECT start FROM {table} WHERE grain = ? AND start >= ? AND start < ? AND {condition} "
                           f"ORDER BY start {'DESC' if last else ''} LIMIT 1", [grain, first, end, *params]).fetchone()
        if row is not None:
            if grain == MINUTE:
                return int(row[0])
            finer = tuple(g for g in COUNT_GRAINS if g < grain)
            return _edge_minute(conn, table, pieces(row[0], row[0] + grain, finer), condition, params, last)
    return None


def first_last(conn: sqlite3.Connection, filters: AuditFilters) -> tuple[str | None, str | None]:
    """The ts of the first and the last finished call in the view (the chart's span): the edges
    and open requests directly, the summaries by their first and last matching minute, read
    exactly from that minute's entries."""
    plan = _plan(conn, filters, COUNT_GRAINS)
    times = [t for row in _sources(conn, filters, _Plan([], plan.edges, plan.opened), True, ("", ""),
                                   ("MIN({ts}), MAX({ts})", "NULL")) for t in row if t is not None]
    table = _count_table(filters)
    condition, params = _dims(filters, True, table)
    for last in (False, True):
        minute = _edge_minute(conn, table, plan.parts, condition, params, last)
        if minute is not None:
            sql, where_params = _within(filters, _moment(minute), _moment(minute + MINUTE))
            (found,) = conn.execute(f"SELECT {'MAX' if last else 'MIN'}(e.ts) FROM entries AS e "
                                    f"WHERE {sql} AND e.{_FINISHED_IN}", where_params).fetchone()
            times.append(found)
    return (min(times), max(times)) if times else (None, None)


def latency(conn: sqlite3.Connection, filters: AuditFilters) -> list[tuple[str | None, int, float, float]]:
    """(endpoint, calls, p50, p95) per endpoint from the latency histogram (``answerable(filters,
    latency=True)`` first): nearest rank on the merged buckets, each within 1 % of the exact value."""
    plan = _plan(conn, filters, LATENCY_GRAINS)
    rows: dict[str | None, list[tuple[int, int, bytes]]] = defaultdict(list)
    for endpoint, low, zeros, counts in _sources(conn, filters, _Plan(plan.parts, [], []), True,
                                                 ("endpoint, low, zeros, counts", ""), ("", ""),
                                                 "operator_latency" if filters.operator else "latency_histograms"):
        rows[endpoint or None].append((low, zeros, counts))
    histograms = {endpoint: _merged(found) for endpoint, found in rows.items()}
    raw = _sources(conn, filters, _Plan([], plan.edges, plan.opened), True, ("", ""),
                   ("{t}endpoint, {t}duration_ms, COUNT(*)", "1, 2 HAVING duration_ms IS NOT NULL"))
    for endpoint, duration, n in raw:
        histogram = histograms.setdefault(endpoint or None, {})
        histogram[bucket_key(duration)] = histogram.get(bucket_key(duration), 0) + n
    return [(endpoint, sum(h.values()), nearest_rank(h, 0.50), nearest_rank(h, 0.95))
            for endpoint, h in sorted(histograms.items(), key=lambda item: (item[0] is not None, item[0] or ""))]


def _merged(rows: list[tuple[int, int, bytes]]) -> dict[int, int]:
    """Histogram rows (low, zeros, counts) added up into one {bucket: calls}."""
    arrays = [(low, np.frombuffer(counts, dtype=np.int64)) for low, _, counts in rows if counts]
    merged: dict[int, int] = {}
    if arrays:
        first = min(low for low, _ in arrays)
        total = np.zeros(max(low + len(a) for low, a in arrays) - first, dtype=np.int64)
        for low, a in arrays:
            total[low - first:low - first + len(a)] += a
        (used,) = np.nonzero(total)
        merged = dict(zip((used + first).tolist(), total[used].tolist(), strict=True))
    zeros = sum(z for _, z, _ in rows)
    if zeros:
        merged[ZERO_BUCKET] = zeros
    return merged


def nearest_rank(histogram: dict[int, int], p: float) -> float:
    """The representative of the bucket holding the smallest value of rank >= p·n (as the raw
    query ranks: the same float product)."""
    rank = max(1, math.ceil(p * sum(histogram.values())))
    seen = 0
    for key in sorted(histogram):
        seen += histogram[key]
        if seen >= rank:
            return bucket_value(key)
    raise ValueError("empty histogram")
