"""Running pages under AppTest and reading them as a person sees them (Markdown undone), shared by the page tests."""
from __future__ import annotations

import re
from typing import Any

_BOLD = re.compile(r"\*\*(.*?)\*\*")
_SMALL = re.compile(r":small\[((?:\\.|[^\]\\])*)\]")
_CODE = re.compile(r"(`+) ?(.*?) ?\1")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_FIELD_ERROR = re.compile(r"^(?P<label>.+?): (?P<reason>.*) · (?P<path>[^ ]+)$")


def seen(markdown: str) -> str:
    """The text a browser shows for our Markdown (bold, small, code spans and escapes undone)."""
    text = _SMALL.sub(r"\1", _BOLD.sub(r"\1", markdown))
    text = _CODE.sub(lambda m: m.group(2).replace("\\", "\\\\"), text)
    return _ESCAPED.sub(r"\1", text)


def errors(at: Any) -> list[str]:
    """Every error box's text as shown."""
    return [seen(e.value) for e in at.error]


def field_errors(at: Any) -> dict[str, str]:
    """The problems shown at fields: API path → ``Label: reason``."""
    found = {}
    for text in errors(at):
        match = _FIELD_ERROR.match(text)
        if match:
            found[match["path"]] = f"{match['label']}: {match['reason']}"
    return found


def run(at: Any, **query: str) -> Any:
    """Run the AppTest ``at`` with ``query`` in its URL; an exception in the script fails the test, naming it."""
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
