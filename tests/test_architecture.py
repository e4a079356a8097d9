"""The layers keep their shape: what each may import, how big a module grows, where a field is named.

- ``lib/`` is the engine and never imports Streamlit.
- Pages and ``ui/`` reach ``lib`` only through one service module per area (``lib.<area>.service``).
- No module in ``lib/`` over ~400 lines, no page over ~150 lines.
- A field's dotted path (``transaction.amount``) is written only in the field description.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lib.fields.schema import leaves

REPO = Path(__file__).resolve().parent.parent
LIB = sorted((REPO / "lib").rglob("*.py"))
UI = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
FIELD_DESCRIPTION = REPO / "lib" / "fields" / "schema.py"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", LIB, ids=relative)
def test_lib_never_imports_streamlit(path: Path) -> None:
    assert not any(name == "streamlit" or name.startswith("streamlit.") for name in imports(path))


@pytest.mark.parametrize("path", UI, ids=relative)
def test_pages_and_ui_reach_lib_only_through_a_service(path: Path) -> None:
    reached = {name for name in imports(path) if name == "lib" or name.startswith("lib.")}
    assert [name for name in sorted(reached) if not re.fullmatch(r"lib\.[a-z_]+\.service(\.\w+)?", name)] == []


@pytest.mark.parametrize("path", LIB, ids=relative)
def test_no_lib_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


@pytest.mark.parametrize("path", sorted((REPO / "pages").glob("*.py")), ids=relative)
def test_no_page_is_over_150_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 150


def test_field_paths_are_written_only_in_the_field_description() -> None:
    """Paths with a dot (``transaction.amount``), as string literals anywhere but the description."""
    paths = {leaf.path for leaf in leaves() if "." in leaf.path}
    written = []
    for path in [*LIB, *UI]:
        if path == FIELD_DESCRIPTION or "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in paths:
                written.append(f"{relative(path)}:{node.lineno}: {node.value}")
    assert written == []


# SQL keywords as this code base writes them (upper case, followed by a space), in any string
# constant; lower case would match prose ("Select a row").
_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (TABLE|INDEX|TRIGGER)|ALTER TABLE|"
                  r"DROP (TABLE|INDEX|TRIGGER)|PRAGMA|BEGIN IMMEDIATE)\s")


@pytest.mark.parametrize("path", UI, ids=relative)
def test_no_sql_in_pages_or_ui(path: Path) -> None:
    """All SQL lives behind the stores in ``lib`` (``lib.<area>.interface``), so another engine
    can be added without touching a page."""
    found = [f"{relative(path)}:{node.lineno}: {node.value[:60]!r}"
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value)]
    assert found == []
