"""AppTest of the New session page."""
from __future__ import annotations

from datetime import datetime, timezone

from lib.calllog import CallLog
from lib.fields import leaves
from lib.registry import Registry
from ui.form import widget_key


def fill(at, **values: str):  # type: ignore[no-untyped-def]
    for path, value in values.items():
        at.text_input(key=widget_key(path.replace("__", "."))).input(value)
    at.run()
    return at


def click(at, label: str):  # type: ignore[no-untyped-def]
    next(b for b in at.button if b.label == label).click()
    at.run()
    return at


def test_every_field_of_the_description_has_a_widget(open_page) -> None:
    at = open_page()
    keys = {w.key for kind in ("text_input", "selectbox", "checkbox", "multiselect", "text_area")
            for w in getattr(at, kind)}
    missing = [leaf.path for leaf in leaves() if widget_key(leaf.path) not in keys]
    assert missing == []


def test_create_happy_path_shows_id_link_and_qr(open_page, app_env) -> None:
    at = fill(open_page(), transaction__amount="15.02")
    assert at.selectbox(key=widget_key("transaction.currency")).value == "gbp"
    preview = at.code[0].value
    assert '"amount": 15.02' in preview and '"currency": "gbp"' in preview
    click(at, "Create session")
    assert not at.exception
    assert "15.02 GBP" in at.success[0].value
    sessions = Registry(app_env / "ops.db").active("sandbox", datetime.now(timezone.utc))
    assert len(sessions) == 1
    session_id = sessions[0]["session_id"]
    codes = [c.value for c in at.code]
    assert session_id in codes
    assert any(f"/checkout/{session_id}" in c for c in codes)  # the message for the customer carries the link
    assert len(at.image) == 1  # the QR code
    assert at.download_button[0].label == "Download QR (PNG)"


def test_bad_input_shows_per_field_errors_and_sends_nothing(open_page, app_env) -> None:
    at = fill(open_page(), transaction__amount="12.345", transaction__order_id="x", customer__first_name="")
    click(at, "Create session")
    errors = [e.value for e in at.error]
    assert "transaction.amount must have at most 2 decimal places" in errors
    assert "transaction.order_id format is invalid, must be 2-50 letters, digits, _ or -" in errors
    assert any("Nothing was sent" in e for e in errors)
    log = CallLog(app_env / "ops.db")
    assert [log.entry(seq)["kind"] for seq in range(1, log.count() + 1)] == ["session_start"]  # no API call


def test_a_create_refused_by_a_locked_log_is_explained_at_the_button(app_env, monkeypatch, open_page) -> None:
    import sqlite3

    monkeypatch.setenv("OPS_BUSY_TIMEOUT_S", "0.1")  # another writer's lock is given up on quickly
    at = fill(open_page(), transaction__amount="15.02")
    holder = sqlite3.connect(app_env / "ops.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a stuck writer elsewhere
    try:
        click(at, "Create session")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not at.exception, [e.message for e in at.exception]
    assert any("The call log cannot be written" in e.value and "write lock for more than 0.1 s" in e.value
               for e in at.error)
    assert any("Nothing was sent to the API." in t.value for t in at.text)
    assert str(app_env / "ops.db") in [c.value for c in at.code]
    log = CallLog(app_env / "ops.db")
    assert [log.entry(seq)["kind"] for seq in range(1, log.count() + 1)] == ["session_start"]  # nothing sent
