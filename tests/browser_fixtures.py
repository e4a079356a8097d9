"""The browser and page fixtures of the browser test modules (a plugin of tests/conftest.py); each
module brings its own ``app``, the server they drive."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import AppServer, chromium, new_page, shot


@pytest.fixture(scope="module")
def browser(app: AppServer) -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test (its own Streamlit session); a screenshot if the test fails."""
    failed_before = request.session.testsfailed
    with new_page(browser) as page:
        yield page
        if request.session.testsfailed > failed_before:  # what the browser showed when it failed
            shot(page, f"FAILED-{request.node.name}", full_page=False)
