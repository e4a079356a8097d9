"""The shared frame: menu, read-only operator, environments offered, the LIVE banner on every page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.pages import PAGES


def live_banner_shown(at: AppTest) -> bool:
    return any("LIVE" in m.value and "real money" in m.value for m in at.markdown)


def test_only_the_sandbox_without_credentials(open_page) -> None:
    at = open_page()
    assert at.selectbox(key="environment_picker").options == ["sandbox"]
    operator = at.text_input(key="operator_shown")
    assert operator.value == "tester@example.com" and operator.disabled
    assert not live_banner_shown(at)
    assert any("Local sandbox at" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("page", [p.path for p in PAGES])
def test_live_banner_on_every_page(open_page, signed_in, configure_environment, page: str) -> None:
    configure_environment("acquired-live", app_id="live-id", app_key="live-key")
    at = open_page(user=signed_in["admin"])  # live is never offered in local mode: an admin signs in
    assert at.selectbox(key="environment_picker").options == ["sandbox", "acquired-live"]
    at.selectbox(key="environment_picker").select("acquired-live").run()
    at.switch_page(page)
    at.run()
    assert not at.exception
    assert live_banner_shown(at)


def test_streamlit_is_set_up_as_an_internal_tool() -> None:
    """No Deploy button or developer menu, no tracebacks for users, a primary colour that is not red."""
    import tomllib

    from tests.conftest import REPO

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["client"]["showErrorDetails"] == "none"
    red, green, blue = (int(config["theme"]["primaryColor"][i:i + 2], 16) for i in (1, 3, 5))
    assert blue > red and blue > green  # not Streamlit's red (#ff4b4b): red means an error here
@pytest.mark.parametrize("page", [None, *(p.path for p in PAGES)])
def test_a_corrupt_call_log_is_explained_on_every_page_not_a_traceback(app_env, page: str | None) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    (app_env / "ops.db").write_bytes(b"garbage, not a database\n" * 200)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30).run()
    if page:
        at.switch_page(page)  # reached directly: the page's own frame explains it
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "🛑 The call log cannot be opened"
    assert "the file is not a SQLite database" in at.markdown[0].value
    assert str(app_env / "ops.db") in [c.value for c in at.code]
    assert any("**What to do**" in m.value and "restore the latest backup" in m.value for m in at.markdown)


def test_a_click_reported_twice_runs_its_action_once() -> None:
    """Streamlit may report one click twice (a ticking fragment, a double-click): the second does nothing."""
    from ui.once import run_once

    state: dict[str, object] = {}
    done: list[str] = []
    run_once(state, "create", 0, done.append, ("first",), {})
    run_once(state, "create", 0, done.append, ("again",), {})  # the same drawing of the button
    assert done == ["first"]
    run_once(state, "create", 1, done.append, ("next click",), {})  # the button as drawn after the first
    assert done == ["first", "next click"]
