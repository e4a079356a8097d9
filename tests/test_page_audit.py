"""AppTest of the Audit log page: one row per call, the kind filter (URL and widgets), reset,
the opened entry, bad URLs, the integrity panel (progress and verdict), and the exports (whose
download callables AppTest never runs: they are called directly, and their files verified as a
third party would).
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.access.policy import AccessDenied, Identity
from lib.audit.export import EXPORT_COLUMNS
from lib.audit.service import ALL_TIME, CSV, CUSTOM, EVIDENCE, AuditFilters, AuditService
from lib.audit.view import DEFAULT_KINDS
from lib.calllog import cli
from lib.calllog.log import CallLog
from lib.calllog.outcome import Outcome
from lib.common import timefmt
from tests.page_support import seen

PAGE = "pages/audit_log.py"
# The page logs this browser session's start and each opening of a view (issue 6): the default kinds
# leave both out, the raw log holds them (OPENED entries once the page is open).
OPENED = 2
SESSIONS = "/v1/payment-sessions"
CALL_TOOK = timedelta(seconds=7)  # between a seeded call's request and its result


def seed(db: Path, calls: list[tuple[str, str]]) -> list[int]:
    """One create call (request, then its result 7 s later) per (operator, order id), made in the
    last hour; returns the request seqs."""
    started = datetime.now(UTC) - timedelta(hours=1)
    clock = iter([started + n // 2 * timedelta(minutes=1) + n % 2 * CALL_TOOK for n in range(2 * len(calls))])
    log = CallLog(db, clock=lambda: next(clock))
    seqs = []
    for n, (operator, order_id) in enumerate(calls):
        common = dict(operator=operator, environment="sandbox", attempt_id=f"attempt-{n}", method="POST",
                      endpoint=SESSIONS, path=SESSIONS, order_id=order_id, amount="15.02", currency="gbp")
        seqs.append(log.append("api_request", **common, detail={
            "url": "http://127.0.0.1/v1" + SESSIONS,
            "headers": {"Authorization": "Bearer sekrit-token", "Accept": "application/json"},
            "body": {"transaction": {"order_id": order_id, "amount": 15.02, "currency": "gbp"}}}))
        log.append("api_result", **common, session_id=f"session-{n}", http_status=201, outcome="ok",
                   duration_ms=100.0 + n, detail={"body": {"session_id": f"session-{n}"}})
    return seqs


@pytest.fixture
def seeded(app_env: Path) -> list[int]:
    return seed(app_env / "ops.db", [("ann", "ORD-1"), ("bob", "ORD-2"), ("ann", "ORD-3")])


def summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " match**" in m.value)


def codes(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def grid(at: AppTest):  # type: ignore[no-untyped-def]
    return at.dataframe[0].value


def hidden_note(at: AppTest) -> str | None:
    return next((seen(c.value) for c in at.caption if c.value.startswith("Not shown (kind filter)")), None)


# --- one row per call -----------------------------------------------------------------------------


def test_default_view_is_one_row_per_call_timed_by_its_request_with_its_results_status(open_page, app_env,
                                                                                       seeded) -> None:
    at = open_page(PAGE)
    assert summary(at) == "**3 rows match** · page 1 of 1"
    rows = grid(at)
    assert list(rows.columns) == ["time", "kind", "environment", "method", "endpoint", "HTTP status", "outcome",
                                  "order id", "amount", "operator", "duration ms"]
    assert list(rows["kind"]) == ["call"] * 3 and list(rows["order id"]) == ["ORD-3", "ORD-2", "ORD-1"]
    log = CallLog(app_env / "ops.db")
    request, result = log.entry(seeded[2]), log.entry(seeded[2] + 1)
    newest = rows.iloc[0]
    assert newest["time"] == timefmt.local(datetime.fromisoformat(request["ts"]), timefmt.zone(None), zone=False)
    assert newest["time"] != timefmt.local(datetime.fromisoformat(result["ts"]), timefmt.zone(None), zone=False)
    assert (newest["operator"], newest["amount"], newest["HTTP status"], newest["outcome"], newest["duration ms"]) == (
        "ann", "15.02 GBP", 201, Outcome.OK.label, 102.0)
    # The noise is left out, and the page says so; the URL carries the kinds.
    assert hidden_note(at) == ("Not shown (kind filter): Console tab opened, Audit log viewed, Console visit (older "
                               "entries). Add them under Kind, "
                               "or clear it for every kind.")
    assert at.query_params["kind"] == ",".join(sorted(DEFAULT_KINDS))
    assert at.query_params["range"] == "24h" and "since" in at.query_params and "rows" not in at.query_params


def test_the_raw_view_shows_every_entry_with_its_own_time_and_kind(open_page, seeded) -> None:
    at = open_page(PAGE)
    at.toggle(key="audit_per_call").set_value(False).run()
    assert summary(at).startswith("**6 entries match**") and at.query_params["rows"] == "entries"
    assert list(grid(at)["kind"]) == ["api_result", "api_request"] * 3
    request = grid(at).iloc[1]
    assert pd.isna(request["HTTP status"]) and request["outcome"] == ""  # a request has no result of its own


def test_a_call_still_in_flight_is_one_row_saying_so(open_page, app_env, seeded) -> None:
    CallLog(app_env / "ops.db").append("api_request", operator="cat", environment="sandbox", attempt_id="lost",
                                       method="POST", endpoint=SESSIONS, path=SESSIONS, detail={})
    at = open_page(PAGE)
    assert summary(at).startswith("**4 rows match**")
    assert (grid(at).iloc[0]["kind"], grid(at).iloc[0]["outcome"]) == ("call", Outcome.IN_FLIGHT.label)
    at = open_page(PAGE, outcome="in_flight")
    assert summary(at).startswith("**1 rows match**")
    assert list(grid(at)["outcome"]) == [Outcome.IN_FLIGHT.label]


# --- kinds ----------------------------------------------------------------------------------------


def test_several_kinds_from_the_url(open_page, seeded) -> None:
    at = open_page(PAGE, kind="tab_start,api_call")
    assert at.multiselect(key="audit_kinds").value == ["api_call", "tab_start"]
    assert sorted(grid(at)["kind"]) == ["call", "call", "call", "tab_start"]
    assert "Audit log viewed" in hidden_note(at) and "Console tab opened" not in hidden_note(at)
    at = open_page(PAGE, kind="all")
    assert at.multiselect(key="audit_kinds").value == [] and hidden_note(at) is None
    assert set(grid(at)["kind"]) == {"call", "tab_start", "audit_view"} and at.query_params["kind"] == "all"


def test_several_kinds_from_the_widget_go_into_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    kinds = at.multiselect(key="audit_kinds")
    assert kinds.format_func("api_call") == "API call" and kinds.format_func("audit_view") == "Audit log viewed"
    kinds.select("audit_view").run()
    # Each view opened is logged before it is counted: the opening one and this one.
    assert sorted(set(grid(at)["kind"])) == ["audit_view", "call"] and len(grid(at)) == 3 + 2
    assert "audit_view" in at.query_params["kind"].split(",") and hidden_note(at) == (
        "Not shown (kind filter): Console tab opened, Console visit (older entries). Add them under Kind, or clear it "
        "for every kind.")
    at.multiselect(key="audit_kinds").set_value(["webhook"]).run()
    assert summary(at).startswith("**0 rows match**") and at.query_params["kind"] == "webhook"


def test_reset_filters_goes_back_to_the_opening_view(open_page, seeded) -> None:
    at = open_page(PAGE, operator="bob", kind="audit_view", rows="entries", since="2020-01-01T00:00:00Z",
                   entry=str(seeded[0]))
    assert at.selectbox(key="audit_range").value == CUSTOM and summary(at).startswith("**0 entries match**")
    opening = dict(open_page(PAGE).query_params)
    next(b for b in at.button if b.label == "Reset filters").click().run()
    assert summary(at) == "**3 rows match** · page 1 of 1"
    assert at.selectbox(key="audit_operator").value is None and at.selectbox(key="audit_range").value == "24h"
    assert at.multiselect(key="audit_kinds").value == sorted(DEFAULT_KINDS) and at.toggle(key="audit_per_call").value
    assert not any(h.value.startswith("Entry #") for h in at.subheader)
    params = dict(at.query_params)
    assert {k: v for k, v in params.items() if k != "since"} == {k: v for k, v in opening.items() if k != "since"}


# --- filters --------------------------------------------------------------------------------------


def test_operator_filter_from_the_url_narrows_the_rows(open_page, seeded) -> None:
    at = open_page(PAGE, operator="bob")
    assert summary(at).startswith("**1 rows match**")
    assert set(grid(at)["operator"]) == {"bob"}
    assert at.selectbox(key="audit_operator").value == "bob"


def test_operator_filter_from_the_widget_narrows_the_rows_and_goes_into_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    at.selectbox(key="audit_operator").select("ann").run()
    assert summary(at).startswith("**2 rows match**")
    assert at.query_params["operator"] == "ann"


def test_order_id_prefix_search(open_page, seeded) -> None:
    at = open_page(PAGE)
    at.text_input(key="audit_order_id").input("ORD-3").run()
    assert summary(at).startswith("**1 rows match**")
    at.text_input(key="audit_order_id").input("ORD*").run()
    assert summary(at).startswith("**3 rows match**")


def test_paging_fifty_rows_a_page(open_page, app_env) -> None:
    seed(app_env / "ops.db", [("ann", f"ORD-{n}") for n in range(55)])
    at = open_page(PAGE, page_no="2")
    assert summary(at) == "**55 rows match** · page 2 of 2"
    assert list(grid(at)["order id"]) == [f"ORD-{n}" for n in range(4, -1, -1)]  # newest first: page 2, the oldest


# --- the opened entry -----------------------------------------------------------------------------


@pytest.mark.parametrize("half", [0, 1], ids=["request", "result"])
def test_entry_in_the_url_opens_request_and_result_redacted(open_page, seeded, half: int) -> None:
    at = open_page(PAGE, entry=str(seeded[1] + half))
    assert any(h.value == f"Entry #{seeded[1] + half}" for h in at.subheader)
    shown = codes(at)
    request = next(c for c in shown if '"Authorization"' in c)
    assert '"Authorization": "[REDACTED]"' in request
    assert not any("sekrit" in c for c in shown)
    assert any('"session_id": "session-1"' in c for c in shown)  # the result of the same call
    assert sum(c.startswith("hash ") and "prev_hash " in c for c in shown) == 2
    assert any(seen(m.value) == "Timeline of session session-1" for m in at.markdown)
    link = at.get("page_link")[0].proto
    assert (link.label, link.page, link.query_string) == ("Session detail", "session_detail", "session=session-1")


def test_selecting_a_grid_row_opens_that_call_and_puts_it_in_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    assert not any(h.value.startswith("Entry #") for h in at.subheader)
    result_seq = seeded[1] + 1  # row 1: the second newest call, read through its result
    at.session_state["audit_grid"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert any(h.value == f"Entry #{result_seq}" for h in at.subheader)
    assert any(m.value.startswith(f"**Request \\#{seeded[1]}**") for m in at.markdown)
    assert at.query_params["entry"] == str(result_seq)
    next(b for b in at.button if b.label == "Close").click().run()
    assert not any(h.value.startswith("Entry #") for h in at.subheader)
    assert "entry" not in at.query_params


def test_an_unknown_entry_says_so(open_page, seeded) -> None:
    at = open_page(PAGE, entry="999")
    assert any(w.value == "There is no log entry #999." for w in at.warning)


@pytest.mark.parametrize(("param", "value"), [
    ("http_status", "abc"), ("http_status", "999"), ("since", "yesterday"), ("outcome", "great"),
    ("entry", "x"), ("page_no", "-1"), ("range", "forever"),
])
def test_a_bad_url_value_warns_naming_the_parameter(open_page, seeded, param: str, value: str) -> None:
    at = open_page(PAGE, **{param: value})
    assert not at.exception
    warnings = [seen(w.value) for w in at.warning]
    assert any(f"query parameter {param}" in w for w in warnings), warnings
    assert summary(at).startswith("**3 rows match**")  # the rest of the view still works


# --- integrity ------------------------------------------------------------------------------------


def progress_bars(at: AppTest) -> list[tuple[int, str]]:
    return [(p.proto.value, p.proto.text) for p in at.get("progress")]


def test_verify_shows_its_progress_to_the_end_then_the_verdict(open_page, seeded) -> None:
    at = open_page(PAGE)
    assert not at.success and not progress_bars(at)  # verify does not run by itself
    next(b for b in at.button if b.label == "Verify the chain").click().run()
    assert progress_bars(at) == [(100, f"Checked {6 + OPENED} of {6 + OPENED} entries")]
    assert at.success[0].value.startswith(f"OK ({6 + OPENED} entries)")
    at.run()
    assert not progress_bars(at) and at.success[0].value.startswith(f"OK ({6 + OPENED} entries)")  # kept


def test_integrity_ok_then_broken_after_tampering(open_page, app_env, seeded) -> None:
    at = open_page(PAGE)
    next(b for b in at.button if b.label == "Verify the chain").click().run()
    assert at.success[0].value.startswith(f"OK ({6 + OPENED} entries)")
    conn = sqlite3.connect(app_env / "ops.db")
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET operator = 'mallory' WHERE seq = 3")
    conn.commit()
    conn.close()
    next(b for b in at.button if b.label == "Verify the chain").click().run()
    assert not at.success
    assert "entry #3" in at.error[0].value and "hash does not match its content" in at.error[0].value


def test_last_checkpoint_is_shown(open_page, app_env, seeded) -> None:
    at = open_page(PAGE)
    assert any("No checkpoint recorded yet" in c.value for c in at.caption)
    CallLog(app_env / "ops.db").checkpoint()
    at.run()
    assert any(c.value.startswith("Last checkpoint:") and f"at entry {6 + OPENED}" in c.value for c in at.caption)


def test_a_checkpoint_made_from_the_page_is_recorded_in_the_log(open_page, app_env, seeded) -> None:
    at = open_page(PAGE)
    next(b for b in at.button if b.label == "Make a checkpoint").click().run()
    log = CallLog(app_env / "ops.db")
    pinned = log.entry(log.count())
    assert pinned["kind"] == "checkpoint" and pinned["detail"]["count"] == log.count() - 1
    assert pinned["detail"]["head_hash"] == log.entry(log.count() - 1)["hash"]
    assert any(f"Checkpoint made at entry {log.count() - 1:,}" in m.value for m in at.success)
    assert log.latest_checkpoint()["count"] == log.count() - 1 and log.verify().ok


def test_only_auditors_and_admins_may_pin_the_head_and_a_refusal_is_logged(app_env, seeded) -> None:
    audit = AuditService(CallLog(app_env / "ops.db"))
    finance = Identity("fin@example.com", frozenset({"finance"}), False)
    auditor = Identity("aud@example.com", frozenset({"auditor"}), False)
    assert audit.checkpoint_refusal(auditor) is None and audit.checkpoint_refusal(finance)
    with pytest.raises(AccessDenied):
        audit.make_checkpoint(finance)
    log = CallLog(app_env / "ops.db")
    assert log.entry(log.count())["kind"] == "access_denied" and log.latest_checkpoint() is None
    assert audit.make_checkpoint(auditor).count == log.count() - 1  # the head it pinned: before its own entry
    assert log.entry(log.count())["operator"] == "aud@example.com" and log.verify().ok


# --- export ---------------------------------------------------------------------------------------


def test_export_offers_evidence_and_csv_says_how_many_rows_and_caps_them(open_page, seeded, monkeypatch) -> None:
    at = open_page(PAGE)
    assert any(m.value == "3 rows match: all are exported." for m in at.markdown)
    assert [b.label for b in at.download_button] == ["Evidence (JSON Lines, verifiable)", "CSV (spreadsheet)"]
    assert any("verify-export FILE" in c.value and "cannot prove nothing is missing" in c.value for c in at.caption)
    monkeypatch.setattr("ui.audit_tools.EXPORT_LIMIT", 2)
    at.run()
    assert any("only the first (newest) 2 are exported" in w.value for w in at.warning)


def test_the_evidence_export_carries_both_bodies_and_verifies_offline(app_env, seeded, tmp_path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    db = app_env / "ops.db"
    data = AuditService(CallLog(db)).export(AuditFilters(operator="ann"), EVIDENCE, operator="aud@example.com",
                                            environment="sandbox")
    header, *entries = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    # ann's two calls, each as its request and its result: two runs of consecutive entries.
    assert header["runs"] == [[1, 2], [5, 6]] and header["view"] == {"since": "all", "operator": "ann"}
    assert [(e["seq"], e["kind"]) for e in entries] == [(1, "api_request"), (2, "api_result"),
                                                        (5, "api_request"), (6, "api_result")]
    assert '"Authorization":"[REDACTED]"' in entries[0]["detail"].replace(" ", "")
    assert json.loads(entries[1]["detail"]) == {"body": {"session_id": "session-0"}}
    assert entries[1]["prev_hash"] == entries[0]["hash"] and all(len(e["hash"]) == 64 for e in entries)
    path = tmp_path / "evidence.jsonl"
    path.write_bytes(data)
    assert cli.main(["verify-export", str(path)]) == 0
    assert "4 entries in 2 run(s)" in capsys.readouterr().out
    path.write_bytes(data.replace(b"session-0", b"session-9"))
    assert cli.main(["verify-export", str(path)]) == 1
    assert "entry 2: hash does not match its content" in capsys.readouterr().err
    log = CallLog(db)
    exported = log.entry(log.count())
    assert (exported["kind"], exported["operator"], exported["tags"]) == ("export", "aud@example.com", ["audit_log"])
    assert exported["detail"] == {"filters": {"since": "all", "operator": "ann"}, "format": "evidence", "entries": 4}
    assert log.verify().ok


def test_the_csv_export_has_the_same_entries_newest_first_with_bodies_and_hashes(app_env, seeded) -> None:
    db = app_env / "ops.db"
    log = CallLog(db)
    log.append("access_denied", operator="=HYPERLINK(\"http://evil.example\")", environment="-")
    service = AuditService(log)
    rows = list(csv.DictReader(io.StringIO(service.export(AuditFilters(kinds=("api_call", "access_denied")), CSV,
                                                          operator="aud", environment="-").decode("utf-8-sig"))))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [int(r["seq"]) for r in rows] == [7, 6, 5, 4, 3, 2, 1]
    assert rows[0]["operator"].startswith("'=") and rows[0]["in_flight"] == "false"
    assert all(r["hash"] == log.entry(int(r["seq"]))["hash"] and r["prev_hash"] for r in rows)
    assert json.loads(rows[1]["detail"]) == {"body": {"session_id": "session-2"}}
    assert log.entry(log.count())["detail"]["format"] == "csv" and log.verify().ok


# --- charts, custom range, display ----------------------------------------------------------------


def test_charts_render_for_the_view(open_page, seeded) -> None:
    at = open_page(PAGE)
    latency = at.dataframe[-1].value
    assert list(latency["endpoint"]) == [SESSIONS] and int(latency["calls"].iloc[0]) == 3


def test_a_link_with_fixed_bounds_opens_a_custom_range(open_page, seeded) -> None:
    at = open_page(PAGE, since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")
    assert at.selectbox(key="audit_range").value == CUSTOM
    assert summary(at).startswith("**0 rows match**")
    assert at.query_params["until"] == "2020-01-02T00:00:00.000000Z" and "range" not in at.query_params
    at.selectbox(key="audit_range").select(ALL_TIME).run()
    assert summary(at).startswith("**3 rows match**") and at.query_params["since"] == "all"


def test_display_no_filter_reads_all_blanks_missing_cells_and_charts_by_minute(open_page, seeded) -> None:
    at = open_page(PAGE)
    operator = at.selectbox(key="audit_operator")
    assert operator.value is None and operator.format_func(operator.value) == "All"
    assert operator.proto.placeholder == "All"
    shown = at.dataframe[0]
    assert shown.proto.placeholder == ""  # a request's HTTP status and duration show blank, not "None"
    config = json.loads(shown.proto.columns)
    assert config["duration ms"]["type_config"]["format"] == "%.1f"
    zone = timefmt.local(datetime.now(UTC), timefmt.zone(None)).rsplit(" ", 1)[-1]
    assert config["time"]["label"] == f"time ({zone})" and config["HTTP status"]["label"] == "HTTP"
    assert config["time"]["width"] == 128  # pixel widths: the key columns fit 1280 px (tests/test_browser.py)
    assert any(m.value == "**Finished calls per minute, by outcome**" for m in at.markdown)  # seconds of data


# --- retention ------------------------------------------------------------------------------------


def test_the_page_says_which_entries_are_live_and_where_the_archived_ones_are(open_page, app_env: Path) -> None:
    from lib.calllog.archive import archive

    db = app_env / "ops.db"
    days_ago = iter([datetime.now(UTC) - timedelta(days=3)] * 2)
    old = CallLog(db, clock=lambda: next(days_ago))
    old.append("export", operator="ann", environment="-")
    old.append("export", operator="ann", environment="-")
    seed(db, [("bob", "ORD-9")])
    dest = app_env / "archive [2026].jsonl"
    archive(CallLog(db), (datetime.now(UTC) - timedelta(days=1)).date(), dest, operator="aud@example.com")
    at = open_page(PAGE, range="all", kind="all", entry="1")
    said = next(seen(c.value) for c in at.caption if c.value.startswith("Live in the database"))
    assert said.startswith("Live in the database: entries 3–") and "1–2 (before " in said and str(dest) in said
    assert any(seen(w.value).startswith(f"Entry #1 was archived to {dest} (entries 1–2") for w in at.warning)
