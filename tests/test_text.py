"""Text from outside is shown as text: ``ui.text.md`` checked against an independent CommonMark parser.

markdown-it-py with linkify finds links, images, emphasis and bare URLs the way GitHub Markdown
does; Streamlit's own additions (``:red[…]``, ``$…$``, arrows) are checked in a real browser in
tests/test_browser.py.
"""
from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from tests.page_support import seen
from ui.text import md

PARSER = MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "strikethrough", "table"])
FORMATTING = re.compile(r"<(?!/?(?:p|code)>)[^>]+>")  # any tag but the paragraph and our code spans
TAGS = re.compile(r"<[^>]+>")
NASTY = ["[pay](https://evil.example)", "![x](https://evil.example/x.png)", "https://evil.example/a?b=1",
         "www.evil.example", "ann@example.com", "<b>bold</b><script>alert(1)</script>", "**bold** _it_ ~~gone~~",
         "# heading", "- item", "1. one", "> quote", "| a | b |", "&lt;b&gt; &amp;", "`code` ``` x``y", "x\\y\\\\z",
         "[x]: https://evil.example", "<https://evil.example>", "a  b\tc"]


def rendered(text: str) -> tuple[str, str]:
    """(the HTML of md(text), the text a reader sees in it)."""
    out = PARSER.render(md(text)).strip()
    return out, html.unescape(TAGS.sub("", out))


@pytest.mark.parametrize("text", NASTY)
def test_nasty_values_render_as_exactly_their_text(text: str) -> None:
    out, shown = rendered(text)
    assert FORMATTING.search(out) is None, out
    assert shown == text


@settings(max_examples=300)
@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(lambda t: t.strip()))
def test_any_text_renders_as_exactly_that_text(text: str) -> None:
    out, shown = rendered(text)
    assert FORMATTING.search(out) is None, out
    # CommonMark trims a paragraph's outer white space and changes nothing else.
    assert shown.strip() == text.strip(), out


@given(st.text(max_size=40))
def test_the_tests_reading_of_markdown_undoes_md(text: str) -> None:
    assert seen(md(text)).strip() == " ".join(text.splitlines()).strip() or "`" in text
