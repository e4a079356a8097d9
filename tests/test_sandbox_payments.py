"""The sandbox pays, over real HTTP: test cards, 3-D Secure, capture on and off, one payment per
session, expired links, /v1/transactions and the money operations with their state rules."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from lib.common.jsonutil import dumps, loads
from lib.fields.validation import ActionRequest, InvalidRequest, validate_action
from lib.sandbox import SandboxServer
from lib.sandbox.cards import luhn_valid, read_card
from tests.clocks import FakeClock
from tests.conftest import MakeSandbox

CONFLICT = {"status": "error", "error_type": "conflict",
            "title": "There was a conflict when trying to complete your request."}
VALIDATION = {"status": "error", "error_type": "validation",
              "title": "Your request parameters did not pass our validation."}
GOOD = {"number": "4111 1111 1111 1111", "expiry": "12/35", "cvc": "123", "holder": "Ada Lovelace"}



class Api:
    """A signed-in client of one sandbox."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.base = sandbox.base_url
        reply = requests.post(f"{self.base}/v1/login", json={"app_id": "sandbox", "app_key": "sandbox"}, timeout=5)
        self.headers = {"Authorization": f"Bearer {reply.json()['access_token']}", "Content-Type": "application/json"}

    def session(self, amount: Any = Decimal("15.02"), currency: str = "gbp", capture: bool | None = None,
                order_id: str | None = None, **extra: Any) -> tuple[str, str]:
        order_id = order_id or f"ord-{uuid.uuid4().hex[:10]}"
        txn: dict[str, Any] = {"order_id": order_id, "amount": amount, "currency": currency}
        if capture is not None:
            txn["capture"] = capture
        reply = requests.post(f"{self.base}/v1/payment-sessions", data=dumps({"transaction": txn, **extra}),
                              headers=self.headers, timeout=5)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["session_id"]), order_id

    def pay(self, session_id: str, **card: str) -> requests.Response:
        return requests.post(f"{self.base}/checkout/{session_id}", data={**GOOD, **card}, timeout=10)

    def transactions(self, **query: Any) -> dict[str, Any]:
        reply = requests.get(f"{self.base}/v1/transactions", params=query, headers=self.headers, timeout=5)
        assert reply.status_code == 200, reply.text
        return dict(loads(reply.content))

    def only(self, order_id: str) -> dict[str, Any]:
        found = self.transactions(order_id=order_id)["data"]
        assert len(found) == 1, found
        return dict(found[0])

    def get(self, transaction_id: str) -> requests.Response:
        return requests.get(f"{self.base}/v1/transactions/{transaction_id}", headers=self.headers, timeout=5)

    def act(self, kind: str, transaction_id: str, body: Any = None) -> requests.Response:
        data = "" if body is None else dumps(body)
        return requests.post(f"{self.base}/v1/transactions/{transaction_id}/{kind}", data=data,
                             headers=self.headers, timeout=10)

    def amounts(self, transaction_id: str) -> dict[str, Decimal]:
        return dict(loads(self.get(transaction_id).content)["amounts"])


@pytest.fixture
def api(sandbox: SandboxServer) -> Api:
    return Api(sandbox)


def paid(api: Api, capture: bool | None = None, amount: Any = Decimal("15.02"), currency: str = "gbp") -> str:
    """The id of a successful payment on a new session."""
    session_id, order_id = api.session(amount, currency, capture)
    assert api.pay(session_id).status_code == 200
    return str(api.only(order_id)["transaction_id"])


# Test cards ---------------------------------------------------------------------------------

@pytest.mark.parametrize("number, status, reason, words", [
    ("4111 1111 1111 1111", "success", None, "This payment link has been paid"),
    ("5555 5555 5555 4444", "success", None, "This payment link has been paid"),  # any other Luhn-valid number
    ("4000 0000 0000 0002", "declined", "do_not_honor", "Your bank declined the payment"),
    ("4000-0000-0000-9995", "declined", "insufficient_funds", "not enough funds"),
    ("4000000000000101", "blocked", "fraud_suspected", "blocked because it looked like fraud"),
    ("4000 0000 0000 0119", "error", "processing_error", "could not be processed"),
])
def test_each_test_card_gives_its_outcome(api: Api, number: str, status: str, reason: str | None, words: str) -> None:
    session_id, order_id = api.session()
    page = api.pay(session_id, number=number)
    assert page.status_code == 200 and f"/checkout/{session_id}/result/" in page.url
    assert words in page.text
    txn = api.only(order_id)
    assert (txn["status"], txn["reason"]) == (status, reason)
    digits = number.replace(" ", "").replace("-", "")
    assert txn["card"] == {"number": digits[:6] + "******" + digits[-4:], "expiry": "12/35", "holder": "Ada Lovelace",
                           "scheme": "visa" if digits[0] == "4" else "mastercard"}
    assert txn["bin"] == digits[:6] and txn["transaction"] == {
        "order_id": order_id, "amount": Decimal("15.02"), "currency": "gbp", "moto": False, "capture": True}
    assert uuid.UUID(txn["transaction_id"]) and txn["created"].endswith("Z") and txn["payment_method"] == "card"
    assert (txn["authorisation_code"] is not None) is (status == "success")
    authorised = Decimal("15.02") if status == "success" else Decimal(0)
    assert txn["amounts"] == {"authorised": authorised, "captured": authorised, "refunded": 0, "voided": 0}
    assert ('id="retry"' in page.text) is (status != "success")  # a declined attempt may be retried


def test_a_declined_payment_can_be_retried_and_then_the_link_is_paid(api: Api) -> None:
    session_id, order_id = api.session()
    assert "Try another card" in api.pay(session_id, number="4000000000000002").text
    assert api.pay(session_id).status_code == 200
    statuses = [t["status"] for t in api.transactions(order_id=order_id)["data"]]
    assert statuses == ["success", "declined"]  # newest first
    again = requests.get(f"{api.base}/checkout/{session_id}", timeout=5)
    assert again.status_code == 200 and 'data-state="paid"' in again.text and "card-form" not in again.text


# 3-D Secure ----------------------------------------------------------------------------------

@pytest.mark.parametrize("decision, status, eci", [("approve", "success", "05"), ("fail", "tds_failed", None),
                                                   ("timeout", "tds_expired", None)])
def test_the_challenge_card_asks_for_3ds(api: Api, decision: str, status: str, eci: str | None) -> None:
    session_id, order_id = api.session()
    challenge = api.pay(session_id, number="4000 0000 0000 3220")
    assert challenge.status_code == 200 and "/3ds/" in challenge.url and 'id="approve"' in challenge.text
    assert api.only(order_id)["status"] == "tds_pending"
    link = requests.get(f"{api.base}/checkout/{session_id}", timeout=5)
    assert 'data-state="tds_pending"' in link.text  # the link waits for the check, takes no other card
    assert api.pay(session_id).status_code == 409
    result = requests.post(challenge.url, data={"decision": decision}, timeout=5)
    assert result.status_code == 200 and "/result/" in result.url
    txn = api.only(order_id)
    assert txn["status"] == status and txn["tds"]["eci"] == eci
    assert ("This payment link has been paid" in result.text) is (status == "success")
    # Answering again changes nothing.
    requests.post(challenge.url, data={"decision": "approve"}, timeout=5)
    assert api.only(order_id)["status"] == status


def test_a_challenge_left_unanswered_expires_at_its_deadline(make_sandbox: MakeSandbox) -> None:
    api = Api(make_sandbox(tds_timeout_seconds=0.3))
    session_id, order_id = api.session()
    challenge = api.pay(session_id, number="4000000000003220")
    deadline = time.monotonic() + 10
    while api.only(order_id)["status"] == "tds_pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.only(order_id)["status"] == "tds_expired"
    late = requests.post(challenge.url, data={"decision": "approve"}, timeout=5)
    assert "timed out" in late.text and api.only(order_id)["status"] == "tds_expired"


def test_a_challenge_answer_that_is_not_one_of_the_buttons_is_refused(api: Api) -> None:
    session_id, order_id = api.session()
    challenge = api.pay(session_id, number="4000000000003220")
    assert requests.post(challenge.url, data={"decision": "maybe"}, timeout=5).status_code == 400
    assert api.only(order_id)["status"] == "tds_pending"


# Capture on and off; one payment per session; expiry ------------------------------------------

@pytest.mark.parametrize("capture, kind, state, captured", [(True, "auth_capture", "paid", Decimal("15.02")),
                                                            (None, "auth_capture", "paid", Decimal("15.02")),
                                                            (False, "auth_only", "authorised", Decimal(0))])
def test_capture_is_honoured(api: Api, capture: bool | None, kind: str, state: str, captured: Decimal) -> None:
    session_id, order_id = api.session(capture=capture)
    page = api.pay(session_id)
    assert f'data-state="{state}"' in page.text
    txn = api.only(order_id)
    assert txn["transaction_type"] == kind and txn["amounts"]["captured"] == captured
    assert txn["transaction"]["capture"] is (capture is not False)


def test_a_session_takes_one_successful_payment(api: Api) -> None:
    session_id, order_id = api.session()
    assert api.pay(session_id).status_code == 200
    second = api.pay(session_id, number="5555555555554444")
    assert second.status_code == 409 and "already taken its payment" in second.text
    assert [t["status"] for t in api.transactions(order_id=order_id)["data"]] == ["success"]


def test_two_concurrent_submissions_make_one_payment(api: Api) -> None:
    for _ in range(3):
        session_id, order_id = api.session()
        barrier = threading.Barrier(4)

        def submit(_: int, barrier: threading.Barrier = barrier, session_id: str = session_id) -> int:
            barrier.wait()
            return api.pay(session_id).status_code

        with ThreadPoolExecutor(4) as pool:
            codes = sorted(pool.map(submit, range(4)))
        assert codes == [200, 409, 409, 409]
        assert [t["status"] for t in api.transactions(order_id=order_id)["data"]] == ["success"]


def test_an_expired_link_takes_no_payment(make_sandbox: MakeSandbox, clock: FakeClock) -> None:
    api = Api(make_sandbox(clock=clock))
    session_id, order_id = api.session()
    clock.advance(timedelta(minutes=10))
    assert requests.get(f"{api.base}/sandbox/sessions/{session_id}", timeout=5).json()["expired"]
    page = api.pay(session_id)
    assert page.status_code == 410 and "This payment link has expired" in page.text
    assert api.transactions(order_id=order_id)["meta"]["count"] == 0


def test_a_paid_link_still_says_paid_after_it_expires(make_sandbox: MakeSandbox, clock: FakeClock) -> None:
    api = Api(make_sandbox(clock=clock))
    session_id, _ = api.session(capture=False)
    api.pay(session_id)
    clock.advance(timedelta(minutes=10))
    assert requests.get(f"{api.base}/sandbox/sessions/{session_id}", timeout=5).json()["expired"]
    page = requests.get(f"{api.base}/checkout/{session_id}", timeout=5)
    assert page.status_code == 200 and "This payment has been authorised" in page.text


# The card form ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field, typed, reason", [
    ("number", "4111 1111 1111 1112", "Card number is not valid"),
    ("number", "", "Card number can not be empty"),
    ("number", "4111x", "Card number must be 12-19 digits"),
    ("expiry", "01/20", "Expiry date is in the past"),
    ("expiry", "13/30", "Expiry date format is invalid, must be MM/YY"),
    ("cvc", "", "CVC can not be empty"),
    ("cvc", "12", "CVC must be 3 or 4 digits"),
    ("holder", "", "Cardholder name can not be empty"),
])
def test_a_refused_form_says_why_at_the_field_keeps_what_was_typed_and_pays_nothing(
        api: Api, field: str, typed: str, reason: str) -> None:
    session_id, order_id = api.session()
    page = api.pay(session_id, **{field: typed, "holder": "<b>Ada</b> & co" if field != "holder" else ""})
    assert page.status_code == 400 and f'id="{field}-error">{reason}' in page.text
    assert f'id="{field}" name="{field}" value="{typed}"' in page.text
    if field != "holder":  # what the customer typed comes back escaped
        assert 'value="&lt;b&gt;Ada&lt;/b&gt; &amp; co"' in page.text and "<b>Ada" not in page.text
    assert api.transactions(order_id=order_id)["meta"]["count"] == 0


def test_the_card_rules_as_units() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert read_card({**GOOD, "expiry": "12/26"}, now).card is not None  # valid to the end of its month
    assert read_card({**GOOD, "expiry": "11/26"}, now).problems == {"expiry": "Expiry date is in the past: this card "
                                                                              "has expired"}
    assert set(read_card({}, now).problems) == {"number", "expiry", "cvc", "holder"}


# /v1/transactions -------------------------------------------------------------------------------

def test_unknown_transactions_are_404(api: Api) -> None:
    unknown = str(uuid.uuid4())
    assert api.get(unknown).status_code == 404
    for kind in ("capture", "void", "refund", "reversal"):
        reply = api.act(kind, unknown, {"amount": 1})
        assert reply.status_code == 404 and reply.json()["error_type"] == "not_found"


def test_transactions_need_a_token(api: Api) -> None:
    assert requests.get(f"{api.base}/v1/transactions", timeout=5).status_code == 401


def test_the_list_pages_newest_first_and_filters(api: Api) -> None:
    session_id, order_id = api.session()
    for number in ("4000000000000002", "4000000000009995", "4000000000000119", "4111111111111111"):
        api.pay(session_id, number=number)
    listed = api.transactions(order_id=order_id)
    assert listed["meta"] == {"count": 4, "limit": 25, "offset": 0}
    assert [t["status"] for t in listed["data"]] == ["success", "error", "declined", "declined"]
    page = api.transactions(order_id=order_id, limit=2, offset=1)
    assert page["meta"] == {"count": 4, "limit": 2, "offset": 1} and [t["status"] for t in page["data"]] == [
        "error", "declined"]
    assert api.transactions(order_id=order_id, status="declined")["meta"]["count"] == 2
    assert api.transactions(order_id="nobody")["data"] == []


@pytest.mark.parametrize("query, parameter", [({"limit": "101"}, "limit"), ({"limit": "0"}, "limit"),
                                              ({"limit": "x"}, "limit"), ({"offset": "-1"}, "offset"),
                                              ({"status": "paid"}, "status")])
def test_a_bad_list_query_is_refused_at_the_field(api: Api, query: dict[str, str], parameter: str) -> None:
    reply = requests.get(f"{api.base}/v1/transactions", params=query, headers=api.headers, timeout=5)
    assert reply.status_code == 400 and reply.json()["invalid_parameters"][0]["parameter"] == parameter


# Money operations ------------------------------------------------------------------------------

def conflict(reply: requests.Response, parameter: str, words: str) -> None:
    assert reply.status_code == 409, reply.text
    body = reply.json()
    assert {k: body[k] for k in CONFLICT} == CONFLICT and body["instance"].startswith("/v1/transactions/")
    assert [p["parameter"] for p in body["invalid_parameters"]] == [parameter]
    assert words in body["invalid_parameters"][0]["reason"], body


def success(reply: requests.Response) -> str:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success"
    return str(uuid.UUID(body["transaction_id"]))


def test_capture_once_partially_then_refund_what_was_captured(api: Api) -> None:
    tid = paid(api, capture=False)
    conflict(api.act("capture", tid, {"amount": Decimal("15.03")}), "amount", "at most 15.02 GBP")
    action = success(api.act("capture", tid, {"amount": 10}))
    assert api.amounts(tid) == {"authorised": Decimal("15.02"), "captured": 10, "refunded": 0, "voided": 0}
    conflict(api.act("capture", tid), "transaction_id", "already been captured")
    conflict(api.act("void", tid), "transaction_id", "already been captured")
    conflict(api.act("refund", tid, {"amount": Decimal("10.01")}), "amount", "at most 10.00 GBP")
    success(api.act("refund", tid, {"amount": 4, "reference": "part 1"}))
    success(api.act("refund", tid, {"amount": 6}))
    conflict(api.act("refund", tid, {"amount": Decimal("0.01")}), "transaction_id", "refunded in full")
    txn = loads(api.get(tid).content)
    assert txn["status"] == "success" and txn["amounts"]["refunded"] == 10
    assert [(a["type"], a["amount"], a["reference"]) for a in txn["actions"]] == [
        ("capture", 10, None), ("refund", 4, "part 1"), ("refund", 6, None)]
    assert txn["actions"][0]["transaction_id"] == action


def test_capture_without_amount_takes_all_authorised(api: Api) -> None:
    tid = paid(api, capture=False, amount=1500, currency="jpy")
    success(api.act("capture", tid))
    assert api.amounts(tid)["captured"] == 1500


def test_a_captured_payment_cannot_be_captured_or_voided(api: Api) -> None:
    tid = paid(api)
    conflict(api.act("capture", tid), "transaction_id", "already been captured")
    conflict(api.act("void", tid), "transaction_id", "refund it instead")


def test_void_only_an_uncaptured_authorisation(api: Api) -> None:
    tid = paid(api, capture=False)
    conflict(api.act("refund", tid, {"amount": 1}), "transaction_id", "void it instead")
    success(api.act("void", tid))
    assert api.amounts(tid)["voided"] == Decimal("15.02")
    conflict(api.act("void", tid), "transaction_id", "already been voided")
    conflict(api.act("capture", tid), "transaction_id", "already been voided")
    conflict(api.act("reversal", tid), "transaction_id", "already been voided")


def test_a_failed_payment_takes_no_money_operation(api: Api) -> None:
    session_id, order_id = api.session(capture=False)
    api.pay(session_id, number="4000000000000002")
    tid = api.only(order_id)["transaction_id"]
    for kind in ("capture", "void", "refund", "reversal"):
        conflict(api.act(kind, tid, {"amount": 1}), "transaction_id", "is declined")


def test_reversal_voids_or_refunds_whichever_applies(api: Api) -> None:
    uncaptured = paid(api, capture=False)
    conflict(api.act("reversal", uncaptured, {"amount": 1}), "amount", "reversed whole")
    success(api.act("reversal", uncaptured))
    assert api.amounts(uncaptured)["voided"] == Decimal("15.02")
    captured = paid(api)
    success(api.act("refund", captured, {"amount": 5}))
    success(api.act("reversal", captured, {"reference": "sorry"}))
    assert api.amounts(captured)["refunded"] == Decimal("15.02")
    conflict(api.act("reversal", captured), "transaction_id", "refunded in full")


@pytest.mark.parametrize("kind, body, parameter, reason", [
    ("refund", {}, "amount", "amount can not be empty"),
    ("refund", {"amount": 0}, "amount", "amount must be more than zero"),
    ("refund", {"amount": -1}, "amount", "amount must be more than zero"),
    ("refund", {"amount": Decimal("1.001")}, "amount", "amount must have at most 2 decimal places"),
    ("refund", {"amount": "1"}, "amount", "amount must be a number"),
    ("refund", {"amount": 1, "reference": "x" * 19}, "reference",
     "reference format is invalid, must be 1-18 letters, digits, spaces, _ or -"),
    ("refund", {"amount": 1, "reference": ""}, "reference",
     "reference format is invalid, must be 1-18 letters, digits, spaces, _ or -"),
    ("capture", {"amount": 10**12}, "amount", "amount must be less than 1000000000000"),
    ("reversal", {"webhook_url": "not a url"}, "webhook_url", "webhook_url must be a valid URL"),
    ("void", [], "body", "body must be a JSON object"),
])
def test_a_malformed_body_is_400_at_the_field(api: Api, kind: str, body: Any, parameter: str, reason: str) -> None:
    tid = paid(api, capture=False)
    reply = api.act(kind, tid, body)
    assert reply.status_code == 400, reply.text
    assert reply.json() == {**VALIDATION, "instance": f"/v1/transactions/{tid}/{kind}",
                            "invalid_parameters": [{"parameter": parameter, "reason": reason}]}
    assert api.amounts(tid)["captured"] == 0


def test_a_yen_amount_has_no_decimals(api: Api) -> None:
    tid = paid(api, amount=1500, currency="jpy")
    reply = api.act("refund", tid, {"amount": Decimal("1.5")})
    assert reply.json()["invalid_parameters"] == [{"parameter": "amount", "reason": "amount must have no decimal places"}]


def test_the_client_pre_check_is_the_same_validation() -> None:
    assert validate_action("refund", {"amount": Decimal("1.5")}, "jpy") == [
        {"parameter": "amount", "reason": "amount must have no decimal places"}]
    assert ActionRequest.parse("capture", {}, "gbp").body == {}
    with pytest.raises(InvalidRequest):
        ActionRequest.parse("refund", {"amount": 0}, "gbp")


def test_concurrent_refunds_never_exceed_what_was_captured(api: Api) -> None:
    tid = paid(api, amount=Decimal("15.02"))
    attempts = 40
    barrier = threading.Barrier(8)

    def refund(i: int) -> int:
        if i < 8:
            barrier.wait()
        return api.act("refund", tid, {"amount": 1, "reference": f"r{i}"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(refund, range(attempts)))
    assert codes.count(200) == 15 and codes.count(409) == attempts - 15
    txn = loads(api.get(tid).content)
    refunds = [a["amount"] for a in txn["actions"] if a["type"] == "refund"]
    assert sum(refunds) == txn["amounts"]["refunded"] == 15 <= txn["amounts"]["captured"]


def test_concurrent_captures_capture_once(api: Api) -> None:
    tid = paid(api, capture=False)
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: api.act("capture", tid, {"amount": 5}).status_code, range(12)))
    assert codes.count(200) == 1 and api.amounts(tid)["captured"] == 5


def test_concurrent_void_and_capture_do_one_or_the_other(api: Api) -> None:
    for _ in range(5):
        tid = paid(api, capture=False)
        barrier = threading.Barrier(2)

        def go(kind: str, barrier: threading.Barrier = barrier, tid: str = tid) -> int:
            barrier.wait()
            return api.act(kind, tid).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(go, ["void", "capture"]))
        amounts = api.amounts(tid)
        assert codes == [200, 409] and (amounts["voided"] == 0) != (amounts["captured"] == 0)


def test_every_payment_page_escapes_what_it_shows() -> None:
    from datetime import timedelta

    from lib.sandbox.cards import CardForm
    from lib.sandbox.checkout import LinkView, render_challenge, render_link, render_paid, render_result, render_waiting

    now = datetime(2026, 1, 1, tzinfo=UTC)
    view = LinkView('<script>alert("x")</script>&', Decimal("1"), "<b>", now + timedelta(minutes=5), now)
    typed = {"number": '"><img src=x>', "expiry": "<i>", "cvc": "&", "holder": "</form>"}
    pages = [render_link(view, CardForm(typed, {"number": "<u>bad</u>"}, None), notice="<em>n</em>"),
             render_paid(view, True, "<em>n</em>"), render_waiting(view, '/x"><script>', "<em>n</em>"),
             render_challenge(view, 10), render_result(view, "declined", "<reason>", True, '/c"><b>')]
    for html in pages:
        assert "<script>alert" not in html and "&lt;script&gt;" in html and "<b>" not in html
        assert "<em>" not in html and "<img" not in html and "<u>" not in html
    assert 'value="&lt;/form&gt;"' in pages[0] and "&lt;u&gt;bad&lt;/u&gt;" in pages[0]
