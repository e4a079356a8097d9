"""A killed attempt is "no answer recorded" once no answer can come, and a person settles it with a new entry.

A kill is simulated where it hurts: the request really reaches the sandbox (the session exists
or the update is applied) and then the process "dies" (SystemExit) before the result entry. Time
is the console's injected clock, moved past the environment's answer deadline; nothing sleeps.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lib.access.policy import AccessDenied, Identity
from lib.access.signin import AccessPolicy
from lib.fields.validation import SessionRequest
from lib.sandbox import SandboxServer
from lib.sessions import reconcile
from lib.sessions.registry import Registry
from lib.sessions.service import SessionsService, UnknownAttempt
from tests.killing import OPERATOR, Killed, killed_client
from tests.sandbox_support import order, sessions_for

ME = OPERATOR
LOCAL = AccessPolicy(auth=False).identity(None, operator_fallback=ME)
UTC = UTC


class Clock:
    """The console's clock: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console(sandbox: SandboxServer, app_env: Path, clock: Clock) -> SessionsService:
    """The shared console's setting (app_env) on the test's clock."""
    return SessionsService(sandbox_base_url=sandbox.base_url, db_path=app_env / "ops.db", clock=clock)


def past_deadline(console: SessionsService, clock: Clock) -> None:
    clock.offset = console.unanswered_calls.answer_deadline("sandbox") + timedelta(seconds=1)


def test_a_killed_create_is_in_flight_then_no_answer_recorded(console: SessionsService, clock: Clock, sandbox) -> None:
    with pytest.raises(Killed):
        killed_client(console).create_session(SessionRequest.parse(order("ord-killed")))
    assert len(console.log.in_flight()) == 1 and len(sessions_for(sandbox, "ord-killed")) == 1  # it exists at the API
    assert console.unanswered_calls.all("sandbox") == []  # the client could still be waiting: in flight, not "no answer"
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.all("sandbox")
    assert attempt.call == reconcile.CREATE and attempt.request["order_id"] == "ord-killed"
    assert "a session may exist for this order" in attempt.meaning and "cannot look sessions up" in attempt.meaning
    assert "two sessions are live for this order" in attempt.todo
    assert console.unanswered_calls.answer_deadline("sandbox") == timedelta(seconds=3.05 + 30)


def test_a_new_session_for_the_same_order_settles_a_killed_create(console: SessionsService, clock: Clock, sandbox) -> None:
    with pytest.raises(Killed):
        killed_client(console).create_session(SessionRequest.parse(order("ord-again")))
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.all("sandbox")
    request_hash = console.log.entry(attempt.request["seq"])["hash"]
    created = console.unanswered_calls.new_session(LOCAL, attempt.attempt_id, note="customer still on the phone")
    assert len(sessions_for(sandbox, "ord-again")) == 2  # the warning's premise: both may be live
    assert Registry(console.db_path).get(created.session_id)["order_id"] == "ord-again"
    assert console.unanswered_calls.all("sandbox") == []
    resolution = console.log.entry(console.log.count())
    assert resolution["kind"] == reconcile.RESOLUTION and resolution["attempt_id"] == attempt.attempt_id
    assert resolution["session_id"] == created.session_id and resolution["operator"] == ME
    assert resolution["detail"] == {"resolution": "recreated", "means": reconcile.CHOICES["create"]["recreated"],
                                    "note": "customer still on the phone", "request_seq": attempt.request["seq"],
                                    "new_session_id": created.session_id}
    assert console.log.entry(attempt.request["seq"])["hash"] == request_hash  # nothing edited
    # The new session's history shows the attempt it stands in for.
    assert attempt.attempt_id in {c.attempt_id for c in console.calls(created.session_id)}
    assert console.log.verify().message == f"OK ({console.log.count()} entries)"
    with pytest.raises(UnknownAttempt):
        console.unanswered_calls.new_session(LOCAL, attempt.attempt_id)  # settled once only


def test_a_create_can_be_left_with_a_note(console: SessionsService, clock: Clock) -> None:
    with pytest.raises(Killed):
        killed_client(console).create_session(SessionRequest.parse(order("ord-left")))
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.all("sandbox")
    seq = console.unanswered_calls.resolve(LOCAL, attempt.attempt_id, "left", "order cancelled by phone")
    assert console.log.entry(seq)["detail"]["resolution"] == "left"
    assert console.unanswered_calls.all("sandbox") == [] and console.log.verify().ok
    with pytest.raises(ValueError, match="resolved as one of"):
        reconcile.resolve(console.log, attempt, operator=ME, resolution="took_effect")


def killed_update(console: SessionsService, session_id: str, amount: str = "20.00") -> None:
    with pytest.raises(Killed):
        killed_client(console).update_session(session_id, {"transaction": {"amount": Decimal(amount)}})


def test_a_killed_update_marks_the_session_uncertain_and_a_resend_settles_it(console: SessionsService, clock: Clock) -> None:
    created = console.client("sandbox", ME).create_session(SessionRequest.parse(order("ord-upd")))
    killed_update(console, created.session_id)
    assert console.pending_update(created.session_id) is None  # still possibly under way
    assert console.session(created.session_id).state == "ok"
    past_deadline(console, clock)
    (attempt,) = console.view(created.session_id).unanswered
    assert attempt.call == reconcile.UPDATE and "amount is uncertain" in attempt.meaning
    assert console.session(created.session_id).state == "amount_uncertain"
    pending = console.pending_update(created.session_id)
    assert pending is not None and pending.call.attempt_id == attempt.attempt_id
    assert pending.patch == {"transaction": {"amount": Decimal("20.00")}}
    updated = console.resend_update("sandbox", LOCAL, created.session_id, pending.patch)
    row = console.session(created.session_id)
    assert (row.state, row.amount) == ("ok", Decimal("20.00"))
    assert console.unanswered_calls.of_session(created.session_id) == []
    resolution = console.log.entry(console.log.count())
    assert (resolution["kind"], resolution["attempt_id"], resolution["detail"]["resolution"]) == \
        (reconcile.RESOLUTION, attempt.attempt_id, "resent")
    assert updated.attempt_id in resolution["detail"]["note"]
    calls = {c.attempt_id: c.outcome for c in console.calls(created.session_id)}
    assert calls[attempt.attempt_id] == "resolved"


@pytest.mark.parametrize("resolution, amount", [("took_effect", Decimal("20.00")),
                                                ("did_not_take_effect", Decimal("15.02"))])
def test_a_person_records_whether_a_killed_update_took_effect(console: SessionsService, clock: Clock, resolution: str,
                                                              amount: Decimal) -> None:
    created = console.client("sandbox", ME).create_session(SessionRequest.parse(order("ord-fact")))
    killed_update(console, created.session_id)
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.of_session(created.session_id)
    seq = console.unanswered_calls.resolve(LOCAL, attempt.attempt_id, resolution, "checked the payment page")
    row = console.session(created.session_id)
    assert (row.state, row.amount) == ("ok", amount)
    if resolution == "took_effect":
        assert Registry(console.db_path).history(created.session_id)[-1]["entry_seq"] == seq
    assert console.unanswered_calls.all("sandbox") == [] and console.log.verify().ok


def test_settling_needs_the_right_to_make_that_call(console: SessionsService, clock: Clock) -> None:
    with pytest.raises(Killed):
        killed_client(console).create_session(SessionRequest.parse(order("ord-rights")))
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.all("sandbox")
    auditor = Identity("carol@example.com", frozenset({"auditor"}), local_mode=False)
    with pytest.raises(AccessDenied):
        console.unanswered_calls.resolve(auditor, attempt.attempt_id, "left")
    assert console.log.entry(console.log.count())["kind"] == "access_denied"
    assert len(console.unanswered_calls.all("sandbox")) == 1


def test_a_logged_request_with_a_redacted_secret_is_not_replayed(console: SessionsService, clock: Clock, sandbox) -> None:
    payload = {**order("ord-secret"), "webhook_url": "https://shop:pw@shop.example/hook"}
    with pytest.raises(Killed):
        killed_client(console).create_session(SessionRequest.parse(payload))
    past_deadline(console, clock)
    (attempt,) = console.unanswered_calls.all("sandbox")
    from lib.fields.validation import InvalidRequest
    with pytest.raises(InvalidRequest, match="had secrets removed"):
        console.unanswered_calls.new_session(LOCAL, attempt.attempt_id)
    assert len(sessions_for(sandbox, "ord-secret")) == 1  # nothing sent again
