"""Any answer the API gives is recorded: exact numbers, raw text under a marker, the session registered.

The sandbox's ``answer=<kind>`` fault handles the request for real (the session exists) and then
answers with one hostile member in front of the others; the client must still write the result
entry, register the session and keep the chain verifiable.
"""
from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.api.client import Client
from lib.calllog.log import CallLog
from lib.common import jsonutil
from lib.sandbox.faults import HEADER as FAULT
from lib.sandbox.faults import HOSTILE_MEMBERS
from lib.sessions.registry import Registry
from tests.sandbox_support import RECORDER, order, sandbox_env


def client(sandbox, log: CallLog, fault: str | None = None) -> Client:
    return Client(sandbox_env(sandbox.base_url), operator="ann", log=log, recorder=RECORDER, headers={FAULT: fault} if fault else None)


def result_of(log: CallLog, attempt_id: str) -> dict:
    found = [e for e in (log.entry(s) for s in range(1, log.count() + 1))
             if e["attempt_id"] == attempt_id and e["kind"] == "api_result"]
    assert len(found) == 1, found
    return found[0]


# --- jsonutil: what cannot be written exactly is refused, what can is kept exactly ---------------------

def test_decimals_are_written_with_their_own_digits() -> None:
    value = {"fee": Decimal("0.12345678901234567890"), "big": Decimal("1E+400"), "amount": Decimal("15.02")}
    text = jsonutil.dumps(value)
    assert text == '{"fee":0.12345678901234567890,"big":1E+400,"amount":15.02}'
    assert jsonutil.loads(text) == value
    assert jsonutil.loads("1" * 5000) == Decimal("1" * 5000)  # beyond Python's int conversion limit


@pytest.mark.parametrize("text, reason", [
    ("[" * 10_000 + "]" * 10_000, "nested more than"),
    ("[" * 101 + "]" * 101, "nested more than 100 levels"),
    ('{"a": 1e99999999999999999999}', "can be kept exactly"),
    ('{"a": NaN}', "not a JSON number"),
])
def test_loads_refuses_with_value_errors_only(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        jsonutil.loads(text)


def test_dumps_refuses_lone_surrogates_and_depth() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        jsonutil.dumps({"note": "\ud800"})
    deep: list = []
    for _ in range(jsonutil.MAX_DEPTH):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        jsonutil.dumps(deep)


_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | \
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
_json = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                         max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_dumps_writes_what_the_standard_library_writes(value) -> None:  # type: ignore[no-untyped-def]
    assert jsonutil.dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert jsonutil.dumps(value, pretty=True) == json.dumps(value, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("kind", sorted(HOSTILE_MEMBERS))
def test_read_answer_keeps_the_raw_text_and_the_session_id(kind: str) -> None:
    raw = b"{" + HOSTILE_MEMBERS[kind] + b',"session_id":"s-1"}'
    answer = jsonutil.read_answer(raw)
    assert answer.members["session_id"] == "s-1"
    recorded = answer.recorded
    jsonutil.dumps(recorded)  # always writable
    if answer.unparsed_reason is None:  # numbers that can be kept exactly are kept as numbers
        assert kind in ("long-decimal", "huge-exponent")
        assert jsonutil.dumps(recorded) == raw.decode().replace("1e400", "1E+400")
    elif jsonutil.UNPARSED in recorded:
        assert recorded[jsonutil.UNPARSED] == raw.decode("utf-8") and recorded["reason"] == answer.unparsed_reason
    else:
        assert base64.b64decode(recorded[jsonutil.UNPARSED_BASE64]) == raw and kind == "raw-surrogate"


# --- the client: every answer recorded, the session registered ---------------------------------------

@pytest.mark.parametrize("kind", sorted(HOSTILE_MEMBERS))
def test_a_hostile_created_answer_is_recorded_and_the_session_registered(sandbox, log: CallLog, kind: str) -> None:
    created = client(sandbox, log, f"answer={kind}").create_session(order(f"ord-{kind}"))
    row = Registry(log.db_path).get(created.session_id)
    assert row is not None and row["order_id"] == f"ord-{kind}" and row["create_seq"] == created.entry_seq
    result = result_of(log, created.attempt_id)
    assert result["outcome"] == "ok" and result["http_status"] == 201 and result["session_id"] == created.session_id
    assert log.in_flight() == []
    recorded = result["detail"]["body"]
    if kind == "long-decimal":
        assert recorded == {"fee": Decimal("0.12345678901234567890"), "session_id": created.session_id}
    elif kind == "huge-exponent":
        assert recorded == {"fee": Decimal("1E+400"), "session_id": created.session_id}
    else:
        assert "reason" in recorded and ({jsonutil.UNPARSED, jsonutil.UNPARSED_BASE64} & recorded.keys())
    assert log.verify().message == f"OK ({log.count()} entries)"


@pytest.mark.parametrize("kind", ["deep", "escaped-surrogate", "raw-surrogate"])
def test_a_hostile_update_answer_is_recorded_and_the_update_registered(sandbox, log: CallLog, kind: str) -> None:
    created = client(sandbox, log).create_session(order("ord-upd"))
    updated = client(sandbox, log, f"answer={kind}").update_session(
        created.session_id, {"transaction": {"amount": Decimal("20.00")}})
    assert Registry(log.db_path).get(created.session_id)["amount"] == Decimal("20.00")
    assert result_of(log, updated.attempt_id)["outcome"] == "ok"
    assert log.in_flight() == [] and log.verify().ok


def test_an_unwritable_detail_value_never_loses_the_entry(log: CallLog) -> None:
    seq = log.append("api_result", operator="ann", environment="sandbox",
                     detail={"headers": {"A": "b"}, "body": {"note": "\ud800"}, "odd": {1, 2}})
    detail = log.entry(seq)["detail"]
    assert detail["headers"] == {"A": "b"}
    assert "lone surrogate" in detail["body"]["unrecordable"] and "unrecordable" in detail["odd"]
    assert log.verify().ok
