"""What QA types into the QA explorer's text boxes, generated: the constraint lines, the sub-model
lines, a pasted PICT model and the required rows either apply, or are refused with the line and the
reason and the text kept as typed (an applied PICT text shows the model's export); never an exception.

Hypothesis drives the real page through AppTest with lines built from what a tester writes (field
names, misspelt ones, PICT's punctuation) and what a paste brings (Markdown, HTML, long runs,
unicode). The oracle is independent of the parser: an accepted box counts one constraint or
sub-model per line that holds one, and an error names a line of the text.
"""
from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.page_support import errors
from tests.test_page_qa import generated

PAGE = "pages/qa_explorer.py"
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FIELDS = ["tds.is_active", "tds.challenge_preference", "transaction.currency", "save_card", "transaction.amount"]
NOISE = ["**bold**", "[x](http://evil.example)", "<b>x</b>", "<script>x</script>", "`code`", "é ü 漢字", "🙂",
         "x" * 300, "", " ", "\t", "#", "{", "}", "@", ",", ";", '"', "[", "]", "~"]


VALUES = ["true", "false", "gbp", "eur", "jpy", "0.01", "20", "12,50", "<not sent>", "~xxx", "~-1", '"quoted"']


def words() -> st.SearchStrategy[str]:
    """Mostly what a tester means (a field, a value), else a slip or a paste."""
    meant = st.sampled_from(FIELDS + VALUES)
    return st.one_of(meant, meant, meant, st.sampled_from(FIELDS).map(lambda f: f[:-1]), st.sampled_from(NOISE),
                     st.text(max_size=12))


@st.composite
def submodel_lines(draw: st.DrawFn) -> str:
    """Lines shaped like ``{ a, b } @ 3``, broken anywhere, or plain noise."""
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        names = draw(st.lists(st.sampled_from(FIELDS), min_size=2, max_size=4, unique=True) | st.lists(words(), max_size=4))
        line = "{ " + ", ".join(names) + " }" + draw(st.sampled_from(["", " @ 2", " @ 3", " @ 9", " @ x", " @"]))
        lines.append(draw(st.sampled_from([line] * 4 + [line.replace("{", ""), draw(words())])))
    return "\n".join(lines)


@st.composite
def constraint_lines(draw: st.DrawFn) -> str:
    """``IF [a] = "v" THEN [b] <> "w";`` shapes, broken anywhere, or plain noise."""
    lines = []
    for _ in range(draw(st.integers(0, 3))):
        a, b = draw(st.sampled_from(FIELDS) | words()), draw(st.sampled_from(FIELDS) | words())
        value = draw(st.sampled_from(['"false"', '"true"', '"<not sent>"', "0.01", '"gbp"', draw(words())]))
        line = f"IF [{a}] = {value} THEN [{b}] {draw(st.sampled_from(['=', '<>', 'IN', 'LIKE', '>']))} {value};"
        meant = (f'IF [tds.is_active] = "{draw(st.sampled_from(["true", "false"]))}" THEN [save_card] '
                 f'{draw(st.sampled_from(["=", "<>"]))} "{draw(st.sampled_from(["true", "false", "<not sent>"]))}";')
        lines.append(draw(st.sampled_from([meant] * 6 + [line, line.rstrip(";"), line.replace("THEN", ""), draw(words())])))
    return "\n".join(lines)


def counted(lines: str) -> int:
    return sum(1 for line in lines.splitlines() if line.strip() and not line.strip().startswith("#"))


def model_caption(at: Any) -> str:
    return next((c.value for c in at.caption if "fields enabled" in c.value), "")


def line_named(text: str, box: str, lines: str) -> bool:
    """Whether the error names a line of the box that the text has."""
    found = re.search(rf"{box} line (\d+)", text)
    return found is not None and 1 <= int(found.group(1)) <= max(1, len(lines.splitlines()))


def no_exception(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def page(open_page: Any) -> Any:
    return open_page(PAGE)


BOXES = {"qa_submodels": ("sub-model", submodel_lines()), "qa_constraints": ("constraint", constraint_lines())}


@settings(PROPERTY, max_examples=100)
@given(st.sampled_from(sorted(BOXES)).flatmap(lambda key: st.tuples(st.just(key), BOXES[key][1])))
def test_model_box_lines_apply_or_name_their_line(page: Any, typed: tuple[str, str]) -> None:
    """The constraint and sub-model boxes: applied (one per line in the caption's count), or the
    model refused naming a line of that box."""
    key, text = typed
    box = BOXES[key][0]
    for other in BOXES.keys() - {key}:  # the page lives across examples: the other box emptied (valid)
        page.text_area(key=other).input("")
    at = page.text_area(key=key).input(text).run()
    no_exception(at)
    assert at.text_area(key=key).value == text
    problems = [e for e in errors(at) if e.startswith("The model is not usable yet")]
    event(f"{box}: {'refused' if problems else 'applied'}")
    if problems:
        assert line_named(problems[0], box, text), problems
    else:
        assert f"· {counted(text)} {box}(s)" in model_caption(at), (text, model_caption(at))


@PROPERTY
@given(st.lists(st.one_of(
    st.tuples(st.sampled_from(FIELDS), st.lists(words(), min_size=1, max_size=3)).map(
        lambda p: f"{p[0]}: {', '.join(p[1])}"),
    submodel_lines(), constraint_lines(), words()), min_size=1, max_size=5).map("\n".join))
def test_a_pasted_pict_model_applies_or_names_its_line(page: Any, text: str) -> None:
    page.text_area(key="qa_pict_text").input(text)
    at = next(b for b in page.button if b.label.startswith("Apply PICT")).click().run()
    no_exception(at)
    refused = [e for e in errors(at) if "PICT line" in e]
    event("refused" if refused else "applied")
    if refused:
        assert at.text_area(key="qa_pict_text").value == text  # kept as pasted, to be mended
        assert line_named(refused[0], "PICT", text), refused
    else:  # applied: one enabled field per parameter line, and the box shows the model's export
        listed = {m.group(1) for m in re.finditer(r"^\s*([\w.]+)\s*:", text, re.MULTILINE)}
        assert model_caption(at).startswith(f"{len(listed)} of "), (text, model_caption(at))


@st.composite
def seeding_texts(draw: st.DrawFn) -> str:
    """PICT's seeding file as typed or pasted: a header of fields, then rows of tab-separated cells."""
    header = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)
                  | st.lists(words(), min_size=1, max_size=3))
    cells = st.sampled_from(["", "", "gbp", "eur", "true", "false", "0.01", "<not sent>"]) | words()
    rows = draw(st.lists(st.lists(cells, min_size=1, max_size=len(header) + 1), max_size=3))
    return "\n".join("\t".join(cells) for cells in [header, *rows])


@PROPERTY
@given(seeding_texts())
def test_required_rows_generate_or_name_their_line(page: Any, text: str) -> None:
    page.text_area(key="qa_seeds").input(text)
    at = generated(next(b for b in page.button if b.label == "Generate").click().run())
    no_exception(at)
    assert at.text_area(key="qa_seeds").value == text
    refused = [e for e in errors(at) if "required rows" in e]
    event("refused" if refused else "applied")
    if refused:
        assert line_named(refused[0], "required rows", text), refused
    else:
        assert any("covered / possible" in s.value and "(100 %)" in s.value for s in at.success), errors(at)
