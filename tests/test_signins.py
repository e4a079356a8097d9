"""The sign-in rules as plain Python: roles only on a verified e-mail, the provider's account on
record, the server's own record of sign-ins (logout, idle limit from an injected clock, an admin's
sign-out everywhere), and a provider's refusal at the callback recorded instead of a silent loop."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lib.access.callback import FAILED_PARAM, SignInErrors, error_code
from lib.access.claims import EMAIL_NOT_VERIFIED, NO_EMAIL, NO_VERIFIED_CLAIM, SignIn, SignInRefused
from lib.access.policy import AccessDenied
from lib.access.service import AccessPolicy, AccessService, LoginRequired
from lib.access.signins import IDLE, LOGOUT, SignInStore
from lib.calllog.log import CallLog
from lib.settings import ConfigError, signin_idle_hours
from tests.clocks import FakeClock

ISSUER = "https://idp.example.com"
SECRETS: dict[str, Any] = {
    "auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x", "client_id": "c",
             "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
    "access": {"finance": ["fin@example.com"], "admin": ["admin@example.com"]},
}


def claims(email: str | None = "fin@example.com", **more: object) -> dict[str, object]:
    base: dict[str, object] = {"is_logged_in": True, "iss": ISSUER, "sub": "u-1", "iat": 1_790_000_000,
                               "nonce": "n-1", "email": email, "email_verified": True}
    return {k: v for k, v in (base | more).items() if v is not None}


def policy(**access: object) -> AccessPolicy:
    return AccessPolicy.from_secrets({**SECRETS, "access": {**SECRETS["access"], **access}})


def kinds(log: CallLog) -> list[str]:
    return [log.entry(seq)["kind"] for seq in range(1, log.count() + 1)]


def last(log: CallLog) -> dict[str, Any]:
    entry = log.entry(log.count())
    assert entry is not None
    return entry


# --- roles only on a verified e-mail ---------------------------------------------------------------
def test_a_verified_email_gets_its_roles_and_names_the_provider_account() -> None:
    who = policy().signed_in(claims(), operator_fallback="x")
    assert who.operator == "fin@example.com" and who.roles == {"finance"}
    assert who.signin is not None and (who.signin.issuer, who.signin.subject) == (ISSUER, "u-1")


@pytest.mark.parametrize("flag", [False, "false", "no"])
def test_an_email_the_provider_did_not_verify_gets_no_role(flag: object) -> None:
    with pytest.raises(SignInRefused) as refused:
        policy().signed_in(claims(email_verified=flag), operator_fallback="x")
    assert refused.value.code == EMAIL_NOT_VERIFIED and "not verified" in refused.value.reason
    assert refused.value.operator == "fin@example.com (unverified)"  # never the verified owner's name


def test_a_missing_verified_claim_is_trusted_only_where_access_says_so() -> None:
    with pytest.raises(SignInRefused) as refused:
        policy().signed_in(claims(email_verified=None), operator_fallback="x")
    assert refused.value.code == NO_VERIFIED_CLAIM and "trust_email_without_verified_claim" in refused.value.reason
    trusting = policy(trust_email_without_verified_claim=True)
    assert trusting.signed_in(claims(email_verified=None), operator_fallback="x").roles == {"finance"}
    with pytest.raises(SignInRefused):  # an explicit "not verified" is never trusted
        trusting.signed_in(claims(email_verified=False), operator_fallback="x")


def test_the_trust_setting_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="trust_email_without_verified_claim must be true or false"):
        policy(trust_email_without_verified_claim="yes")


def test_an_id_token_without_email_is_explained_not_looped() -> None:
    with pytest.raises(SignInRefused) as refused:
        policy().signed_in(claims(email=None), operator_fallback="x")
    assert refused.value.code == NO_EMAIL and refused.value.operator == "sub u-1"
    assert "ID token" in refused.value.reason and "userinfo" in refused.value.reason


def test_signed_out_still_needs_a_login() -> None:
    with pytest.raises(LoginRequired):
        policy().signed_in({"is_logged_in": False}, operator_fallback="x")


def test_a_signin_id_is_the_same_for_a_replayed_cookie_and_new_for_the_next_sign_in() -> None:
    first = SignIn.from_claims(claims())
    assert SignIn.from_claims(claims()).signin_id == first.signin_id
    assert SignIn.from_claims(claims(iat=1_790_000_100, nonce="n-2")).signin_id != first.signin_id
    assert SignIn.from_claims(claims(sub="u-2")).signin_id != first.signin_id


# --- the record: sign-in, sign-out, refusals --------------------------------------------------------
@pytest.fixture
def access(log: CallLog, clock: FakeClock) -> AccessService:
    return AccessService(log, clock=clock)


def test_a_sign_in_is_logged_once_with_issuer_and_sub_and_two_accounts_sharing_an_email_differ(
        access: AccessService, log: CallLog) -> None:
    ann = policy().signed_in(claims(), operator_fallback="x")
    other = policy().signed_in(claims(sub="u-2", iat=1_790_000_001), operator_fallback="x")
    assert access.check_signin(ann) is None and access.check_signin(ann) is None
    assert access.check_signin(other) is None
    signins = [log.entry(seq) for seq in range(1, log.count() + 1)]
    assert [e["kind"] for e in signins] == ["sign_in", "sign_in"]
    assert [(e["operator"], e["detail"]["issuer"], e["detail"]["sub"]) for e in signins] == [
        ("fin@example.com", ISSUER, "u-1"), ("fin@example.com", ISSUER, "u-2")]


def test_a_refused_sign_in_is_recorded_with_its_reason_and_account(access: AccessService, log: CallLog) -> None:
    with pytest.raises(SignInRefused) as refused:
        policy().signed_in(claims(email_verified=False), operator_fallback="x")
    access.record_refused(refused.value)
    entry = last(log)
    assert entry["kind"] == "sign_in_refused" and entry["operator"] == "fin@example.com (unverified)"
    assert entry["detail"]["code"] == EMAIL_NOT_VERIFIED and entry["detail"]["sub"] == "u-1"
    assert entry["detail"]["email_verified"] is False


def test_logout_ends_the_sign_in_so_a_replayed_cookie_must_sign_in_again(access: AccessService,
                                                                          log: CallLog) -> None:
    who = policy().signed_in(claims(), operator_fallback="x")
    access.check_signin(who)
    access.sign_out(who)
    assert last(log)["kind"] == "sign_out" and last(log)["detail"]["why"] == LOGOUT
    replayed = policy().signed_in(claims(), operator_fallback="x")  # the same cookie, after logout
    assert access.check_signin(replayed) == "you logged out"
    access.sign_out(replayed)  # already ended: no second sign-out on record
    assert kinds(log) == ["sign_in", "sign_out"]
    again = policy().signed_in(claims(iat=1_790_000_500, nonce="n-9"), operator_fallback="x")
    assert access.check_signin(again) is None and kinds(log)[-1] == "sign_in"


# --- the idle limit, from an injected clock ------------------------------------------------------------
def test_the_idle_limit_ends_a_sign_in_once_and_logs_when_it_ended(access: AccessService, log: CallLog,
                                                                   clock: FakeClock) -> None:
    who = policy().signed_in(claims(), operator_fallback="x")
    assert access.check_signin(who) is None
    clock.advance(timedelta(hours=7, minutes=59))
    assert access.check_signin(who) is None  # used again: the limit counts from here
    clock.advance(timedelta(hours=8))
    assert access.check_signin(who) is None  # exactly the limit is still within it (and a use)
    clock.advance(timedelta(hours=8, seconds=1))
    assert access.check_signin(who) == "it was idle too long"
    out = last(log)
    assert out["kind"] == "sign_out" and out["detail"]["why"] == IDLE
    assert out["detail"]["ended_at"] == (clock() - timedelta(seconds=1)).isoformat()
    assert access.check_signin(who) == "it was idle too long" and kinds(log) == ["sign_in", "sign_out"]


def test_the_idle_limit_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                clock: FakeClock) -> None:
    assert signin_idle_hours() == 8
    monkeypatch.setenv("OPS_SIGNIN_IDLE_HOURS", "0.5")
    store = SignInStore(tmp_path / "ops.db", clock=clock)
    signin = SignIn.from_claims(claims())
    assert store.seen(signin).new
    clock.advance(timedelta(minutes=31))
    assert store.seen(signin).ended_why == IDLE
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("OPS_SIGNIN_IDLE_HOURS", bad)
        with pytest.raises(ConfigError, match="OPS_SIGNIN_IDLE_HOURS"):
            signin_idle_hours()


# --- an admin's sign-out everywhere ------------------------------------------------------------------------
def test_an_admin_signs_a_person_out_everywhere_and_each_sign_out_is_logged(access: AccessService,
                                                                           log: CallLog) -> None:
    admin = policy().signed_in(claims("admin@example.com", sub="a-1"), operator_fallback="x")
    laptop = policy().signed_in(claims(), operator_fallback="x")
    phone = policy().signed_in(claims(iat=1_790_000_002, nonce="n-3"), operator_fallback="x")
    for who in (admin, laptop, phone):
        access.check_signin(who)
    assert {row.email for row in access.active_signins(admin)} == {"admin@example.com", "fin@example.com"}
    with pytest.raises(AccessDenied):
        access.sign_out_everywhere(laptop, "admin@example.com")
    assert last(log)["kind"] == "access_denied" and last(log)["detail"]["action"] == "manage_signins"
    assert access.sign_out_everywhere(admin, "FIN@example.com") == 2
    outs = [log.entry(seq) for seq in range(log.count() - 1, log.count() + 1)]
    assert [(e["kind"], e["operator"], e["detail"]["by"]) for e in outs] == [
        ("sign_out", "fin@example.com", "admin@example.com")] * 2
    assert access.check_signin(laptop) == "an administrator signed you out"
    assert access.check_signin(phone) == "an administrator signed you out"
    assert [row.email for row in access.active_signins(admin)] == ["admin@example.com"]
    assert log.verify().ok


# --- a provider's refusal at the callback -------------------------------------------------------------------
def test_a_provider_error_at_the_callback_is_recorded_and_sent_to_the_console_to_say() -> None:
    recorded: list[tuple[str, str | None]] = []
    inner = Starlette(routes=[Route("/oauth2callback", lambda request: PlainTextResponse("streamlit's"))])
    app = SignInErrors(inner, record=lambda code, text: recorded.append((code, text)))

    def get(**params: str) -> httpx.Response:
        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
                return await client.get("/oauth2callback", params=params)
        return anyio.run(call)

    refused = get(error="invalid_request", error_description="unsupported prompt value")
    assert refused.status_code == 302 and refused.headers["location"] == f"/?{FAILED_PARAM}=invalid_request"
    assert recorded == [("invalid_request", "unsupported prompt value")]
    assert get(code="c", state="s").text == "streamlit's"
    assert recorded == [("invalid_request", "unsupported prompt value")]  # a good callback passes through
    assert error_code("<script>Access_Denied\n") == "scriptaccess_denied"


def test_a_provider_error_is_a_sign_in_refused_entry(access: AccessService, log: CallLog) -> None:
    access.record_provider_error("invalid_request", "unsupported prompt value")
    entry = last(log)
    assert entry["kind"] == "sign_in_refused" and entry["detail"]["error"] == "invalid_request"


def test_a_provider_error_is_still_said_when_the_log_cannot_take_it() -> None:
    def broken(code: str, text: str | None) -> None:
        raise OSError("disk full")

    async def call() -> httpx.Response:
        app = SignInErrors(Starlette(), record=broken)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
            return await client.get("/oauth2callback", params={"error": "login_required"})

    answer = anyio.run(call)
    assert answer.status_code == 302 and answer.headers["location"] == f"/?{FAILED_PARAM}=login_required"
