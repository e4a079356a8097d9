"""Active sessions, Update amount and Session detail: the lib rows as plain Python, the pages by AppTest.

Sessions are created through a ``SessionsService`` on the app's own database and sandbox; an expired one
is made by a console whose clock runs 11 minutes behind (the registry counts from when the create
was sent), an unknown outcome by the sandbox's ``X-Sandbox-Fault: drop-after``.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import TextInput

from lib.access.signin import AccessPolicy
from lib.api.client import Created
from lib.api.errors import UnknownOutcome
from lib.calllog.log import CallLog
from lib.fields.validation import SessionRequest
from lib.sandbox.faults import HEADER as FAULT
from lib.sandbox.runtime import ensure_sandbox
from lib.sessions import form_values as forms
from lib.sessions import rows as session_rows
from lib.sessions.models import Change, Session, Version, amount_text, calls_of, unanswered_update
from lib.sessions.reconcile import RESOLUTION
from lib.sessions.registry import Registry, record_created
from lib.sessions.service import SessionsService
from tests.killing import OPERATOR, backdated_kill
from tests.page_support import field_errors, seen
from tests.sandbox_support import order
from ui.field_widgets import widget_key
from ui.widgets import TO_DETAIL, TO_ENTRY, TO_UPDATE, linked

ACTIVE = "pages/active_sessions.py"
UPDATE = "pages/update_amount.py"
DETAIL = "pages/session_detail.py"
ME = "tester@example.com"  # OPS_OPERATOR in app_env
LOCAL = AccessPolicy(auth=False).identity(None, operator_fallback=ME)  # the local-mode operator (admin)
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MMSS = re.compile(r"^\d{2}:\d{2}$")


# --- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def make(app_console: SessionsService) -> Callable[..., Created]:
    """Create a session; ``ago`` backdates it through the console's clock (expired after 10 min)."""
    def _make(order_id: str | None = None, *, operator: str = ME, amount: str = "15.02",
              tags: tuple[str, ...] = (), ago: timedelta = timedelta(0)) -> Created:
        maker = SessionsService(app_console.sandbox_base_url, app_console.db_path, clock=lambda: datetime.now(UTC) - ago)
        body = order(order_id or f"ord-{uuid.uuid4().hex[:10]}", amount)
        return maker.client("sandbox", operator, tags=tags).create_session(SessionRequest.parse(body))
    return _make


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def grid(at: AppTest, i: int = 0) -> list[dict[Hashable, Any]]:
    return at.dataframe[i].value.to_dict("records")


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and code text on the page, to search in."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success", "code")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


# --- lib/sessions rows: plain Python, fixed clock ---------------------------------------------------
def session(sid: str = "s-1", *, created: datetime = T0, ttl: int = 600, state: str = "ok", **extra: Any) -> Session:
    return Session(sid, "sandbox", "ord-1", Decimal("15.02"), "gbp", "ann", created,
                   created + timedelta(seconds=ttl), (), 1, 0, state, 1, **extra)


def test_active_rows_count_down_from_the_clock_given() -> None:
    rows = session_rows.active_rows([session()], T0 + timedelta(seconds=61.7))
    assert rows == [{
        "Left": "08:58", "Remaining": pytest.approx((600 - 61.7) / 600), "Order id": "ord-1",
        "Amount": "15.02 GBP", "State": "", "Created by": "ann", "Session": "s-1", "Update": "s-1",
    }]
    later = session_rows.active_rows([session()], T0 + timedelta(seconds=700))[0]
    assert (later["Left"], later["Remaining"]) == ("00:00", 0.0)


def test_links_quote_ids_and_rows_flag_uncertain_amounts() -> None:
    row = linked(session_rows.active_rows([session("a&b=c d", state="amount_uncertain")], T0), TO_DETAIL, TO_UPDATE)[0]
    assert row["Session"] == "/session_detail?session=a%26b%3Dc+d"
    assert row["Update"] == "/update_amount?session=a%26b%3Dc+d"
    assert row["State"] == "⚠️ uncertain"


def test_active_columns_put_links_early_and_state_only_when_needed() -> None:
    calm = session_rows.active_rows([session("s-1"), session("s-2")], T0)
    assert session_rows.active_columns(calm) == ["Left", "Remaining", "Order id", "Amount", "Session", "Update",
                                                 "Created by"]
    doubt = session_rows.active_rows([session("s-1"), session("s-2", state="amount_uncertain")], T0)
    assert session_rows.active_columns(doubt) == ["Left", "Remaining", "Order id", "Amount", "State", "Session",
                                                  "Update", "Created by"]
    assert set(session_rows.active_columns(doubt)) <= set(doubt[0])  # every shown column is in the rows


def test_expired_rows_leave_the_payment_to_the_payments_service() -> None:
    row = session_rows.expired_rows([session()], T0 + timedelta(minutes=12, seconds=5), UTC)[0]
    assert "Status" not in row  # no more "payment outcome not known here": the page adds its payment status
    assert (row["Expired"], row["Ago"]) == ("2026-03-01 12:10:00 UTC", "02:05")


def test_session_label_is_stable_while_time_passes() -> None:
    assert session_rows.session_label(session(), UTC) == "ord-1 · 15.02 GBP · expires 12:10:00 UTC"
    assert amount_text(None, None) == "—"


def test_change_and_version_rows() -> None:
    changes = (Change("transaction.amount", Decimal("15.02"), Decimal("17.50")),
               Change("payment_methods", None, ["card"]), Change("transaction.capture", True, False))
    assert session_rows.change_rows(changes) == [
        {"Field": "transaction.amount", "Before": "15.02", "After": "17.50"},
        {"Field": "payment_methods", "Before": "—", "After": '["card"]'},
        {"Field": "transaction.capture", "Before": "true", "After": "false"},
    ]
    history = [Version(1, T0, "ann", order("o", "15.02"), (), 3),
               Version(2, T0 + timedelta(minutes=1), "bob", order("o", "17.50"), changes[:1], 9)]
    rows = session_rows.version_rows(history, UTC)
    assert [r["Version"] for r in rows] == [2, 1]  # newest first
    assert rows[0]["Changes"] == "transaction.amount: 15.02 → 17.50"
    assert rows[0]["Amount"] == "17.50 GBP" and rows[0]["Log entry"] == 9
    assert linked(rows, TO_ENTRY)[0]["Log entry"] == "/audit_log?entry=9"
    assert rows[1]["Changes"] == "created"
    assert session_rows.changes_text(changes * 2, limit=2).endswith("… 4 more")
    stored = (Change("transaction.amount", Decimal("15"), Decimal("18.0")),)  # as JSON keeps it
    assert session_rows.changes_text(stored, "gbp") == "transaction.amount: 15.00 → 18.00"
    assert session_rows.changes_text(stored, "jpy") == "transaction.amount: 15 → 18"


def entry(seq: int, kind: str, attempt: str, method: str = "PUT", outcome: str | None = None) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "attempt_id": attempt, "ts": f"2026-03-01T12:00:{seq:02d}.000000Z",
            "operator": "ann", "method": method, "path": "/v1/payment-sessions/s-1", "outcome": outcome,
            "http_status": 200 if outcome == "ok" else None, "duration_ms": 12.4}


def test_calls_fold_request_and_result_and_find_the_unanswered_update() -> None:
    timeline = [entry(1, "api_request", "a", "POST"), entry(2, "api_result", "a", "POST", "ok"),
                entry(3, "api_request", "b"), entry(4, "api_result", "b", outcome="unknown_outcome"),
                entry(5, "api_request", "c")]
    calls = calls_of(timeline, RESOLUTION)
    assert [(c.seq, c.method, c.outcome) for c in calls] == [(2, "POST", "ok"), (4, "PUT", "unknown_outcome"),
                                                             (5, "PUT", "in_flight")]
    assert calls[1].at == datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC)  # when it was sent
    update = unanswered_update(calls)
    assert update is not None and update.seq == 4
    settled = calls + calls_of([entry(6, "api_request", "d"), entry(7, "api_result", "d", outcome="ok")], RESOLUTION)
    assert unanswered_update(settled) is None
    rows = session_rows.call_rows(calls, UTC)
    assert rows[1] == {"When": "2026-03-01 12:00:03 UTC", "Who": "ann", "Call": "PUT /v1/payment-sessions/s-1",
                       "Outcome": "❓ outcome unknown", "HTTP": None, "ms": 12, "Log entry": 4}


def test_update_form_starts_from_what_the_api_has_and_sends_nothing_untouched() -> None:
    params = order("ord-1")
    start = forms.update_defaults(params)
    assert start["transaction.capture"] is True and start["transaction.moto"] is False  # API defaults
    assert start["tds.is_active"] is False  # no tds sent: 3-D Secure is off, not the form's "on"
    assert start["transaction.amount"] == "15.02" and start["transaction.currency"] == "gbp"
    patch, _merged, problems = forms.check_update(params, forms.update_values(params, start))
    assert (patch, problems) == ({}, [])
    ticked = forms.update_values(params, {**start, "tds.is_active": True, "transaction.capture": False})
    assert forms.check_update(params, ticked)[0] == {"transaction": {"capture": False}, "tds": {"is_active": True}}
    with_tds = {**params, "tds": {"is_active": False}}
    assert forms.update_defaults(with_tds)["tds.is_active"] is False


def test_active_table_is_the_active_sessions_formatted(tmp_path: Path) -> None:
    """The grid's lean query must list exactly what ``active_sessions`` lists, in the same order."""
    log = CallLog(tmp_path / "ops.db")
    for i, (ago, who, tags) in enumerate([(30, ME, []), (500, "bob", []), (90, ME, ["qa-run:1"]), (700, ME, [])]):
        def record(db: Any, seq: int, i: int = i, ago: int = ago, who: str = who, tags: list[str] = tags) -> None:
            record_created(db, session_id=f"s-{i}", environment="sandbox", order_id=f"ord-{i}", operator=who,
                           sent_at=T0 - timedelta(seconds=ago), ttl_seconds=600, params=order(f"ord-{i}"),
                           tags=tags, entry_seq=seq)
        log.append("api_result", operator=who, environment="sandbox", then=record)
    console = SessionsService("http://127.0.0.1:9", tmp_path / "ops.db", clock=lambda: T0)
    for kwargs in ({}, {"operator": ME}, {"include_qa": True}, {"operator": "bob", "include_qa": True}):
        expected = session_rows.active_rows(console.active("sandbox", **kwargs), T0)
        assert console.active_table("sandbox", **kwargs) == expected, kwargs
    assert [r["Order id"] for r in console.active_table("sandbox", include_qa=True)] == ["ord-1", "ord-2", "ord-0"]
    assert console.active_table("sandbox", include_qa=True)[0]["Left"] == "01:40"


# --- Active sessions page ---------------------------------------------------------------------------
def test_active_lists_a_session_with_its_countdown_and_links(open_page, make) -> None:
    created = make("ord-active", ago=timedelta(minutes=4))
    at = open_page(ACTIVE)
    rows = grid(at)
    assert len(rows) == 1
    row = rows[0]
    assert (row["Order id"], row["Amount"], row["Created by"], row["State"]) == ("ord-active", "15.02 GBP", ME, "")
    # The page reads the real clock: asserted is only what the time the test takes cannot break (at
    # most the 6 minutes left of a session created 4 minutes ago); exact figures are the rows' tests.
    assert MMSS.match(row["Left"]) and "00:00" < row["Left"] <= "06:00"
    assert 0 < row["Remaining"] <= 0.6
    assert row["Session"] == f"/session_detail?session={created.session_id}"
    assert row["Update"] == f"/update_amount?session={created.session_id}"


def test_mine_or_everyone_and_qa_hidden_by_default(open_page, make) -> None:
    make("ord-mine")
    make("ord-theirs", operator="other@example.com")
    make("ord-qa", tags=("qa-run:42",))
    at = open_page(ACTIVE)
    assert {r["Order id"] for r in grid(at)} == {"ord-mine", "ord-theirs"}
    at.segmented_control(key="active_whose").set_value("Mine").run()
    assert {r["Order id"] for r in grid(at)} == {"ord-mine"}
    at.toggle(key="active_include_qa").set_value(True).run()
    assert {r["Order id"] for r in grid(at)} == {"ord-mine", "ord-qa"}
    at.segmented_control(key="active_whose").set_value("Everyone").run()
    assert {r["Order id"] for r in grid(at)} == {"ord-mine", "ord-theirs", "ord-qa"}


def test_expired_list_and_recreate_with_the_same_parameters(open_page, make, app_env) -> None:
    old = make("ord-expired", amount="42.00", ago=timedelta(minutes=11))
    at = open_page(ACTIVE)
    assert any("No active sessions" in i.value for i in at.info)
    expired = grid(at)  # the only grid: no active sessions
    assert [(r["Order id"], r["Payment"]) for r in expired] == [("ord-expired", "💤 expired unpaid")]
    assert next(b for b in at.button if b.label == "Recreate with the same parameters").disabled
    at.session_state["active_expired_grid"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    click(at, "Recreate with the same parameters")
    assert "same parameters" in at.success[0].value
    active = Registry(app_env / "ops.db").active("sandbox", datetime.now(UTC))
    assert [(s["order_id"], s["amount"]) for s in active] == [("ord-expired", Decimal("42.00"))]
    assert active[0]["session_id"] != old.session_id
    assert active[0]["session_id"] in [c.value for c in at.code]
    assert {r["Order id"] for r in grid(at)} == {"ord-expired"}  # the new one ticks in the active grid


# --- Update amount page -----------------------------------------------------------------------------
def amount_box(at: AppTest, session_id: str) -> TextInput:
    return at.text_input(key=widget_key("transaction.amount", f"upd:{session_id}"))


def test_update_shows_before_after_records_version_2_and_toasts(open_page, make, app_env) -> None:
    created = make("ord-upd")
    at = open_page(UPDATE, session=created.session_id)
    assert at.selectbox(key="upd_session").value == created.session_id
    assert at.selectbox(key="upd_session").format_func(created.session_id).startswith("ord-upd · 15.02 GBP · expires ")
    assert amount_box(at, created.session_id).value == "15.02"
    assert at.selectbox(key=widget_key("transaction.currency", f"upd:{created.session_id}")).value == "gbp"
    assert not [b for b in at.button if b.label == "Confirm update"]  # nothing changed yet
    amount_box(at, created.session_id).input("17.50").run()
    assert grid(at, 0) == [{"Field": "transaction.amount", "Before": "15.02", "After": "17.50"}]
    click(at, "Confirm update")
    assert "version 2" in at.toast[0].value
    assert "17.50 GBP" in at.success[0].value
    history = Registry(app_env / "ops.db").history(created.session_id)
    assert [(v["version"], v["operator"]) for v in history] == [(1, ME), (2, ME)]
    assert history[1]["params"]["transaction"]["amount"] == Decimal("17.50")
    assert [r["Version"] for r in grid(at)] == [2, 1]  # the history shown below


def test_update_problem_is_shown_at_the_field(open_page, make) -> None:
    created = make("ord-bad")
    at = open_page(UPDATE, session=created.session_id)
    amount_box(at, created.session_id).input("12.345").run()
    assert field_errors(at) == {"transaction.amount": "Amount: must have at most 2 decimal places"}
    assert grid(at, 0)[0]["After"] == "12.345"  # what was typed, not rounded to the 12.35 it is not
    assert next(b for b in at.button if b.label == "Confirm update").disabled


def test_an_expired_session_is_refused_and_can_be_recreated(open_page, make) -> None:
    old = make("ord-late", ago=timedelta(minutes=11))
    at = open_page(UPDATE, session=old.session_id)
    assert "expired at" in at.error[0].value and "can no longer be updated" in at.error[0].value
    assert not [b for b in at.button if b.label == "Confirm update"]
    click(at, "Recreate with the same parameters")
    assert "same parameters" in at.success[0].value


def test_unknown_outcome_shows_amount_uncertain_and_resend_settles_it(open_page, make, app_console) -> None:
    created = make("ord-unc")
    faulty = app_console.client("sandbox", ME, headers={FAULT: "drop-after"})
    with pytest.raises(UnknownOutcome):
        faulty.update_session(created.session_id, {"transaction": {"amount": Decimal("20.00")}})
    pending = app_console.pending_update(created.session_id)
    assert pending is not None and pending.patch == {"transaction": {"amount": Decimal("20.00")}}
    at = open_page(UPDATE, session=created.session_id)
    assert "AMOUNT UNCERTAIN" in at.error[0].value
    click(at, "Send the same update again")
    assert "certain" in at.toast[0].value
    assert app_console.pending_update(created.session_id) is None
    assert not [e for e in at.error if "AMOUNT UNCERTAIN" in e.value]
    assert app_console.session(created.session_id).amount == Decimal("20.00")


def test_unknown_session_on_update(open_page) -> None:
    at = open_page(UPDATE, session="no-such-session")
    assert "No session with this id" in at.error[0].value
    assert "no-such-session" in [c.value for c in at.code]


# --- Session detail page ----------------------------------------------------------------------------
def test_detail_shows_parameters_versions_calls_and_link(open_page, make, app_console) -> None:
    created = make("ord-detail")
    app_console.update("sandbox", LOCAL, created.session_id, {"transaction.amount": "18.00", "transaction.currency": "gbp",
                                                       "transaction.order_id": "ord-detail"})
    at = open_page(DETAIL, session=created.session_id)
    page = texts(at)
    assert '"amount": 18' in page and '"order_id": "ord-detail"' in page
    assert created.session_id in [c.value for c in at.code]
    versions, calls = grid(at, 0), grid(at, 2)  # grid 1 is version 2's before → after
    assert [(v["Version"], v["Who"]) for v in versions] == [(2, ME), (1, ME)]
    assert versions[0]["Changes"] == "transaction.amount: 15.02 → 18.00"
    assert [c["Call"].split()[0] for c in calls] == ["POST", "PUT"]
    assert all(c["Outcome"] == "✅ ok" for c in calls)
    assert all(re.fullmatch(r"/audit_log\?entry=\d+", c["Log entry"]) for c in calls)
    assert f"/checkout/{created.session_id}" in page
    assert len(at.image) == 1  # the QR code


def test_detail_of_an_unknown_id_and_the_picker(open_page, make) -> None:
    at = open_page(DETAIL, session="nope")
    assert "No session with this id" in at.error[0].value and "nope" in [c.value for c in at.code]
    created = make("ord-pick")
    at = open_page(DETAIL)
    picker = at.selectbox(key="detail_pick")
    assert len(picker.options) == 1  # options as shown: order · amount · expiry · creator
    assert re.fullmatch(r"ord-pick · 15\.02 GBP · expires \d\d:\d\d:\d\d \S+ · tester@example\.com", picker.options[0])
    picker.set_value(created.session_id).run()
    assert at.query_params["session"] == created.session_id  # the URL can be shared
    assert "ord-pick" in texts(at)


# --- what people type and click on the session pages -----------------------------------------------
@pytest.mark.parametrize(("amount", "currency", "shown", "label"), [
    ("20", "gbp", "20.00", "20.00 GBP"), ("1500", "jpy", "1500", "1,500 JPY"), ("0", "usd", "0.00", "0.00 USD")])
def test_whole_amount_sessions_open_for_update_prefilled_with_the_currency_decimals(
        open_page, app_console, amount: str, currency: str, shown: str, label: str) -> None:
    body = {"transaction": {"order_id": f"ord-{currency}", "amount": Decimal(amount), "currency": currency,
                            "capture": False}}
    created = app_console.client("sandbox", ME).create_session(SessionRequest.parse(body))
    at = open_page(UPDATE, session=created.session_id)
    assert amount_box(at, created.session_id).value == shown
    assert at.selectbox(key="upd_session").format_func(created.session_id).startswith(
        f"ord-{currency} · {label} · ")


def test_a_decimal_comma_is_refused_with_a_hint_and_nothing_is_sent(open_page, make, app_console) -> None:
    created = make("ord-comma", amount="20")
    at = open_page(UPDATE, session=created.session_id)
    amount_box(at, created.session_id).input("30,5").run()
    assert field_errors(at) == {"transaction.amount": "Amount: must be a number: use a point for decimals: 30.5"}
    assert not [b for b in at.button if b.label == "Confirm update"]  # nothing to send
    assert app_console.session(created.session_id).amount == Decimal("20")


def test_clearing_the_picker_clears_the_url(open_page, make) -> None:
    created = make("ord-clear")
    at = open_page(UPDATE, session=created.session_id)
    at.selectbox(key="upd_session").set_value(None).run()
    assert "session" not in at.query_params and not at.exception
    assert at.selectbox(key="upd_session").value is None
    at.selectbox(key="upd_session").set_value(created.session_id).run()
    assert at.query_params["session"] == created.session_id


def test_qa_run_sessions_stay_out_of_the_pickers_until_asked(open_page, make) -> None:
    make("ord-finance")
    qa = make("ord-qa-run", tags=("qa-run:7",))
    for page, key, toggle in ((UPDATE, "upd_session", "upd_include_qa"), (DETAIL, "detail_pick", "detail_include_qa")):
        at = open_page(page)
        labels = at.selectbox(key=key).options
        assert any("ord-finance" in label for label in labels) and not any("ord-qa-run" in label for label in labels)
        at.toggle(key=toggle).set_value(True).run()
        assert any("ord-qa-run" in label for label in at.selectbox(key=key).options)
    at = open_page(UPDATE, session=qa.session_id)  # a link to a QA session still opens it
    assert amount_box(at, qa.session_id).value == "15.02"


def test_a_second_recreate_of_the_same_expired_session_warns_and_names_the_live_one(open_page, make, app_env) -> None:
    old = make("ord-twice", amount="42.00", ago=timedelta(minutes=11))
    at = open_page(UPDATE, session=old.session_id)
    click(at, "Recreate with the same parameters")
    first = Registry(app_env / "ops.db").active("sandbox", datetime.now(UTC))
    assert [s["order_id"] for s in first] == ["ord-twice"]
    assert len(at.image) == 1 and any("Please pay 42.00 GBP" in c.value for c in at.code)  # link, QR, message

    at = open_page(ACTIVE)  # the same expired session, recreated again from the other page
    at.session_state["active_expired_grid"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    click(at, "Recreate with the same parameters")
    warning = next(w.value for w in at.warning if "already has a live session" in w.value)
    assert "ord" in warning
    assert first[0]["session_id"] in texts(at).replace("\\", "")  # the live successor is named
    assert len(Registry(app_env / "ops.db").active("sandbox", datetime.now(UTC))) == 1  # nothing created
    click(at, "Recreate anyway (two live links)")
    assert len(Registry(app_env / "ops.db").active("sandbox", datetime.now(UTC))) == 2


def test_text_from_the_url_is_shown_as_text(open_page) -> None:
    evil = "[pay](https://evil.example) ![x](https://evil.example/x.png)"
    at = open_page(DETAIL, session=evil)
    assert evil in [c.value for c in at.code]  # shown in a code box, verbatim
    assert all("](https" not in e.value for e in at.error)
    at = open_page(UPDATE, session=evil)
    assert evil in [c.value for c in at.code] and all("](https" not in e.value for e in at.error)
# --- calls with no answer recorded (a console killed mid-call) ------------------------------------

def test_session_detail_lists_an_unanswered_create_and_offers_a_new_session(open_page, app_env: Path) -> None:
    backdated_kill(app_env / "ops.db", ensure_sandbox().base_url, order_id="ord-page")
    at = open_page("pages/session_detail.py")
    assert any(s.value == "Calls with no answer recorded" for s in at.subheader)
    assert any("No answer recorded" in seen(w.value) and f"Create sent by {OPERATOR}" in seen(w.value) for w in at.warning)
    assert any("two sessions are live for this order" in w.value for w in at.warning)
    assert "ord-page" in [c.value for c in at.code]
    assert any("cannot look sessions up" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "New session for the same order").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("New session created for the same order" in s.value for s in at.success)
    assert not any(s.value == "Calls with no answer recorded" for s in at.subheader)
    log = CallLog(app_env / "ops.db")
    assert log.entry(log.count())["kind"] == "attempt_resolution" and log.verify().ok


def test_session_detail_shows_an_unanswered_update_and_records_a_resolution(open_page, app_env: Path) -> None:
    url = ensure_sandbox().base_url
    created = SessionsService(sandbox_base_url=url, db_path=app_env / "ops.db").client("sandbox", OPERATOR).create_session(
        SessionRequest.parse(order("ord-page-upd")))
    backdated_kill(app_env / "ops.db", url, session_id=created.session_id)
    at = open_page("pages/session_detail.py", session=created.session_id)
    assert any(s.value == "Updates with no answer recorded" for s in at.subheader)
    assert any("Amount uncertain" in e.value for e in at.error)  # the session is marked
    assert any("the session's amount is uncertain" in m.value for m in at.markdown)
    at.text_input(key=f"unanswered-note-{CallLog(app_env / 'ops.db').in_flight()[0]['attempt_id']}").input(
        "payment page shows 30.00")
    next(b for b in at.button if b.label == "It took effect (the API holds it)").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Resolution recorded" in s.value for s in at.success)
    row = Registry(app_env / "ops.db").get(created.session_id)
    assert (row["state"], row["amount"]) == ("ok", Decimal("30.00"))
    log = CallLog(app_env / "ops.db")
    assert log.entry(log.count())["detail"]["note"] == "payment page shows 30.00"
