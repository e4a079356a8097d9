"""A page showing hostile text through ui.text.md in every Markdown element the console uses.

Started by tests/test_browser.py with ``streamlit run``; the browser then checks that each value
is shown as exactly its text, with no link, image, emphasis or formula.
"""
import streamlit as st

from ui.text import md

CORPUS = [
    "[pay](https://evil.example)", "![img](https://evil.example/x.png)", "https://evil.example/a?b=1",
    "www.evil.example", "ann@example.com", "<b>bold</b> <script>alert(1)</script>", ":red[red] :material/home: :smile:",
    "$x^2$", "**bold** _it_ `code` ``` a``b", "# heading", "- item", "1. one", "> quote", "a -> b <- c -- d",
    "| a | b |", "&lt;b&gt; &amp;", "mailto:x@y.z", "javascript:alert(1)", "`https://x.example`", "x\\y\\\\z",
    "<https://evil.example>", "[x]: https://evil.example", ":streamlit: :blue-badge[badge]",
]

for text in CORPUS:
    st.error(f"X {md(text)} Y")
st.table([{"value": md(text)} for text in CORPUS])
for text in CORPUS:
    st.caption(f"X {md(text)} Y")
