"""AppTest of the Audit log page: filters from widgets and the URL, the opened entry, bad URLs,
the integrity panel, and the export (whose download callable AppTest never runs: tested directly).
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.access.policy import AccessDenied, Identity
from lib.audit.filters import EXPORT_COLUMNS
from lib.audit.service import ALL_TIME, CUSTOM, AuditFilters, AuditService
from lib.calllog.log import CallLog
from lib.calllog.outcome import Outcome
from tests.page_support import seen

PAGE = "pages/audit_log.py"
# The page logs this browser session's start and each opening of a view (issue 6), so a view
# opened on N seeded entries counts N + OPENED.
OPENED = 2
SESSIONS = "/v1/payment-sessions"


def seed(db: Path, calls: list[tuple[str, str]]) -> list[int]:
    """One create call (request + result) per (operator, order id); returns the request seqs."""
    log = CallLog(db)
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
    return next(m.value for m in at.markdown if "entries match**" in m.value)


def codes(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def test_default_view_shows_the_count_page_and_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    assert summary(at) == f"**{6 + OPENED} entries match** · page 1 of 1"
    assert len(at.dataframe[0].value) == 6 + OPENED
    assert set(at.dataframe[0].value["kind"]) == {"api_request", "api_result", "tab_start", "audit_view"}
    assert at.query_params["range"] == "24h" and "since" in at.query_params


def test_operator_filter_from_the_url_narrows_the_rows(open_page, seeded) -> None:
    at = open_page(PAGE, operator="bob")
    assert summary(at).startswith("**2 entries match**")
    assert set(at.dataframe[0].value["operator"]) == {"bob"}
    assert at.selectbox(key="audit_operator").value == "bob"


def test_operator_filter_from_the_widget_narrows_the_rows_and_goes_into_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    at.selectbox(key="audit_operator").select("ann").run()
    assert summary(at).startswith("**4 entries match**")
    assert at.query_params["operator"] == "ann"


def test_order_id_prefix_search(open_page, seeded) -> None:
    at = open_page(PAGE)
    at.text_input(key="audit_order_id").input("ORD-3").run()
    assert summary(at).startswith("**2 entries match**")
    at.text_input(key="audit_order_id").input("ORD*").run()
    assert summary(at).startswith("**6 entries match**")


def test_in_flight_requests_are_shown_and_filtered(open_page, app_env, seeded) -> None:
    CallLog(app_env / "ops.db").append("api_request", operator="cat", environment="sandbox", attempt_id="lost",
                                       method="POST", endpoint=SESSIONS, path=SESSIONS, detail={})
    at = open_page(PAGE, outcome="in_flight")
    assert summary(at).startswith("**1 entries match**")
    assert list(at.dataframe[0].value["outcome"]) == [Outcome.IN_FLIGHT.label]


def test_paging_fifty_rows_a_page(open_page, app_env) -> None:
    seed(app_env / "ops.db", [("ann", f"ORD-{n}") for n in range(30)])
    at = open_page(PAGE, page_no="2")
    assert summary(at) == f"**{60 + OPENED} entries match** · page 2 of 2"
    assert len(at.dataframe[0].value) == 10 + OPENED
    assert at.dataframe[0].value["seq"].max() == 10 + OPENED  # newest first: page 2 holds the oldest


def test_entry_in_the_url_opens_request_and_result_redacted(open_page, seeded) -> None:
    at = open_page(PAGE, entry=str(seeded[1]))
    assert any(h.value == f"Entry #{seeded[1]}" for h in at.subheader)
    shown = codes(at)
    request = next(c for c in shown if '"Authorization"' in c)
    assert '"Authorization": "[REDACTED]"' in request
    assert not any("sekrit" in c for c in shown)
    assert any('"session_id": "session-1"' in c for c in shown)  # the result of the same call
    assert any(c.startswith("hash ") and "prev_hash " in c for c in shown)
    assert any(seen(m.value) == "Timeline of session session-1" for m in at.markdown)
    link = at.get("page_link")[0].proto
    assert (link.label, link.page, link.query_string) == ("Session detail", "session_detail", "session=session-1")


def test_selecting_a_grid_row_opens_that_entry_and_puts_it_in_the_url(open_page, seeded) -> None:
    at = open_page(PAGE)
    assert not any(h.value.startswith("Entry #") for h in at.subheader)
    row_seq = int(at.dataframe[0].value["seq"].iloc[1])
    at.session_state["audit_grid"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert any(h.value == f"Entry #{row_seq}" for h in at.subheader)
    assert at.query_params["entry"] == str(row_seq)
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
    assert summary(at).startswith(f"**{6 + OPENED} entries match**")  # the rest of the view still works


def test_integrity_ok_then_broken_after_tampering(open_page, app_env, seeded) -> None:
    at = open_page(PAGE)
    assert not at.success  # verify does not run by itself
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


def test_export_says_how_many_rows_and_caps_them(open_page, seeded, monkeypatch) -> None:
    at = open_page(PAGE)
    assert any(m.value == f"{6 + OPENED} entries match: all are exported." for m in at.markdown)
    assert at.download_button[0].label == "Export CSV"
    monkeypatch.setattr("ui.audit_tools.EXPORT_LIMIT", 4)
    at.run()
    assert any("only the first (newest) 4 are exported" in w.value for w in at.warning)


def test_export_callable_records_an_export_entry_and_the_chain_verifies(app_env, seeded) -> None:
    db = app_env / "ops.db"
    filters = AuditFilters(operator="ann")
    data = AuditService(CallLog(db)).export(filters, operator="auditor@example.com", environment="sandbox")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(EXPORT_COLUMNS)
    assert len(rows) == 1 + 4
    log = CallLog(db)
    exported = log.entry(log.count())
    assert exported["kind"] == "export" and exported["operator"] == "auditor@example.com"
    assert exported["tags"] == ["audit_log"]
    assert exported["detail"] == {"filters": {"since": "all", "operator": "ann"}, "rows": 4}
    assert log.verify().message == "OK (7 entries)"


def test_charts_render_for_the_view(open_page, seeded) -> None:
    at = open_page(PAGE)
    latency = at.dataframe[-1].value
    assert list(latency["endpoint"]) == [SESSIONS] and int(latency["calls"].iloc[0]) == 3


def test_a_link_with_fixed_bounds_opens_a_custom_range(open_page, seeded) -> None:
    at = open_page(PAGE, since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")
    assert at.selectbox(key="audit_range").value == CUSTOM
    assert summary(at).startswith("**0 entries match**")
    assert at.query_params["until"] == "2020-01-02T00:00:00.000000Z" and "range" not in at.query_params
    at.selectbox(key="audit_range").select(ALL_TIME).run()
    # one more opening: the view changed to all time
    assert summary(at).startswith(f"**{6 + OPENED + 1} entries match**") and at.query_params["since"] == "all"


def test_display_no_filter_reads_all_blanks_missing_cells_and_charts_by_minute(open_page, seeded) -> None:
    at = open_page(PAGE)
    operator = at.selectbox(key="audit_operator")
    assert operator.value is None and operator.format_func(operator.value) == "All"
    assert operator.proto.placeholder == "All"
    grid = at.dataframe[0]
    assert grid.proto.placeholder == ""  # a request's HTTP status and duration show blank, not "None"
    config = json.loads(grid.proto.columns)
    assert config["duration ms"]["type_config"]["format"] == "%.1f"
    assert any(m.value == "**Finished calls per minute, by outcome**" for m in at.markdown)  # seconds of data
