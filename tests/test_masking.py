"""Personal-data masking (lib.access.masking): per path, whole parameter sets, rows, changes and log entries."""
from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.access import masking
from lib.access.masking import MASK, PARAMS, PERSONAL_PATHS, mask_params, mask_rows, mask_value
from lib.fields.schema import leaves

LEAVES = list(leaves())


def test_personal_paths_come_from_the_schema() -> None:
    assert {leaf.path for leaf in LEAVES if leaf.personal} == PERSONAL_PATHS
    for path in ("customer.first_name", "customer.last_name", "customer.dob", "customer.ip",
                 "customer.billing.email", "customer.shipping.phone.number", "customer.billing.address.line_1",
                 "customer.shipping.address.postcode", "customer.billing.address.city",
                 "customer.billing.address.state"):
        assert path in PERSONAL_PATHS
    for path in ("transaction.amount", "transaction.order_id", "transaction.currency", "customer.customer_id",
                 "customer.billing.phone.country_code", "customer.billing.address.country_code", "tds.redirect_url"):
        assert path not in PERSONAL_PATHS


@pytest.mark.parametrize(("path", "value", "masked"), [
    ("customer.billing.email", "eve.smith@example.com", "e***@example.com"),
    ("customer.shipping.email", "Eve@Example.com", "E***@Example.com"),
    ("customer.billing.email", "not-an-email", "n***"),
    ("customer.billing.phone.number", "07700906580", "*** 6580"),
    ("customer.shipping.phone.number", "1234", MASK),  # too short to show any of it
    ("customer.first_name", "Eve", "E***"),
    ("customer.last_name", "Smith", "S***"),
    ("customer.billing.address.line_1", "1 High Street", "1***"),
    ("customer.billing.address.line_2", "Flat 2", "F***"),
    ("customer.shipping.address.city", "London", "L***"),
    ("customer.billing.address.postcode", "SW1A 1AA", "S***"),
    ("customer.billing.address.state", "NY", "N***"),
    ("customer.dob", "1990-05-17", "****-**-**"),
    ("customer.ip", "203.0.113.42", "***.***.***.42"),
    ("customer.ip", "2001:db8::1", MASK),
    ("customer.ip", "garbage", MASK),
    ("customer.first_name", "", ""),  # "not given" is not personal
    ("customer.first_name", None, ""),
    ("customer.first_name", {"odd": "type"}, MASK),
    ("customer.billing.phone.number", 7700906580, "*** 6580"),
])
def test_mask_value_per_path(path: str, value: Any, masked: str) -> None:
    assert mask_value(path, value) == masked


@pytest.mark.parametrize(("path", "value"), [
    ("transaction.amount", Decimal("15.02")), ("transaction.order_id", "order-1"), ("transaction.currency", "gbp"),
    ("customer.customer_id", "0b6e5f8a-3f1e-4b0e-9c1a-8a7d7e8f9a0b"), ("customer.billing.address.country_code", "GB"),
    ("customer.billing.phone.country_code", "44"), ("webhook_url", "https://shop.example.com/hook"),
])
def test_other_fields_stay(path: str, value: Any) -> None:
    assert mask_value(path, value) == value


def _set(params: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        params = params.setdefault(name, {})
    params[last] = value


def _get(params: dict[str, Any], path: str) -> Any:
    for name in path.split("."):
        params = params[name]
    return params


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=2, max_size=30)


@st.composite
def full_params(draw: st.DrawFn) -> dict[str, Any]:
    """A value for every leaf of the schema (personal ones realistic or arbitrary text)."""
    params: dict[str, Any] = {}
    for leaf in LEAVES:
        if leaf.path.endswith("email"):
            value = draw(st.one_of(st.emails(), TEXT))
        elif leaf.path == "customer.ip":
            value = draw(st.one_of(st.ip_addresses().map(str), TEXT))
        elif leaf.path.endswith("phone.number"):
            value = draw(st.one_of(st.text("0123456789", min_size=2, max_size=15), TEXT))
        elif leaf.kind == "number":
            value = draw(st.decimals(min_value=0, max_value=10**6, places=2))
        elif leaf.kind == "boolean":
            value = draw(st.booleans())
        elif leaf.kind == "list":
            value = draw(st.lists(TEXT, max_size=3))
        else:
            value = draw(TEXT)
        _set(params, leaf.path, value)
    return params


@given(full_params())
def test_every_personal_leaf_masked_and_no_other(params: dict[str, Any]) -> None:
    before = copy.deepcopy(params)
    masked = mask_params(params)
    assert params == before  # the input is never modified
    for leaf in LEAVES:
        original, shown = _get(params, leaf.path), _get(masked, leaf.path)
        if leaf.personal:
            assert shown == mask_value(leaf.path, original)
            assert isinstance(shown, str) and shown != original
            if MASK[0] not in str(original):  # a value made of the mask character hides in it
                assert str(original) not in shown  # nothing is shown whole
            assert "***" in shown
        else:
            assert shown == original and type(shown) is type(original)


@given(full_params())
def test_masking_off_is_identity(params: dict[str, Any]) -> None:
    assert mask_params(params, enabled=False) == params


def test_odd_shapes_from_qa_are_still_masked() -> None:
    odd = {"customer": [{"first_name": "Eve"}], "transaction": {"amount": 1}, "extra": {"first_name": "Eve"}}
    assert mask_params(odd) == {"customer": [{"first_name": "E***"}], "transaction": {"amount": 1},
                                "extra": {"first_name": "Eve"}}  # only the schema's paths are personal
    assert mask_params({"customer": {"billing": "Eve Smith, 1 High St"}}) == {"customer": {"billing": "Eve Smith, 1 High St"}}


def test_rows_with_params_json_and_personal_columns() -> None:
    params = {"transaction": {"order_id": "o-1", "amount": Decimal("15.02")}, "customer": {"billing": {"email": "eve@example.com"}}}
    rows = [
        {"Session": "s-1", "Order id": "o-1", "Amount": "15.02 GBP", "Email": "eve@example.com",
         "Params": json.dumps({"customer": {"first_name": "Eve"}}), "Raw": params},
        {"Session": "s-2", "Order id": "o-2", "Amount": "1.00 GBP", "Email": None, "Params": "not json", "Raw": {}},
    ]
    columns = {"Email": "customer.billing.email", "Params": PARAMS, "Raw": PARAMS}
    masked = mask_rows(rows, columns)
    assert masked[0] == {"Session": "s-1", "Order id": "o-1", "Amount": "15.02 GBP", "Email": "e***@example.com",
                         "Params": '{"customer":{"first_name":"E***"}}',
                         "Raw": {"transaction": {"order_id": "o-1", "amount": Decimal("15.02")},
                                 "customer": {"billing": {"email": "e***@example.com"}}}}
    assert masked[1]["Email"] == "" and masked[1]["Params"] == MASK  # unreadable JSON is hidden whole
    assert rows[0]["Email"] == "eve@example.com"
    assert mask_rows(rows, columns, enabled=False) == rows
    with pytest.raises(ValueError, match="transaction.amount"):
        mask_rows(rows, {"Amount": "transaction.amount"})


def test_changes_and_entry() -> None:
    changes = [{"path": "transaction.amount", "before": Decimal("15.02"), "after": Decimal("20.00")},
               {"path": "customer.first_name", "before": "Eve", "after": "Evelyn"},
               {"path": "customer.shipping", "before": None, "after": {"email": "eve@example.com"}}]
    masked = masking.mask_changes(changes)
    assert masked[0] == changes[0]
    assert (masked[1]["before"], masked[1]["after"]) == ("E***", "E***")
    assert masked[2]["after"] == {"email": "e***@example.com"} and masked[2]["before"] is None

    entry = {"seq": 3, "kind": "api_request", "operator": "alice@example.com",
             "detail": {"url": "u", "headers": {"Authorization": "[REDACTED]"},
                        "body": {"customer": {"ip": "10.0.0.7"}, "transaction": {"order_id": "o-1"}}}}
    assert masking.mask_entry(entry)["detail"]["body"] == {"customer": {"ip": "***.***.***.7"},
                                                           "transaction": {"order_id": "o-1"}}
    assert masking.mask_entry(entry, enabled=False) is entry
    assert masking.mask_entry({"seq": 1, "detail": None}) == {"seq": 1, "detail": None}
