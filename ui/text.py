"""Text from outside (a URL, the API, a customer) shown as text inside Streamlit's Markdown.

``st.error``, ``st.markdown``, ``st.caption`` and ``st.table`` cells render Markdown plus
Streamlit's own syntax (``:red[…]``, ``:material/…:``, ``$…$`` LaTeX, ``->`` arrows), so a value
such as ``[pay here](https://evil.example)`` or ``![x](…)`` would become a link or an image.
(``st.dataframe`` cells and ``st.code`` / ``st.text`` show text as it is: no escaping there.)

Two mechanisms, because one is not enough:
- CommonMark lets every ASCII punctuation character be escaped with a backslash, which makes
  each one literal: escaping all of them leaves no syntax to slip through.
- GitHub's autolinks (``https://…``, ``www.…``, ``ann@example.com``), Streamlit's arrows and its
  ``:streamlit:`` logo are found after escapes and character references are decoded (checked in
  a browser), so a word that could become one is put in a code span instead, whose content
  Markdown never interprets. (Streamlit rewrites ``:material/`` in the raw text, code spans
  included, so escaping, not a code span, is what keeps that one literal.)
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_WORD = re.compile(r"(\s+)")
# What is turned into something else even when escaped: autolinks, Streamlit's logo shortcode, and
# the arrows and dashes Streamlit replaces by symbols ("->" → "→").
_LITERAL_ONLY = re.compile(r"://|www\.|@|mailto:|xmpp:|:streamlit:|<-|->|--|>=|<=|~=", re.IGNORECASE)
_BACKTICKS = re.compile(r"`+")


def _code_span(word: str) -> str:
    """``word`` as an inline code span: a fence longer than any run of backticks inside it."""
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(word)), default=0) + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"


def md(value: object) -> str:
    """``value`` as Markdown that shows exactly its text (line breaks become spaces)."""
    words = _WORD.split(" ".join(str(value).splitlines()))
    return "".join(
        word if word.isspace() or not word else _code_span(word) if _LITERAL_ONLY.search(word)
        else _PUNCTUATION.sub(r"\\\1", word)
        for word in words
    )
