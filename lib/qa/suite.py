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
    """One request to send: the value of every enabled dimension, the payload and what the API should say.

    ``expected_paths`` is the tester's oracle: the field of the case's negative value (refused
    there), or nothing (accepted). ``contract_paths`` is what our own validator says of the
    payload; it never decides a result, since the sandbox runs that same code and judging
    ``acquired-test`` by it would take our own mistakes about the API as the truth.
    """

    index: int
    values: dict[str, Value]
    negative_path: str | None
    payload: dict[str, Any]
    expected_paths: tuple[str, ...]
    contract_paths: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        return expected_text(self.expected_paths)

    @property
    def contract(self) -> str:
        return expected_text(self.contract_paths)

    @property
    def labels(self) -> dict[str, str]:
        """Path → value label: how a case is shown, stored and matched across runs."""
        return {path: value.label for path, value in self.values.items()}


@dataclass(frozen=True)
class Coverage:
    """t-tuples of non-negative values the suite's cases without a negative contain (a refused
    request exercises nothing else), of those the constraints allow; and the negative pairs (a
    negative beside a valid value of another field) its refused cases hold, of those allowed,
    under the rule that placed the negatives (``smallest``, ``pict``, or None: cases made elsewhere).
    ``within``: each sub-model covered above ``strength``, as its strength and its PICT text
    (its tuples are counted in ``covered`` and ``possible``)."""

    strength: int
    covered: int
    possible: int
    percent: float
    negative_rule: str | None = None
    negative_pairs: int = 0
    negative_pairs_possible: int = 0
    within: tuple[tuple[int, str], ...] = ()


def tuples_name(strength: int) -> str:
    return {2: "pairs", 3: "triples"}.get(strength, f"{strength}-tuples")


def coverage_text(coverage: Coverage | None) -> str:
    """``pairs covered / possible after constraints: 1,279 / 1,279 (100 %) in cases without a negative;
    negatives beside valid values: 45 / 1,178 (smallest: each negative once)``; with a sub-model
    covered higher, ``pairs, triples within { tds.is_active, … } covered / possible …``."""
    if coverage is None:
        return "coverage not measured"
    name = tuples_name(coverage.strength) + "".join(
        f", {tuples_name(strength)} within {fields}" for strength, fields in coverage.within)
    text = (f"{name} covered / possible after constraints: {coverage.covered:,} / {coverage.possible:,} "
            f"({coverage.percent:.4g} %)")
    if not coverage.negative_pairs_possible:
        return text
    rule = {"pict": " (pict: each negative beside every valid value, every t-1 of them at strength t)",
            "smallest": " (smallest: each negative once)"}.get(coverage.negative_rule or "", "")
    return (f"{text} in cases without a negative; negatives beside valid values: {coverage.negative_pairs:,} / "
            f"{coverage.negative_pairs_possible:,}{rule}")


@dataclass(frozen=True)
class Suite:
    """The cases in order, their coverage (None when not measured) and the strength and seed they came from."""

    cases: list[Case]
    coverage: Coverage | None
    strength: int | str
    seed: int


@dataclass(frozen=True)
class Disagreement:
    """A value where the tester's mark and the contract's verdict differ, over the cases showing it."""

    path: str
    label: str
    tester: str  # negative (must be refused on this field) or positive
    contract: str  # expected_text of the contract's verdict
    cases: int
    first_case: int


def disagreements(cases: Sequence[Case]) -> list[Disagreement]:
    """Where the tester's marks and the contract disagree, before anything is sent: a negative the
    contract does not refuse on its field, or an all-positive case the contract refuses (named by
    the first field it refuses). One row per (field, value, verdict), first case first."""
    found: dict[tuple[str, str, str, str], list[int]] = {}
    for case in cases:
        if case.contract_paths == case.expected_paths:
            continue
        path = case.negative_path or case.contract_paths[0]
        value = case.values.get(path)
        key = (path, value.label if value else "<base>", "negative" if case.negative_path else "positive",
               expected_text(case.contract_paths))
        found.setdefault(key, []).append(case.index)
    return [Disagreement(*key, len(indices), indices[0]) for key, indices in found.items()]


def expected_text(expected_paths: Sequence[str]) -> str:
    """``accepted``, or ``refused: a, b``: what a case expects, as the preview, the results and the exports say it."""
    return "refused: " + ", ".join(expected_paths) if expected_paths else "accepted"
