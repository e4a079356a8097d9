"""A generated suite as the rest of the explorer reads it: cases, coverage, how it was made.

Kept apart from :mod:`lib.qa.generate` (how a suite is made) so that the runner, the stored
results and the page read suites without the generator.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.qa.values import Value


@dataclass(frozen=True)
class Case:
    """One request to send: the value of every enabled dimension, the payload and what the API should say."""

    index: int
    values: dict[str, Value]
    negative_path: str | None
    payload: dict[str, Any]
    expected_paths: tuple[str, ...]

    @property
    def expected(self) -> str:
        return expected_text(self.expected_paths)

    @property
    def labels(self) -> dict[str, str]:
        """Path → value label: how a case is shown, stored and matched across runs."""
        return {path: value.label for path, value in self.values.items()}


@dataclass(frozen=True)
class Coverage:
    """t-tuples of non-negative values the suite contains, of those the constraints allow."""

    strength: int
    covered: int
    possible: int
    percent: float


def coverage_text(coverage: Coverage | None) -> str:
    """``pairs covered / possible after constraints: 1,279 / 1,279 (100 %)``."""
    if coverage is None:
        return "coverage not measured"
    name = {2: "pairs", 3: "triples"}.get(coverage.strength, f"{coverage.strength}-tuples")
    return (f"{name} covered / possible after constraints: {coverage.covered:,} / {coverage.possible:,} "
            f"({coverage.percent:.4g} %)")


@dataclass(frozen=True)
class Suite:
    """The cases in order, their coverage (None when not measured) and the strength and seed they came from."""

    cases: list[Case]
    coverage: Coverage | None
    strength: int | str
    seed: int


def expected_text(expected_paths: Sequence[str]) -> str:
    """``accepted``, or ``refused: a, b``: what a case expects, as the preview, the results and the exports say it."""
    return "refused: " + ", ".join(expected_paths) if expected_paths else "accepted"
