"""AppTest of the New session page."""
from __future__ import annotations

from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from lib.calllog.log import CallLog
from lib.fields.schema import leaves
from lib.sessions.registry import Registry
from tests.page_support import errors, field_errors
from ui.field_widgets import widget_key


def fill(at: AppTest, **values: str) -> AppTest:
    for path, value in values.items():
        at.text_input(key=widget_key(path.replace("__", "."))).input(value)
    at.run()
    return at


def click(at: AppTest, label: str) -> AppTest:
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
    sessions = Registry(app_env / "ops.db").active("sandbox", datetime.now(UTC))
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
    assert field_errors(at) == {
        "transaction.amount": "Amount: must have at most 2 decimal places",
        "transaction.order_id": "Order id: format is invalid, must be 2-50 letters, digits, _ or -",
    }
    assert any("Nothing was sent" in e for e in errors(at))
    log = CallLog(app_env / "ops.db")
    assert [log.entry(seq)["kind"] for seq in range(1, log.count() + 1)] == ["tab_start"]  # no API call


def keys_in_order(at: AppTest, prefix: str) -> list[str]:
    """Widget keys under ``prefix`` in the order the page draws them (its DOM and tab order)."""
    found, stack = [], [at.main]
    while stack:
        element = stack.pop(0)
        key = getattr(element, "key", None)
        if isinstance(key, str) and key.startswith(widget_key(prefix)):
            found.append(key.removeprefix(widget_key("")))
        stack[:0] = list(getattr(element, "children", {}).values())
    return found


def test_customer_fields_follow_a_postal_address_and_shipping_is_named_once(open_page) -> None:
    at = open_page()
    assert keys_in_order(at, "customer.billing.") == [
        "customer.billing.address.line_1", "customer.billing.address.line_2", "customer.billing.address.city",
        "customer.billing.address.state", "customer.billing.address.postcode", "customer.billing.address.country_code",
        "customer.billing.email", "customer.billing.phone.country_code", "customer.billing.phone.number"]
    assert keys_in_order(at, "customer.shipping.")[:2] == ["customer.shipping.address_match",
                                                           "customer.shipping.address.line_1"]
    assert [m.value for m in at.markdown].count("**Shipping**") == 1
    assert "Shipping" not in [c.value for c in at.caption]


def test_shipping_matches_billing_fills_the_shipping_address(open_page) -> None:
    at = open_page()
    billing = {"line_1": "1 High Street", "line_2": "Flat 2", "city": "Leeds", "postcode": "LS1 1AA",
               "country_code": "GB"}
    for name, value in billing.items():
        at.text_input(key=widget_key(f"customer.billing.address.{name}")).input(value)
    at.run()
    at.selectbox(key=widget_key("customer.shipping.address_match")).set_value(True).run()
    for name, value in billing.items():
        assert at.text_input(key=widget_key(f"customer.shipping.address.{name}")).value == value
    assert '"address_match": true' in at.code[0].value


def test_the_amount_help_states_the_ceiling(open_page) -> None:
    at = open_page()
    amount = at.text_input(key=widget_key("transaction.amount"))
    assert "at most 1,000,000.00 GBP" in amount.help
    at.selectbox(key=widget_key("transaction.currency")).set_value("jpy").run()
    assert "JPY: no decimals, at most 1,000,000 JPY" in at.text_input(key=widget_key("transaction.amount")).help


def test_a_created_session_that_expires_is_shown_expired_without_message_or_qr(open_page, app_env) -> None:
    from datetime import timedelta

    from lib.fields.validation import SessionRequest
    from lib.sandbox.runtime import ensure_sandbox
    from lib.sessions.service import SessionsService

    behind = SessionsService(ensure_sandbox().base_url, app_env / "ops.db",
                     clock=lambda: datetime.now(UTC) - timedelta(minutes=11))
    body = {"transaction": {"order_id": "ord-gone", "amount": 20, "currency": "gbp"}}
    old = behind.client("sandbox", "tester@example.com").create_session(SessionRequest.parse(body))
    at = open_page()
    at.session_state["new_session_created"] = old
    at.run()
    assert not at.exception
    assert any("expired at" in w.value and "no longer takes a payment" in w.value for w in at.warning)
    assert not at.success and len(at.image) == 0  # no QR code
    codes = [c.value for c in at.code]
    assert not any("Please pay" in c for c in codes)  # the message inviting payment is withdrawn
    assert any(c.endswith(f"/checkout/{old.session_id}") for c in codes)  # the link itself, as text
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
    assert [log.entry(seq)["kind"] for seq in range(1, log.count() + 1)] == ["tab_start"]  # nothing sent
