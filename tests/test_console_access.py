"""SessionsService-level checks: roles and environments refused (and logged) whatever the UI shows, local
mode never live, and live creates/updates under a typed confirmation and a ceiling.

A test configuration points ``acquired-live`` at the local sandbox (``ACQUIRED_LIVE_APP_ID/APP_KEY/
API_BASE``), so a live call really goes out and comes back, with no real money anywhere.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from lib.access.policy import ADMIN, AUDITOR, FINANCE, QA, AccessDenied, Identity
from lib.access.signin import AccessPolicy
from lib.calllog.log import CallLog
from lib.qa import runner
from lib.qa.defaults import default_model
from lib.qa.generate import generate
from lib.sessions.live_safety import LiveConfirmationRequired, LiveLimitExceeded
from lib.sessions.service import OrderHasLiveSession, SessionsService
from lib.settings import ACQUIRED_LIVE, ACQUIRED_TEST, SANDBOX
from tests.conftest import ConfigureEnvironment

VALUES = {"transaction.order_id": "ord-1", "transaction.amount": "15.02", "transaction.currency": "gbp"}


def person(email: str, *roles: str) -> Identity:
    return Identity(email, frozenset(roles), local_mode=False)


LOCAL = AccessPolicy(auth=False).identity(None, operator_fallback="local-op")


@pytest.fixture
def console(console: SessionsService, configure_environment: ConfigureEnvironment) -> SessionsService:
    """The shared console with every environment configured; test and live both answered by its sandbox."""
    for name in (ACQUIRED_TEST, ACQUIRED_LIVE):
        configure_environment(name, api_base=console.environment(SANDBOX).api_base)
    assert console.environment(ACQUIRED_LIVE).live
    return console


def kinds(console: SessionsService) -> list[str]:
    return [console.log.entry(seq)["kind"] for seq in range(1, console.log.count() + 1)]


@pytest.mark.parametrize(("who", "env"), [
    (person("qa@qa.example.com", QA), ACQUIRED_LIVE),
    (person("aud@example.com", AUDITOR), SANDBOX),
    (person("nobody@example.com"), SANDBOX),
    (LOCAL, ACQUIRED_LIVE),
])
def test_a_create_the_role_or_mode_does_not_allow_is_refused_logged_and_never_sent(console: SessionsService, who: Identity,
                                                                                   env: str) -> None:
    with pytest.raises(AccessDenied):
        console.create(env, who, VALUES, confirm="15.02 GBP")
    assert kinds(console) == ["access_denied"]
    denied = console.log.entry(1)
    assert denied["operator"] == who.operator and denied["detail"]["action"] == "create"


def test_qa_creates_in_sandbox_and_test_but_updates_nowhere(console: SessionsService) -> None:
    qa = person("qa@qa.example.com", QA)
    created = console.create(SANDBOX, qa, VALUES)
    console.create(ACQUIRED_TEST, qa, VALUES | {"transaction.order_id": "ord-2"})
    with pytest.raises(AccessDenied, match="update"):
        console.update(SANDBOX, qa, created.session_id, VALUES | {"transaction.amount": "16.00"})
    with pytest.raises(AccessDenied):
        console.resend_update(SANDBOX, qa, created.session_id, {"transaction": {"amount": Decimal("16.00")}})
    with pytest.raises(AccessDenied):
        console.recreate(ACQUIRED_LIVE, qa, created.session_id, confirm="15.02 GBP")
    assert console.session(created.session_id).amount == Decimal("15.02")


def test_finance_updates_and_recreates(console: SessionsService) -> None:
    fin = person("fin@example.com", FINANCE)
    created = console.create(SANDBOX, fin, VALUES)
    console.update(SANDBOX, fin, created.session_id, VALUES | {"transaction.amount": "16.00"})
    assert console.session(created.session_id).amount == Decimal("16.00")
    with pytest.raises(OrderHasLiveSession) as live:  # the session itself is still live
        console.recreate(SANDBOX, fin, created.session_id)
    assert [s.session_id for s in live.value.live] == [created.session_id]
    again = console.recreate(SANDBOX, fin, created.session_id, second_live=True)
    assert again.session_id != created.session_id
    assert console.session(again.session_id).tags == (f"recreates:{created.session_id}",)


def test_qa_run_needs_the_qa_role_in_a_qa_environment(console: SessionsService) -> None:
    suite = generate(default_model(), strength=2, seed=1)
    for who in (person("fin@example.com", FINANCE), person("aud@example.com", AUDITOR), person("x@example.com")):
        with pytest.raises(AccessDenied, match="run QA suites"):
            runner.start_run(console, env_name=SANDBOX, who=who, suite=suite)
    assert kinds(console) == ["access_denied"] * 3
    with pytest.raises(runner.LiveRunRefused):
        runner.start_run(console, env_name=ACQUIRED_LIVE, who=person("boss@example.com", ADMIN), suite=suite)


# --- live-money safety --------------------------------------------------------------------------
def test_live_create_needs_the_typed_amount_and_currency(console: SessionsService) -> None:
    fin = person("fin@example.com", FINANCE)
    for typed in (None, "", "15.20 GBP", "15.02 EUR", "yes"):
        with pytest.raises(LiveConfirmationRequired, match="type 15.02 GBP to confirm"):
            console.create(ACQUIRED_LIVE, fin, VALUES, confirm=typed)
    assert kinds(console) == []  # nothing was sent
    created = console.create(ACQUIRED_LIVE, fin, VALUES, confirm="15.02 gbp")
    assert console.session(created.session_id).environment == ACQUIRED_LIVE


def test_live_update_resend_and_recreate_need_the_new_amount_typed(console: SessionsService) -> None:
    fin = person("fin@example.com", FINANCE)
    created = console.create(ACQUIRED_LIVE, fin, VALUES, confirm="15.02 GBP")
    changed = VALUES | {"transaction.amount": "20.00"}
    with pytest.raises(LiveConfirmationRequired, match="type 20.00 GBP"):
        console.update(ACQUIRED_LIVE, fin, created.session_id, changed, confirm="15.02 GBP")
    console.update(ACQUIRED_LIVE, fin, created.session_id, changed, confirm="20.00 GBP")
    with pytest.raises(LiveConfirmationRequired, match="type 21.00 GBP"):
        console.resend_update(ACQUIRED_LIVE, fin, created.session_id, {"transaction": {"amount": Decimal("21.00")}})
    with pytest.raises(LiveConfirmationRequired, match="type 20.00 GBP"):
        console.recreate(ACQUIRED_LIVE, fin, created.session_id, second_live=True)
    assert console.recreate(ACQUIRED_LIVE, fin, created.session_id, confirm="20.00 GBP", second_live=True).session_id


def test_live_ceiling_is_refused_naming_the_limit(console: SessionsService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_LIVE_AMOUNT_LIMIT", "10")
    fin = person("fin@example.com", FINANCE)
    with pytest.raises(LiveLimitExceeded, match="above the live limit of 10 per call") as refused:
        console.create(ACQUIRED_LIVE, fin, VALUES, confirm="15.02 GBP")
    assert "OPS_LIVE_AMOUNT_LIMIT" in str(refused.value)
    created = console.create(SANDBOX, fin, VALUES)  # the ceiling is for live only
    assert created.session_id and kinds(console)[-1] == "api_result"


def test_refusals_keep_the_chain_verifiable(console: SessionsService) -> None:
    with pytest.raises(AccessDenied):
        console.create(SANDBOX, person("aud@example.com", AUDITOR), VALUES)
    console.create(SANDBOX, person("fin@example.com", FINANCE), VALUES)
    assert kinds(console)[0] == "access_denied" and kinds(console)[-1] == "api_result"
    assert CallLog(console.db_path).verify().ok
