"""What people type, generated: every amount and every free-text value lands exactly as meant, or is
refused at its field with nothing sent. Never an exception.

Hypothesis drives the real pages through AppTest. Each generated amount carries what a person
means by it (an exact Decimal) or that it must be refused: the oracle is the intent of the text,
written here independently of the parser under test.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from lib.api.client import Created
from lib.calllog.log import CallLog
from lib.fields.money import plain
from lib.fields.schema import CURRENCIES, Leaf, leaves
from lib.fields.validation import SessionRequest
from lib.sandbox.runtime import ensure_sandbox
from lib.sessions.registry import Registry
from lib.sessions.service import SessionsService
from tests.conftest import REPO
from tests.page_support import field_errors, run
from ui.field_widgets import widget_key

CEILING = Decimal(1_000_000)  # the default ceiling of the forms, in major units of any currency
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass(frozen=True)
class Typed:
    """A text typed into the amount field, and the amount a person means by it (None: not an amount)."""

    text: str
    meant: Decimal | None


def _fraction(minor: int, places: int) -> Decimal:
    return Decimal(minor).scaleb(-places)


@st.composite
def typed_amounts(draw: st.DrawFn, currency: str) -> Typed:
    """Whole, zero, the currency's decimals, one decimal too many, grouped thousands, decimal commas,
    exponents, signs, spaces, very large: each with its meaning."""
    places = CURRENCIES[currency][1]
    value = _fraction(draw(st.integers(0, 10**8)), places)
    plain = f"{value:f}"
    shapes = [
        Typed(str(draw(st.integers(0, 10**6))), None),  # whole: meaning filled in below
        Typed(plain, value),
        Typed(f"{value:,f}", value),  # grouped thousands
        Typed(f"  {plain} ", value),  # white space around
        Typed(f"{plain}{'' if places else '.'}{draw(st.integers(1, 9))}" + ("1" if places else ""), None),
        Typed(f"{draw(st.integers(1, 999))},{draw(st.integers(0, 99)):02d}", None),  # a decimal comma
        Typed(f"{draw(st.integers(1, 9))}e{draw(st.integers(1, 6))}", None),  # an exponent
        Typed(f"{draw(st.sampled_from('+-'))}{plain}", None),  # a sign
        Typed(f"{draw(st.integers(1, 99))} {draw(st.integers(100, 999))}", None),  # a space inside
        Typed(str(draw(st.integers(10**6 + 1, 10**20))), None),  # above any ceiling
    ]
    typed = draw(st.sampled_from(shapes))
    if typed.meant is None and typed.text.isdigit():
        typed = Typed(typed.text, Decimal(typed.text) if int(typed.text) <= 10**6 else None)
    if typed.meant is not None and (typed.meant > CEILING or typed.meant == 0):
        return Typed(typed.text, None)  # above the ceiling, or 0 with capture on: refused at the field
    return typed


def amounts_per_currency() -> st.SearchStrategy[tuple[str, Typed]]:
    return st.sampled_from(sorted(CURRENCIES)).flatmap(lambda c: st.tuples(st.just(c), typed_amounts(c)))


def page(path: str, **query: str) -> AppTest:
    return run(AppTest.from_file(str(REPO / path), default_timeout=30), **query)


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def api_calls(db: Path) -> int:
    log = CallLog(db)
    return sum(log.entry(seq)["kind"] in ("api_request", "api_result") for seq in range(1, log.count() + 1))


# --- New session ------------------------------------------------------------------------------------
@PROPERTY
@example(case=("gbp", Typed("20", Decimal(20))))
@example(case=("jpy", Typed("1500", Decimal(1500))))
@example(case=("gbp", Typed("12,50", None)))
@example(case=("gbp", Typed("1e3", None)))
@example(case=("gbp", Typed("0", None)))
@example(case=("usd", Typed("99,999,999,999", None)))
@given(case=amounts_per_currency())
def test_new_session_stores_exactly_the_amount_meant_or_refuses_it_at_the_field(app_env: Path,
                                                                                 case: tuple[str, Typed]) -> None:
    currency, typed = case
    db = app_env / "ops.db"
    before = api_calls(db)
    order_id = f"prop-{uuid.uuid4().hex[:12]}"
    at = page("pages/new_session.py")
    at.text_input(key=widget_key("transaction.order_id")).input(order_id)
    at.selectbox(key=widget_key("transaction.currency")).set_value(currency)
    at.text_input(key=widget_key("transaction.amount")).input(typed.text)
    at.run()
    click(at, "Create session")
    stored = [s for s in Registry(db).active("sandbox", datetime.now(UTC)) if s["order_id"] == order_id]
    if typed.meant is None:
        assert stored == [] and api_calls(db) == before, typed
        assert "transaction.amount" in field_errors(at), typed
        assert field_errors(at)["transaction.amount"].startswith("Amount: "), typed
    else:
        assert [s["amount"] for s in stored] == [typed.meant], typed
        assert stored[0]["params"]["transaction"]["amount"] == typed.meant
        assert field_errors(at) == {}


# --- Update amount ----------------------------------------------------------------------------------
def create(app_env: Path, currency: str, amount: str) -> Created:
    console = SessionsService(sandbox_base_url=ensure_sandbox().base_url, db_path=app_env / "ops.db")
    body = {"transaction": {"order_id": f"upd-{uuid.uuid4().hex[:12]}", "amount": Decimal(amount), "currency": currency}}
    return console.client("sandbox", "tester@example.com").create_session(SessionRequest.parse(body))


@PROPERTY
@example(case=("gbp", Typed("25", Decimal(25))), start="20")
@example(case=("jpy", Typed("2000", Decimal(2000))), start="1500")
@example(case=("gbp", Typed("30,5", None)), start="20")
@example(case=("eur", Typed("1.234", None)), start="0")
@given(case=amounts_per_currency(), start=st.sampled_from(["20", "0", "7", "1500"]))
def test_update_amount_stores_exactly_the_amount_meant_or_refuses_it_at_the_field(
        app_env: Path, case: tuple[str, Typed], start: str) -> None:
    """Sessions start from whole amounts (20, 0, any JPY amount): the ones that crashed the page."""
    currency, typed = case
    db = app_env / "ops.db"
    created = create(app_env, currency, start)
    before = api_calls(db)
    at = page("pages/update_amount.py", session=created.session_id)
    box = at.text_input(key=widget_key("transaction.amount", f"upd:{created.session_id}"))
    assert box.value == plain(Decimal(start), currency)  # prefilled as text with the currency's decimals
    box.input(typed.text).run()
    assert not at.exception
    confirm = [b for b in at.button if b.label == "Confirm update"]
    if confirm and not confirm[0].disabled:
        click(at, "Confirm update")
    after = Registry(db).get(created.session_id)
    if typed.meant is None:
        assert api_calls(db) == before and after["version"] == 1, typed
        assert "transaction.amount" in field_errors(at), typed
    elif typed.meant == Decimal(start):
        assert after["version"] == 1 and api_calls(db) == before  # nothing changed: nothing to send
    else:
        assert after["amount"] == typed.meant and after["version"] == 2, typed


# --- every free-text field --------------------------------------------------------------------------
TEXT_LEAVES = [leaf for leaf in leaves() if leaf.kind == "string"]
NASTY = ["[pay here](https://evil.example)", "![x](https://evil.example/x.png)", "<b>bold</b><script>x</script>",
         "**Ann** _Smith_", "Zoë O'Brien-Łukasz 山田", "x" * 23, "x" * 51, "y" * 64, "🙂" * 22, "=cmd|' /C calc'!A0",
         ":red[alert] $x^2$ -> <-", " padded "]
texts = st.one_of(st.sampled_from(NASTY),
                  st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=70))


def lookup(body: dict[str, Any], path: str) -> Any:
    node: Any = body
    for name in path.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


@PROPERTY
@example(leaf=next(lf for lf in TEXT_LEAVES if lf.path == "transaction.custom1"), text="y" * 64)
@example(leaf=next(lf for lf in TEXT_LEAVES if lf.path == "customer.last_name"), text="Abcdefghijklmnopqrstuvw")
@example(leaf=next(lf for lf in TEXT_LEAVES if lf.path == "customer.first_name"), text="[pay](https://evil.example)")
@given(leaf=st.sampled_from(TEXT_LEAVES), text=texts)
def test_any_text_in_any_field_is_stored_exactly_or_refused_at_that_field(app_env: Path, leaf: Leaf,
                                                                         text: str) -> None:
    db = app_env / "ops.db"
    before = api_calls(db)
    order_id = f"txt-{uuid.uuid4().hex[:12]}"
    at = page("pages/new_session.py")
    at.text_input(key=widget_key("transaction.order_id")).input(order_id)
    at.text_input(key=widget_key("transaction.amount")).input("10.00")
    at.text_input(key=widget_key(leaf.path)).input(text)
    at.run()
    assert at.text_input(key=widget_key(leaf.path)).value == text  # kept whole, never cut or dropped
    click(at, "Create session")
    problems = field_errors(at)
    sent_order = text if leaf.path == "transaction.order_id" else order_id
    stored = [s for s in Registry(db).active("sandbox", datetime.now(UTC)) if s["order_id"] == sent_order]
    if problems:
        assert set(problems) == {leaf.path}, problems  # refused at this field and nowhere else
        assert problems[leaf.path].startswith(f"{leaf.title}: ")
        assert stored == [] and api_calls(db) == before
    elif not text.strip():
        assert len(stored) == 1 and lookup(stored[0]["params"], leaf.path) is None  # empty: not sent
    else:
        assert len(stored) == 1, (leaf.path, text)
        assert lookup(stored[0]["params"], leaf.path) == text  # exactly as typed


@pytest.mark.parametrize(("path", "text", "reason"), [
    ("transaction.custom1", "y" * 64, "Custom field 1: must be at most 50 characters"),
    ("customer.last_name", "Abcdefghijklmnopqrstuvw", "Last name: must be at most 22 characters"),
    ("customer.dob", "2999-01-01", "Date of birth: must not be in the future"),
    ("transaction.custom_data", "not base64!", "Custom data (base64): format is invalid, must be base64"),
])
def test_a_too_long_or_wrong_value_is_kept_and_named(app_env: Path, path: str, text: str, reason: str) -> None:
    at = page("pages/new_session.py")
    at.text_input(key=widget_key(path)).input(text)
    at.run()
    assert at.text_input(key=widget_key(path)).value == text
    assert field_errors(at)[path] == reason  # shown as soon as it is typed, before any click
