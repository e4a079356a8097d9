"""A real OpenID Connect sign-in, in Debian's chromium, against a real provider on 127.0.0.1.

The console runs with ``[auth]`` pointing at ``tests.oidc_provider`` (Streamlit's own st.login and
Authlib do the whole code flow); each person types their ``sub`` on the provider's form. Shown
here: every role gets its menu; an unverified e-mail and an ID token without one get no role and
are told why; a forbidden URL after app.py has run is refused and logged; a provider's refusal is
said; after logout, a copy of the login cookie taken before it no longer signs in.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lib.calllog.log import CallLog
from tests.browser_support import (
    AppServer,
    goto,
    new_page,
    require_chromium,
    require_playwright,
    save_log,
    shot,
    streamlit_app,
    wait_for_run,
)
from tests.conftest import ACCESS_SECRETS
from tests.net import free_port
from tests.oidc_provider import Provider, oidc_provider

pytestmark = pytest.mark.browser

ROLES = {"finance": "fin@example.com", "qa": "tess@qa.example.com", "auditor": "aud@example.com",
         "admin": "admin@example.com"}
MENUS = {
    "finance": ["New session", "Active sessions", "Update amount", "Session detail", "Payments"],
    "qa": ["New session", "Active sessions", "Session detail", "Payments", "QA explorer"],
    "auditor": ["Session detail", "Payments", "Audit log"],
    "admin": ["New session", "Active sessions", "Update amount", "Session detail", "Payments", "QA explorer",
              "Audit log", "Who is signed in"],
}
USERS: dict[str, dict[str, object]] = {
    **{role: {"email": email, "email_verified": True, "name": f"The {role}"} for role, email in ROLES.items()},
    "mallory": {"email": "fin@example.com", "email_verified": False, "name": "Not fin"},  # claims fin's e-mail
    "mailless": {"name": "No e-mail in the ID token"},
}
SECRETS = """
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-browser-test-cookie-secret-of-some-length"
client_id = "ops-console-browser-test"
client_secret = "browser-test-secret"
server_metadata_url = "{metadata}"
{auth_extra}
""" + ACCESS_SECRETS


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    require_playwright()
    require_chromium()
    with oidc_provider(USERS) as running:
        yield running


@contextmanager
def console(work: Path, provider: Provider, *, auth_extra: str = "", log_name: str) -> Iterator[AppServer]:
    """A fresh console whose [auth] is ``provider`` (both for lib.access and for st.login)."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    secrets = work / "secrets.toml"
    secrets.write_text(SECRETS.format(port=port, metadata=provider.metadata_url, auth_extra=auth_extra))
    with streamlit_app(work, port=port, extra_env={"OPS_SECRETS_PATH": str(secrets),
                                                   "STREAMLIT_SECRETS_FILES": str(secrets),
                                                   "AUTHLIB_INSECURE_TRANSPORT": "1"}) as server:
        try:
            yield server
        finally:
            save_log(server, log_name)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[AppServer]:
    with console(tmp_path_factory.mktemp("browser-signin"), provider, log_name="streamlit-signin") as server:
        yield server


def log_entries(app: AppServer, kind: str) -> list[dict[str, Any]]:
    log = CallLog(app.work / "ops.db")
    found = [log.entry(seq) for seq in range(1, log.count() + 1)]
    return [e for e in found if e is not None and e["kind"] == kind]


def main(page: Any) -> Any:
    return page.locator("[data-testid=stMain]")


def heading(page: Any) -> Any:
    return main(page).locator("h1").first


def menu(page: Any) -> list[str]:
    """The sidebar's page links, their titles without the icon."""
    links = page.locator("[data-testid=stSidebar] [data-testid=stPageLink]").all_inner_texts()
    return [text.strip().splitlines()[-1].strip() for text in links]


def sign_in(page: Any, app: AppServer, sub: str, *, path: str = "") -> None:
    """Open the console, press Log in, type ``sub`` on the provider's form, come back signed in."""
    from playwright.sync_api import expect

    goto(page, f"{app.url}/{path}")
    expect(heading(page)).to_contain_text("Sign in")
    page.get_by_role("button", name=re.compile("Log in")).click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(app.url) + r"/(\?.*)?$"))
    wait_for_run(page)


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_signs_in_and_sees_its_menu(app: AppServer, browser: Any, role: str) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        sign_in(page, app, role)
        expect(page.locator("[data-testid=stSidebar]").get_by_role("textbox", name="Operator")).to_have_value(
            ROLES[role])
        assert menu(page) == MENUS[role]
        shot(page, f"signin-{role}", full_page=False)
    signed = [e for e in log_entries(app, "sign_in") if e["operator"] == ROLES[role]]
    assert signed and signed[-1]["detail"]["sub"] == role and signed[-1]["detail"]["issuer"].startswith(
        "http://127.0.0.1:")


def test_an_unverified_email_gets_no_role(app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        sign_in(page, app, "mallory")
        expect(heading(page)).to_contain_text("Sign-in refused")
        expect(main(page)).to_contain_text("has not verified the e-mail fin@example.com")
        assert menu(page) == []
        shot(page, "signin-unverified", full_page=False)
    refused = [e for e in log_entries(app, "sign_in_refused") if e["detail"].get("sub") == "mallory"]
    assert refused and refused[0]["operator"] == "fin@example.com (unverified)"
    assert all(e["detail"].get("sub") != "mallory" for e in log_entries(app, "sign_in"))


def test_an_id_token_without_email_gets_the_explanation(app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        sign_in(page, app, "mailless")
        expect(heading(page)).to_contain_text("Sign-in refused")
        expect(main(page)).to_contain_text("ID token carries no e-mail")
        expect(main(page)).to_contain_text("put the email and email_verified claims in the ID token")
        shot(page, "signin-no-email", full_page=False)
    assert [e["operator"] for e in log_entries(app, "sign_in_refused") if e["detail"].get("sub") == "mailless"] == [
        "sub mailless"]


def test_a_forbidden_url_after_app_py_has_run_is_refused_and_logged(app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        sign_in(page, app, "qa")  # app.py has run (st.navigation is on) in this server and tab
        goto(page, f"{app.url}/audit_log")
        expect(heading(page)).to_contain_text("Not allowed")
        expect(main(page)).not_to_contain_text("entries match")
        shot(page, "signin-forbidden-url", full_page=False)
    denied = [e for e in log_entries(app, "access_denied") if e["operator"] == ROLES["qa"]]
    assert [e["detail"]["action"] for e in denied] == ["open:audit_log"]
    assert denied[0]["detail"]["sub"] == "qa"


def test_a_provider_refusal_is_said_not_looped(app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        goto(page, app.url)
        page.get_by_role("button", name=re.compile("Log in")).click()
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
        page.get_by_role("button", name="Deny").click()  # the provider answers the callback with an error
        page.wait_for_url(re.compile(r"sign_in_failed=access_denied"))
        wait_for_run(page)
        expect(main(page).locator("[data-testid=stAlert]")).to_contain_text("Sign-in failed")
        expect(main(page).locator("[data-testid=stAlert]")).to_contain_text("access_denied")
        shot(page, "signin-provider-refused", full_page=False)
    assert any(e["detail"].get("error") == "access_denied" for e in log_entries(app, "sign_in_refused"))


def test_a_provider_refusing_select_account_is_said_and_the_documented_client_kwargs_fix_it(
        app: AppServer, provider: Provider, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    provider.refused_prompts.add("select_account")  # Streamlit's default prompt
    try:
        with new_page(browser) as page:
            goto(page, app.url)
            page.get_by_role("button", name=re.compile("Log in")).click()
            page.wait_for_url(re.compile(r"sign_in_failed=invalid_request"))
            wait_for_run(page)
            alert = main(page).locator("[data-testid=stAlert]")
            expect(alert).to_contain_text("Sign-in failed")
            expect(alert).to_contain_text("invalid_request")
            expect(alert).to_contain_text("client_kwargs")
            shot(page, "signin-prompt-refused", full_page=False)
        refused = [e for e in log_entries(app, "sign_in_refused") if e["detail"].get("error") == "invalid_request"]
        assert refused and refused[0]["detail"]["error_description"] == "unsupported prompt value select_account"
        # The fix the example secrets file documents: ask for a prompt the provider supports.
        with console(tmp_path / "prompt-login", provider, auth_extra='client_kwargs = { prompt = "login" }',
                     log_name="streamlit-signin-prompt") as fixed, new_page(browser) as page:
            sign_in(page, fixed, "finance")
            assert menu(page) == MENUS["finance"]
    finally:
        provider.refused_prompts.discard("select_account")


def test_after_logout_a_replayed_cookie_is_refused(app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        sign_in(page, app, "finance")
        expect(heading(page)).to_contain_text("New session")
        copied = page.context.cookies()
        assert any(c["name"].startswith("_streamlit_user") for c in copied)
        page.locator("[data-testid=stSidebar]").get_by_role("button", name=re.compile("Log out")).click()
        # Streamlit's logout goes on to the provider's end_session page once the console has ended
        # the sign-in (the button's callback, before st.logout) and dropped the cookie.
        page.wait_for_url(re.compile(r"/oauth2/end_session"))
    assert [e["detail"]["why"] for e in log_entries(app, "sign_out") if e["operator"] == ROLES["finance"]] == [
        "logout"]
    with new_page(browser) as replay:
        replay.context.add_cookies(copied)  # the cookie as it was before logout, in another browser
        goto(replay, app.url)
        expect(heading(replay)).to_contain_text("Sign in again")
        expect(main(replay)).to_contain_text("you logged out")
        assert menu(replay) == []
        shot(replay, "signin-replayed-cookie", full_page=False)
    ended = [e for e in log_entries(app, "access_denied") if e["operator"] == ROLES["finance"]]
    assert ended and "the sign-in has ended" in ended[-1]["detail"]["reason"]


def test_an_admin_signs_a_person_out_everywhere_and_their_open_tab_asks_to_sign_in_again(
        app: AppServer, browser: Any) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as fin, new_page(browser) as admin:
        sign_in(fin, app, "finance")
        expect(heading(fin)).to_contain_text("New session")
        sign_in(admin, app, "admin")
        goto(admin, f"{app.url}/signins")
        expect(heading(admin)).to_contain_text("Who is signed in")
        picker = main(admin).get_by_role("combobox", name="Person")
        picker.click()
        picker.fill(ROLES["finance"])
        admin.keyboard.press("Enter")
        main(admin).get_by_role("button", name=re.compile("Sign this person out everywhere")).click()
        wait_for_run(admin)
        expect(main(admin).locator("[data-testid=stAlert]")).to_contain_text("ended")
        shot(admin, "signin-admin-sign-out", full_page=False)
        # fin does nothing: the page's live part notices within seconds and the page asks to sign in again.
        expect(heading(fin)).to_contain_text("Sign in again", timeout=15_000)
        expect(main(fin)).to_contain_text("an administrator signed you out")
    outs = [e for e in log_entries(app, "sign_out") if e["detail"].get("by") == ROLES["admin"]]
    assert outs and {e["operator"] for e in outs} == {ROLES["finance"]}
