"""What the QA explorer page shows, as plain rows and texts, so the page only draws them.

The model table and the constraint text are read back here into a :class:`Model`: every
problem comes out as one ValueError naming the field or the line, so the page shows it and keeps
what the person typed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lib.storage.db import parse_utc
from lib.qa import allpairs
from lib.qa.suite import Case, Coverage, Suite, coverage_text
from lib.qa.model import Dimension, Model, check_values
from lib.qa.values import Value, read_values
from lib.qa.pict import from_pict, to_pict
from lib.qa.store import Progress

SURPRISE = "⚠ surprise"


# --- the model ----------------------------------------------------------------------------------
def dimension_rows(model: Model) -> list[dict[str, Any]]:
    """One editable row per dimension: path, enabled, the values as comma-separated labels."""
    return [{"path": d.path, "enabled": d.enabled, "values": ", ".join(v.label for v in d.values)}
            for d in model.dimensions]


def constraint_text(model: Model) -> str:
    """The model's constraints as PICT lines (the PICT export's constraint part)."""
    return "\n".join(line for line in to_pict(model).splitlines() if line.startswith("IF "))


def parse_values(path: str, text: str) -> list[Value]:
    """A dimension's values from its table cell; ValueError names the field."""
    try:
        values, _ = read_values(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    check_values(path, values)
    return values


def model_from_editor(base: Model, rows: Iterable[Mapping[str, Any]], constraints: str) -> Model:
    """The model the table and the constraint lines describe, over ``base``'s fields and payload.

    ValueError names the field (``transaction.amount: …``) or the constraint line (``constraint line 2: …``).
    """
    edited = {str(row["path"]): row for row in rows}
    dimensions = [
        Dimension(d.path, parse_values(d.path, str(edited[d.path]["values"] or "")), bool(edited[d.path]["enabled"]))
        if d.path in edited else d
        for d in base.dimensions
    ]
    model = Model(dimensions, [], base.base)
    for number, line in enumerate(constraints.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped[:2].upper() != "IF":
            raise ValueError(f"constraint line {number}: expected 'IF [field] = value THEN [field] IN {{...}};'")
    try:
        parsed = from_pict(constraints, model)
    except ValueError as exc:
        raise ValueError(f"constraint {exc}") from None
    return replace(model, constraints=parsed.constraints)


def apply_pict(text: str, base: Model) -> Model:
    """The model a PICT text describes; fields it leaves out keep ``base``'s values, switched off.
    ValueError says ``PICT line N: …``."""
    try:
        return from_pict(text, base)
    except ValueError as exc:
        raise ValueError(f"PICT {exc}") from None


# --- generation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generated:
    """A suite with what it was generated from and allpairspy's result on the same model."""

    suite: Suite
    model_json: str
    model_pict: str
    allpairspy_cases: int | None
    allpairspy_coverage: Coverage | None


def compare_with_allpairspy(model: Model, suite: Suite) -> Generated:
    """Bundle a suite with allpairspy's count and pairwise coverage (cheap: well under a second)."""
    theirs = allpairs.measure(model)
    return Generated(suite, model.to_json(), to_pict(model), theirs.cases, theirs.coverage)


def coverage_line(coverage: Coverage | None) -> str:
    """``pairs covered / possible after constraints: 1,279 / 1,279 (100 %)``."""
    return coverage_text(coverage)


def case_rows(cases: Sequence[Case], limit: int | None = None) -> list[dict[str, Any]]:
    """The preview: index, expected outcome, then one column per enabled field (value labels)."""
    return [{"#": c.index, "expected": c.expected, **c.labels} for c in cases[:limit]]


# --- a run --------------------------------------------------------------------------------------
def progress_text(p: Progress) -> str:
    """``42 / 90 cases · 3 surprises · 12 s left · running``."""
    left = "" if p.finished or p.eta_s is None else f" · {p.eta_s:,.0f} s left"
    return f"{p.done:,} / {p.total:,} cases · {p.surprises:,} surprise(s){left} · {p.status}"


def progress_fraction(p: Progress) -> float:
    return min(p.done / p.total, 1.0) if p.total else 1.0


def answer_text(case: Mapping[str, Any]) -> str:
    """The session id, else each refused path with its reason, else the error."""
    if case.get("session_id"):
        return str(case["session_id"])
    problems = "; ".join(f"{p.get('parameter')}: {p.get('reason')}" for p in case.get("problems") or [])
    return problems or str(case.get("error") or "")


def result_rows(cases: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per stored case: surprise flag first, then the outcome, then the values sent."""
    return [{"#": c["idx"], "surprise": SURPRISE if c["surprise"] else "", "result": c["result"],
             "expected": c["expected"], "HTTP status": c["http_status"], "session id / refusal": answer_text(c),
             "latency ms": c["latency_ms"], **c["labels"]}
            for c in cases]


def count_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Counts by result, non-zero ones only (every class when nothing ran yet is noise)."""
    return [{"result": result, "cases": n} for result, n in summary["counts"].items() if n]


def culprit_rows(rates: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Failure rate by field value, only values that met a surprise (the store sorts worst first)."""
    return [{"field": r["path"], "value": r["label"], "cases": r["cases"], "surprises": r["surprises"],
             "failure rate": r["rate"]} for r in rates if r["surprises"]]


def run_label(run: Mapping[str, Any]) -> str:
    """How a saved run reads in a picker: ``id · environment · strength · seed · who``."""
    return (f"{run['run_id']} · {run['environment']} · strength {run['strength']} · seed {run['seed']} · "
            f"{run['operator']}")


def run_rows(runs: Iterable[Mapping[str, Any]], show_time: Callable[[datetime], str]) -> list[dict[str, Any]]:
    """The saved-runs list: who, when (in the viewer's zone), target, strength, seed, status, totals."""
    return [{"run": r["run_id"], "who": r["operator"], "when": show_time(parse_utc(r["created_at"])),
             "target": r["environment"], "strength": r["strength"], "seed": r["seed"], "status": r["status"],
             "done": r["done"], "total": r["total"], "surprises": r["surprises"]}
            for r in runs]


def compare_rows(differences: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Run A against run B: the change, each side's result / status / refused paths, then the values."""
    def side(d: Mapping[str, Any], s: str) -> str:
        if d[f"{s}_index"] is None:
            return "—"
        paths = ", ".join(d[f"{s}_paths"] or [])
        return f"{d[f'{s}_result']} · HTTP {d[f'{s}_http_status']}" + (f" · {paths}" if paths else "")

    return [{"change": d["change"].replace("_", " "), "A": side(d, "a"), "B": side(d, "b"), **d["labels"]}
            for d in differences]
