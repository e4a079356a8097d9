"""Roles, local mode, bind address and the require matrix (lib.access.policy)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.access import bind, events, signin
from lib.access import policy as access
from lib.access.bind import check_bind_address
from lib.access.policy import ADMIN, AUDITOR, FINANCE, QA, AccessDenied, Identity, LoginRequired, require
from lib.access.signin import AccessPolicy
from lib.calllog.log import CallLog
from lib.settings import (
    ACQUIRED_LIVE,
    ACQUIRED_TEST,
    ENVIRONMENTS,
    SANDBOX,
    ConfigError,
    configured_environments,
    form_defaults,
)
from lib.settings.limits import live_amount_limit
from ui.pages import PAGES

AUTH = {"redirect_uri": "https://ops.example.com/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "id", "client_secret": "secret", "server_metadata_url": "https://idp.example/.well-known"}
ACCESS = {
    "finance": ["Alice@Example.com", "*@finance.example.com"],
    "qa": ["*@qa.example.com", "dual@example.com"],
    "auditor": ["audit@firm.example"],
    "admin": ["root@example.com"],
    "contact": "ops-admins@example.com",
}
ALL = [FINANCE, QA, AUDITOR, ADMIN]
EXAMPLE = Path(__file__).resolve().parent.parent / ".streamlit" / "secrets.example.toml"


def policy(access_section: dict | None = None, auth: bool = True) -> AccessPolicy:
    secrets = {"access": ACCESS if access_section is None else access_section}
    if auth:
        secrets["auth"] = AUTH
    return AccessPolicy.from_secrets(secrets)


def person(*roles: str, local: bool = False) -> Identity:
    return Identity("someone@example.com", frozenset(roles), local)


# --- role resolution ------------------------------------------------------------------------------
@pytest.mark.parametrize(("email", "roles"), [
    ("alice@example.com", {FINANCE}),
    ("ALICE@EXAMPLE.COM", {FINANCE}),  # case-insensitive, both sides
    ("  alice@example.com ", {FINANCE}),
    ("anyone@finance.example.com", {FINANCE}),  # whole domain
    ("Tester@QA.Example.com", {QA}),
    ("dual@example.com", {QA}),
    ("audit@firm.example", {AUDITOR}),
    ("root@example.com", {ADMIN}),
    ("bob@example.com", set()),  # nobody granted him anything
    ("x@sub.finance.example.com", set()),  # a domain pattern is that domain, not its subdomains
    ("x@notfinance.example.com", set()),
    ("alice@example.com.evil.test", set()),
])
def test_roles_by_email_and_domain(email: str, roles: set[str]) -> None:
    who = policy().identity(email, operator_fallback="unused")
    assert who.roles == roles
    assert who.operator == email.strip().lower()
    assert not who.local_mode


def test_several_roles_union_their_pages_and_unmask() -> None:
    both = policy({"finance": ["dual@example.com"], "qa": ["*@example.com"]}).identity(
        "dual@example.com", operator_fallback="x")
    assert both.roles == {FINANCE, QA}
    assert set(pages_of(both)) == {"new_session", "active_sessions", "update_amount", "session_detail", "payments",
                                  "qa_explorer"}
    assert not both.masks_personal_data  # finance sees customers in full
    assert both.allowed_environments(ENVIRONMENTS) == list(ENVIRONMENTS)
    require(both, "create", ACQUIRED_LIVE)  # finance allows it
    require(both, "qa_run", SANDBOX)  # qa allows it


def test_no_role_sees_no_page_and_is_told_whom_to_ask() -> None:
    pol = policy()
    nobody = pol.identity("stranger@example.org", operator_fallback="x")
    assert not nobody.has_role and pages_of(nobody) == [] and nobody.allowed_environments(ENVIRONMENTS) == []
    assert nobody.masks_personal_data
    message = pol.no_role_message(nobody)
    assert "stranger@example.org" in message and "no role" in message and "ops-admins@example.com" in message
    assert signin.DEFAULT_CONTACT in policy({}).no_role_message(nobody)
    with pytest.raises(AccessDenied, match="no role"):
        require(nobody, "view_session", SANDBOX)


def test_signed_out_with_auth_must_log_in() -> None:
    with pytest.raises(LoginRequired):
        policy().identity(None, operator_fallback="os-user")
    with pytest.raises(LoginRequired):
        policy().identity("  ", operator_fallback="os-user")


@pytest.mark.parametrize(("section", "named"), [
    ({"finanse": ["a@example.com"]}, "finanse"),
    ({"qa": ["bob"]}, "'bob'"),
    ({"qa": ["*@*.example.com"]}, "'*@*.example.com'"),
    ({"qa": ["*@example"]}, "'*@example'"),
    ({"qa": ["a@b@example.com"]}, "'a@b@example.com'"),
    ({"auditor": [42]}, "42"),
    ({"admin": {"a": "b"}}, "admin"),
    ({"contact": ""}, "contact"),
])
def test_bad_access_entries_are_config_errors_naming_them(section: dict, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        policy(section)
    assert "[access]" in str(caught.value) and named in str(caught.value)


def test_a_single_string_is_one_entry() -> None:
    assert policy({"admin": "root@example.com"}).identity("root@example.com", operator_fallback="x").roles == {ADMIN}


@pytest.mark.parametrize("missing", signin.AUTH_KEYS)
def test_incomplete_auth_is_named(missing: str) -> None:
    auth = {k: v for k, v in AUTH.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        AccessPolicy.from_secrets({"auth": auth})


def test_redirect_uri_must_be_the_callback() -> None:
    with pytest.raises(ConfigError, match="oauth2callback"):
        AccessPolicy.from_secrets({"auth": {**AUTH, "redirect_uri": "https://ops.example.com/"}})


# --- local mode ------------------------------------------------------------------------------------
def test_local_mode_is_admin_without_live() -> None:
    pol = policy(auth=False)
    assert signin.is_local_mode({}) and signin.is_local_mode({"auth": {}}) and not pol.auth
    me = pol.identity("ignored@example.com", operator_fallback="os-user")
    assert me == Identity("os-user", frozenset({ADMIN}), True)
    assert pages_of(me) == [p.key for p in PAGES]
    assert me.allowed_environments(ENVIRONMENTS) == [SANDBOX, ACQUIRED_TEST]
    assert me.allowed_environments(ENVIRONMENTS, "create") == [SANDBOX, ACQUIRED_TEST]
    for action in ("create", "update"):
        with pytest.raises(AccessDenied, match=r"local mode.*\[auth\]") as caught:
            require(me, action, ACQUIRED_LIVE)
        assert caught.value.environment == ACQUIRED_LIVE and caught.value.action == action
    require(me, "view_session", ACQUIRED_LIVE)  # reading what exists is harmless


@pytest.mark.parametrize(("address", "ok_local"), [
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST", True), ("::1", True), ("[::1]", True),
    ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("", False),
    (None, False), ("ops.example.com", False),
])
def test_check_bind_address(address: str | None, ok_local: bool) -> None:
    check_bind_address(address, {"auth": AUTH})  # with sign-in, any address is allowed
    if ok_local:
        check_bind_address(address, {})
        return
    with pytest.raises(ConfigError) as caught:
        check_bind_address(address, {})
    message = str(caught.value)
    assert "without [auth] the console only runs on 127.0.0.1/localhost/::1" in message
    assert "configure [auth] in .streamlit/secrets.toml" in message
    assert f"binds {address or 'every interface'}" in message


# --- the require matrix ----------------------------------------------------------------------------
TEST_ENVS = {SANDBOX, ACQUIRED_TEST}
EVERY = set(ENVIRONMENTS)
# The rules, written out independently of lib.access.policy.GRANTS: role → action → environments.
SPEC: dict[str, dict[str, set[str]]] = {
    FINANCE: {"create": EVERY, "update": EVERY, "view_session": EVERY, "view_active": EVERY, "export": EVERY,
              "capture": EVERY, "void": EVERY, "refund": EVERY, "view_payments": EVERY},
    QA: {"create": TEST_ENVS, "view_active": TEST_ENVS, "qa_run": TEST_ENVS, "view_session": EVERY, "export": EVERY,
         "capture": TEST_ENVS, "void": TEST_ENVS, "refund": TEST_ENVS, "view_payments": TEST_ENVS},
    # payments read-only: the list of what was paid, never an operation on it
    AUDITOR: {"view_audit": EVERY, "view_session": EVERY, "export": EVERY, "view_payments": EVERY, "checkpoint": EVERY},
    ADMIN: {**{a: EVERY for a in access.ACTIONS}, "qa_run": TEST_ENVS},  # QA runs never go live
}


def spec_allows(roles: set[str], action: str, env: str, local: bool) -> bool:
    if local and env == ACQUIRED_LIVE and action in ("create", "update", "capture", "void", "refund"):
        return False
    return any(env in SPEC[role].get(action, set()) for role in roles)


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("action", access.ACTIONS)
@pytest.mark.parametrize("role", ALL)
def test_require_matrix(role: str, action: str, env: str, local: bool) -> None:
    who = person(role, local=local)
    if spec_allows({role}, action, env, local):
        require(who, action, env)
        assert env in who.allowed_environments(ENVIRONMENTS, action)
        return
    with pytest.raises(AccessDenied) as caught:
        require(who, action, env)
    denied = caught.value
    assert (denied.action, denied.environment, denied.operator) == (action, env, who.operator)
    assert denied.reason and denied.reason in str(denied) and env in str(denied)
    assert env not in who.allowed_environments(ENVIRONMENTS, action)


@given(st.sets(st.sampled_from(ALL), min_size=1), st.sampled_from(access.ACTIONS), st.sampled_from(ENVIRONMENTS),
       st.booleans())
def test_several_roles_allow_what_any_of_them_allows(roles: set[str], action: str, env: str, local: bool) -> None:
    allowed = access.denial(Identity("p@example.com", frozenset(roles), local), action, env) is None
    assert allowed == spec_allows(roles, action, env, local)


@pytest.mark.parametrize("action", sorted(set(access.ACTIONS) - access.ENV_ACTIONS))
def test_read_actions_need_no_environment(action: str) -> None:
    for role in ALL:
        assert (access.denial(person(role), action, None) is None) == (action in SPEC[role])


@pytest.mark.parametrize("action", sorted(access.ENV_ACTIONS))
def test_acting_without_an_environment_is_a_bug(action: str) -> None:
    with pytest.raises(ValueError, match="environment"):
        require(person(ADMIN), action, None)


def test_unknown_action_or_page_is_a_bug() -> None:
    with pytest.raises(ValueError):
        # "delete" is no Action on purpose: the check must refuse what the type would not allow
        require(person(ADMIN), "delete", SANDBOX)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        person(ADMIN).may("settings")


# --- pages and environments -------------------------------------------------------------------------
PAGE_SPEC = {
    FINANCE: {"new_session", "active_sessions", "update_amount", "session_detail", "payments"},
    QA: {"qa_explorer", "new_session", "active_sessions", "session_detail", "payments"},
    AUDITOR: {"audit_log", "session_detail", "payments"},
    ADMIN: {p.key for p in PAGES},
}


def pages_of(who: Identity) -> list[str]:
    """The pages the menu offers ``who`` (each page's action, through the one table of grants)."""
    return [page.key for page in PAGES if who.may(page.action)]


@pytest.mark.parametrize("role", ALL)
def test_pages_per_role(role: str) -> None:
    who = person(role)
    assert set(pages_of(who)) == PAGE_SPEC[role]
    for page in PAGES:
        assert (role in access.roles_granting(page.action)) == (page.key in PAGE_SPEC[role])
        if page.key in PAGE_SPEC[role]:
            access.require_page(who, page.key, page.action)
        else:
            with pytest.raises(AccessDenied, match=f"open the {page.key.replace('_', ' ')} page") as caught:
                access.require_page(who, page.key, page.action)
            assert caught.value.action == f"open:{page.key}"


def test_the_page_registry_is_the_page_files() -> None:
    pages_dir = Path(__file__).resolve().parent.parent / "pages"
    assert {p.stem for p in pages_dir.glob("*.py")} == {p.key for p in PAGES}
    assert all((pages_dir.parent / p.path).is_file() for p in PAGES)


@pytest.mark.parametrize(("roles", "local", "offered"), [
    ({FINANCE}, False, list(ENVIRONMENTS)),
    ({QA}, False, [SANDBOX, ACQUIRED_TEST]),
    ({AUDITOR}, False, list(ENVIRONMENTS)),
    ({ADMIN}, False, list(ENVIRONMENTS)),
    ({QA, AUDITOR}, False, list(ENVIRONMENTS)),
    ({ADMIN}, True, [SANDBOX, ACQUIRED_TEST]),
    (set(), False, []),
])
def test_environments_offered(roles: set[str], local: bool, offered: list[str]) -> None:
    who = Identity("p@example.com", frozenset(roles), local)
    assert who.allowed_environments(ENVIRONMENTS) == offered
    assert who.allowed_environments([SANDBOX]) == [e for e in offered if e == SANDBOX]  # only configured ones


@pytest.mark.parametrize(("roles", "masks"), [
    ({QA}, True), ({QA, FINANCE}, False), ({QA, AUDITOR}, False), ({QA, ADMIN}, False),
    ({FINANCE}, False), ({AUDITOR}, False), ({ADMIN}, False), (set(), True),
])
def test_masks_personal_data(roles: set[str], masks: bool) -> None:
    assert Identity("p@example.com", frozenset(roles), False).masks_personal_data is masks


# --- audit of access ---------------------------------------------------------------------------------
def test_enforce_logs_refusals_only(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    tester = Identity("t@qa.example.com", frozenset({QA}), False)
    events.enforce(log, tester, "create", SANDBOX)
    assert log.count() == 0
    with pytest.raises(AccessDenied):
        events.enforce(log, tester, "update", SANDBOX)
    entry = log.entry(1)
    assert entry is not None and entry["kind"] == "access_denied"
    assert (entry["operator"], entry["environment"]) == ("t@qa.example.com", SANDBOX)
    assert entry["detail"]["action"] == "update" and entry["detail"]["roles"] == [QA]
    assert "finance" in entry["detail"]["reason"]
    events.record_access(log, tester, "login")
    assert log.entry(2)["environment"] == events.NO_ENVIRONMENT
    assert log.verify().ok


# --- the documented example --------------------------------------------------------------------------
def _uncommented_auth(text: str) -> str:
    block = re.search(r"^# \[auth\]\n(?:#.*\n)+", text, re.M)
    assert block, "the example documents [auth]"
    return "\n".join(line[2:] for line in block.group(0).splitlines() if not line.startswith("# #")) + "\n"


def test_example_secrets_file_is_valid_and_complete() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    secrets = tomllib.loads(text)
    pol = AccessPolicy.from_secrets(secrets)
    assert not pol.auth and pol.contact and set(pol.grants) == set(access.ROLES)  # as shipped: local mode
    assert live_amount_limit(secrets) is not None
    assert configured_environments(secrets) == [SANDBOX, ACQUIRED_TEST]  # live stays opt-in
    assert form_defaults(secrets)
    assert set(secrets["environments"][ACQUIRED_TEST]) == {
        "app_id", "app_key", "company_id", "mid", "checkout_url_template", "api_base", "connect_timeout",
        "read_timeout"}
    for documented in ("OPS_OPERATOR", "OPS_LIVE_AMOUNT_LIMIT", "OPS_SECRETS_PATH", "[environments.acquired-live]"):
        assert documented in text

    auth = tomllib.loads(_uncommented_auth(text))["auth"]
    assert set(auth) == set(signin.AUTH_KEYS)
    # The fix for a provider refusing Streamlit's prompt=select_account, documented and valid TOML.
    fix = re.search(r"^# # (client_kwargs = .*)$", text, re.M)
    assert fix and tomllib.loads(fix.group(1)) == {"client_kwargs": {"prompt": "login"}}
    with_auth = AccessPolicy.from_secrets({**secrets, "auth": auth})
    assert with_auth.auth
    assert with_auth.identity("alice@example.com", operator_fallback="x").roles == {FINANCE}


def test_cli_check_bind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "none.toml"))
    assert bind.main(["check-bind", "127.0.0.1"]) == 0
    assert bind.main(["check-bind", "0.0.0.0"]) == 1
    assert "configure [auth]" in capsys.readouterr().err
    assert bind.main(["whois", "x@example.com"]) == 0
    assert "admin" in capsys.readouterr().out
