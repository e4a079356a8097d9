"""What the app imports at run time is declared in requirements.txt, not only in the dev requirements.

A deployment installs ``requirements.txt`` alone: a module that ``app.py``, ``pages/``, ``ui/`` or
``lib/`` imports from a distribution outside that file's closure (its pins and what they require)
crashes the page that needs it.
"""
from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCAL = {"lib", "ui", "pages", "tests", "app"}


def runtime_sources() -> list[Path]:
    return [REPO / "app.py", *sorted(p for d in ("pages", "ui", "lib") for p in (REPO / d).rglob("*.py"))]


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file that are neither stdlib nor ours."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in LOCAL and n != "__future__"}


def declared_closure() -> set[str]:
    """Canonical names of requirements.txt's distributions and, transitively, of what they require."""
    pending = [Requirement(line.split("#")[0].strip()) for line in (REPO / "requirements.txt").read_text().splitlines()
               if line.split("#")[0].strip()]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(requirement.name) or []:
            nested = Requirement(raw)
            if nested.marker is None or nested.marker.evaluate({"extra": ""}):
                pending.append(nested)
    return seen


def test_every_runtime_import_comes_from_requirements_txt() -> None:
    providers = metadata.packages_distributions()
    closure = declared_closure()
    missing = {}
    for path in runtime_sources():
        for module in third_party_imports(path):
            dists = {canonicalize_name(d) for d in providers.get(module, [])}
            if not dists & closure:
                missing[f"{path.relative_to(REPO)}: {module}"] = sorted(dists) or "not installed"
    assert missing == {}


def test_the_check_sees_a_dev_only_import(tmp_path: Path) -> None:
    """The check can fail: pytest is installed (dev requirements) but not required at run time."""
    sample = tmp_path / "sample.py"
    sample.write_text("import pytest\nfrom lib import money\nimport json\n")
    assert third_party_imports(sample) == {"pytest"}
    assert "pytest" not in declared_closure() and "allpairspy" in declared_closure()
