"""AppTest of the sign-in pages: a refused sign-in explained and logged, an ended sign-in asked to
sign in again, a provider's refusal named, and the admin's "sign this person out everywhere".

``at.user`` stands for the ID token's claims after ``st.login`` (tests.conftest.signed_in_as)."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib.access.service import AccessPolicy, AccessService
from lib.calllog.log import CallLog
from tests.conftest import REPO, id_token_claims, signed_in_as
from tests.page_support import errors, run, seen
from tests.test_page_access import entries, menu

SIGNINS = "pages/signins.py"


def test_an_unverified_email_gets_no_role_is_told_why_and_logged_once(open_page, app_env, signed_in) -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    signed_in_as(at, signed_in["finance"], email_verified=False)
    run(at)
    at.run()
    assert at.title[0].value == "🚫 Sign-in refused" and not menu(at)
    assert "has not verified the e-mail fin@example.com" in seen(at.markdown[0].value)
    assert [b.label for b in at.button] == ["Log out"]
    logged = entries(app_env / "ops.db")
    assert [(e["kind"], e["operator"], e["detail"]["code"]) for e in logged] == [
        ("sign_in_refused", "fin@example.com (unverified)", "email_not_verified")]
    assert logged[0]["detail"]["sub"] == "sub-fin@example.com" and logged[0]["detail"]["issuer"]


def test_an_id_token_without_email_is_explained_and_logged(app_env, signed_in) -> None:
    at = AppTest.from_file(str(REPO / "pages/new_session.py"), default_timeout=30)
    at.user = {k: v for k, v in id_token_claims("x@example.com", sub="u-77").items() if k != "email"}
    run(at)
    text = seen(at.markdown[0].value)
    assert at.title[0].value == "🚫 Sign-in refused" and "ID token carries no e-mail" in text
    assert "put the email and email_verified claims in the ID token" in text
    assert [(e["kind"], e["operator"]) for e in entries(app_env / "ops.db")] == [("sign_in_refused", "sub u-77")]


def test_a_page_under_an_ended_sign_in_asks_to_sign_in_again_and_is_logged(open_page, app_env, signed_in) -> None:
    open_page(user=signed_in["finance"])
    log = CallLog(app_env / "ops.db")
    who = AccessService(log).identify(AccessPolicy.from_secrets(), id_token_claims(signed_in["finance"],
                                                                                   sub=f"sub-{signed_in['finance']}"))
    AccessService(log).sign_out(who)  # what the Log out button does before Streamlit drops the cookie
    at = open_page(user=signed_in["finance"])  # the same cookie, replayed
    assert at.title[0].value == "🔒 Sign in again" and "you logged out" in seen(at.markdown[0].value)
    assert [b.label for b in at.button] == ["Log in"] and not menu(at)
    assert [e["kind"] for e in entries(app_env / "ops.db")] == ["sign_in", "tab_start", "sign_out", "access_denied"]
    assert "the sign-in has ended" in entries(app_env / "ops.db")[-1]["detail"]["reason"]


def test_a_provider_refusal_is_named_on_the_sign_in_page_as_text(app_env, signed_in) -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    signed_in_as(at, None)
    run(at, sign_in_failed="[invalid_request](https://evil.example)")
    assert at.title[0].value == "🔒 Sign in"
    assert "`[invalid_request](https://evil.example)`" in at.error[0].value  # a code span: text, not a link
    assert "prompt=select_account" in errors(at)[0] and "client_kwargs" in errors(at)[0]


def test_an_admin_signs_a_person_out_everywhere_from_the_page(open_page, app_env, signed_in) -> None:
    fin = open_page(user=signed_in["finance"])
    assert menu(fin) and "Who is signed in" not in menu(fin)
    admin = open_page(SIGNINS, user=signed_in["admin"])
    assert admin.title[0].value == "🔐 Who is signed in"
    assert set(admin.dataframe[0].value["e-mail"]) == {signed_in["finance"], signed_in["admin"]}
    admin.selectbox(key="signins_email").select(signed_in["finance"])
    next(b for b in admin.button if b.label == "Sign this person out everywhere").click().run()
    assert "1 sign-in ended" in seen(admin.success[0].value)
    fin.run()
    assert fin.title[0].value == "🔒 Sign in again" and "an administrator signed you out" in seen(fin.markdown[0].value)
    out = entries(app_env / "ops.db", "sign_out")
    assert [(e["operator"], e["detail"]["by"]) for e in out] == [(signed_in["finance"], signed_in["admin"])]
