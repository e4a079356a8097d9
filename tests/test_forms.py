"""Form values ↔ request bodies, and dotted paths."""
from __future__ import annotations

from decimal import Decimal

from lib import dotted, forms


def test_lookup_tells_missing_from_a_sent_none() -> None:
    body = {"customer": {"billing": {"email": None}}, "transaction": {"amount": Decimal("1.50")}}
    assert dotted.lookup(body, "customer.billing.email") is None
    assert dotted.lookup(body, "customer.shipping.email") is dotted.MISSING
    assert dotted.lookup(body, "transaction.amount.x") is dotted.MISSING


def test_put_builds_the_objects_on_the_way() -> None:
    body: dict = {}
    dotted.put(body, "customer.billing.phone.number", "123")
    assert body == {"customer": {"billing": {"phone": {"number": "123"}}}}


def test_build_body_leaves_empty_out_and_names_what_cannot_convert() -> None:
    body, problems = forms.build_body({"transaction.amount": "1,234.50", "transaction.order_id": " ab ",
                                       "customer.first_name": "", "company_domains": "https://a.example\n\n"})
    assert body == {"transaction": {"amount": Decimal("1234.50"), "order_id": "ab"},
                    "company_domains": ["https://a.example"]}
    assert problems == []
    _, problems = forms.build_body({"transaction.amount": "12,3x"})
    assert problems == [{"parameter": "transaction.amount", "reason": "transaction.amount must be a number"}]


def test_values_of_round_trips_through_build_body() -> None:
    body = {"transaction": {"order_id": "ord-1", "amount": Decimal("15.02"), "currency": "gbp", "capture": False},
            "payment_methods": ["card"]}
    assert forms.build_body(forms.values_of(body))[0] == body


def test_only_what_changed_is_patched() -> None:
    current = {"transaction": {"order_id": "a1", "amount": Decimal("1.00")}, "tds": {"is_active": True}}
    wanted = {"transaction": {"order_id": "a1", "amount": Decimal("2.00")}, "tds": {"is_active": True}}
    assert forms.changed(current, wanted) == {"transaction": {"amount": Decimal("2.00")}}


def test_curl_keeps_the_token_a_placeholder() -> None:
    command = forms.curl_command("POST", "https://x.example/v1/payment-sessions", {"transaction": {"amount": Decimal("1.5")}})
    assert '"Authorization: Bearer $ACQUIRED_TOKEN"' in command and '"amount":1.5' in command
