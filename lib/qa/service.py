"""The QA explorer's one door into ``lib``: what the page and ``ui/qa_*`` may call, and all they import.

Why it is built this way:
- Every answer is a frozen dataclass (stdlib: checked by mypy, no runtime cost). Inputs are
  already validated by the JSON Schema or by our own parsers, so a parsing library would buy
  nothing. No query row and no ``dict[str, Any]`` leaves this module; the few types the UI names
  are re-exported here, so a page never reaches behind the door.
- Everything that can be refused (a model that does not read, a suite that cannot be generated,
  a run the person may not start) raises one error type, :class:`QAError`, whose message names
  the field, the line or the reason, ready to be shown as text.
- The rules stay where they are tested: the run's targets and the ``qa_run`` check in
  :mod:`lib.qa.runner`, the masking in :mod:`lib.qa.results`, the model's checks in
  :mod:`lib.qa.model`. This module only puts them behind one object, built from the console's
  database, client factory and clock.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from lib.access.policy import AccessDenied, Identity
from lib.common.timefmt import utc_now
from lib.qa import allpairs, editor, export, runner
from lib.qa.allpairs import Yardstick
from lib.qa.defaults import default_model
from lib.qa.editor import DimensionRow
from lib.qa.generate import CONFIRM_ABOVE, FULL_LIMIT, full_product_size, generate
from lib.qa.interface import RunRecords, RunWriter
from lib.qa.model import Model
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.pict import from_pict, to_pict
from lib.qa.results import (
    SURPRISE,
    CaseDifference,
    CaseRow,
    Outcome,
    RunInfo,
    RunProgress,
    RunReader,
    RunSummary,
    ValueRate,
)
from lib.qa.runner import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MIN_CONCURRENCY, TARGETS, ClientFactory
from lib.qa.seeds import Seed, read_seeds, saved_seeds
from lib.qa.store import RunStore
from lib.qa.suite import Disagreement, Suite, coverage_text, disagreements
from lib.sessions.service import SessionsService

__all__ = [
    "DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "MIN_CONCURRENCY", "NEGATIVE_RULES", "SURPRISE", "CaseDifference",
    "CaseRow", "DimensionRow", "Disagreement", "FullProduct", "Generated", "Model", "NegativeRule", "Outcome",
    "QAError", "QAService", "RunInfo", "RunProgress", "RunSummary", "Seed", "ValueRate",
]

Strength = int | Literal["full"]


class QAError(ValueError):
    """Something the explorer refuses, with the reason a person can act on (shown as text)."""


@dataclass(frozen=True)
class FullProduct:
    """How large a full product would be, against the sizes that need a confirmation or are refused."""

    cases: int
    confirm_above: int = CONFIRM_ABOVE
    limit: int = FULL_LIMIT

    @property
    def too_big(self) -> bool:
        return self.cases > self.limit

    @property
    def needs_confirmation(self) -> bool:
        return self.confirm_above < self.cases <= self.limit


@dataclass(frozen=True)
class Generated:
    """A suite with the model it was generated from (JSON and PICT) and allpairspy's result on that model."""

    suite: Suite
    model_json: str
    model_pict: str
    allpairspy: Yardstick

    def matches(self, model: Model) -> bool:
        """Whether the suite was generated from ``model`` as it is now (else it must be generated again)."""
        return self.model_json == model.to_json()

    @property
    def coverage_text(self) -> str:
        return coverage_text(self.suite.coverage)

    @property
    def allpairspy_coverage_text(self) -> str:
        return coverage_text(self.allpairspy.coverage)


class QAService:
    """Models, suites and runs of one console database; cheap to construct, safe to share between sessions."""

    def __init__(self, db_path: str | Path, clients: ClientFactory, environments: Callable[[], Iterable[str]], *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        store = RunStore(db_path, clock=clock)  # the stores, by their interfaces (lib.qa.interface)
        self._store: RunWriter = store
        self._runs: RunRecords = RunReader(store)
        self._clients = clients
        self._environments = environments
        self.db_path = self._store.db_path

    @classmethod
    def for_console(cls, console: SessionsService) -> QAService:
        """The service over a console's database, clients and clock."""
        return cls(console.db_path, console.client, console.environments, clock=console.clock)

    # --- the model ----------------------------------------------------------------------------
    def default_model(self) -> Model:
        return default_model()

    def editor_rows(self, model: Model) -> list[DimensionRow]:
        """One editable row per dimension: path, enabled, the values as comma-separated labels."""
        return editor.dimension_rows(model)

    def constraint_text(self, model: Model) -> str:
        return editor.constraint_text(model)

    def edit_model(self, base: Model, records: Iterable[Mapping[str, Any]], constraints: str) -> Model:
        """The model the table's records and the constraint lines describe, over ``base``'s fields."""
        try:
            return editor.model_from_editor(base, map(DimensionRow.from_record, records), constraints)
        except ValueError as exc:
            raise QAError(str(exc)) from None

    def import_pict(self, text: str, base: Model) -> Model:
        """The model a PICT text describes; fields it leaves out keep ``base``'s values, switched off."""
        try:
            return from_pict(text, base)
        except ValueError as exc:
            raise QAError(f"PICT {exc}") from None

    def export_pict(self, model: Model) -> str:
        return to_pict(model)

    def run_model(self, run_id: str) -> Model | None:
        """The model a saved run was generated from (None when it kept none)."""
        text = self._runs.model_json(run_id)
        return Model.from_json(text) if text else None

    # --- generation ---------------------------------------------------------------------------
    def full_product(self, model: Model, fields: Sequence[str] | None) -> FullProduct:
        """The size of the full product over ``fields``, at most one negative per case, before constraints."""
        return FullProduct(full_product_size(model, fields))

    def generate(self, model: Model, *, strength: Strength = 2, seed: int = 0, full_dims: Sequence[str] | None = None,
                 confirm: bool = False, negative_rule: NegativeRule = "smallest",
                 seeds: Sequence[Seed] = ()) -> Generated:
        """The suite (see :func:`lib.qa.generate.generate`) with allpairspy's count and coverage beside it."""
        try:
            suite = generate(model, strength=strength, seed=seed, full_dims=full_dims, confirm=confirm,
                             negative_rule=negative_rule, seeds=seeds)
        except ValueError as exc:
            raise QAError(str(exc)) from None
        return Generated(suite, model.to_json(), to_pict(model), allpairs.measure(model))

    def disagreements(self, generated: Generated) -> list[Disagreement]:
        """Before running: the values where the tester's marks and the contract's verdict differ
        (each is a surprise waiting to happen on a target that follows the contract)."""
        return disagreements(generated.suite.cases)

    # --- runs ---------------------------------------------------------------------------------
    def targets(self, who: Identity) -> list[str]:
        """Where ``who`` may send a run: the QA targets (never live) among the environments their role works in."""
        allowed = who.allowed_environments(self._environments(), "qa_run")
        return [target for target in TARGETS if target in allowed]

    def start_run(self, generated: Generated, *, target: str, concurrency: int, who: Identity,
                  headers: Mapping[str, str] | None = None) -> str:
        """Start the suite on ``target`` in server-side workers; the run id at once. Refused (QAError)
        for a live target, a bad concurrency, or a person not allowed ``qa_run`` there (logged)."""
        try:
            return runner.start_run(self._clients, env_name=target, who=who, suite=generated.suite,
                                    model_json=generated.model_json, model_pict=generated.model_pict,
                                    concurrency=concurrency, headers=headers, store=self._store)
        except (ValueError, AccessDenied) as exc:
            raise QAError(str(exc)) from None

    def cancel(self, run_id: str) -> None:
        """No new case starts; cases under way finish and are kept (whichever process runs it)."""
        runner.cancel(run_id, store=self._store)

    def recover_interrupted(self) -> list[str]:
        """Mark the runs whose worker process is gone as ``interrupted`` (once per process start)."""
        return self._store.recover_interrupted()

    def progress(self, run_id: str) -> RunProgress:
        return self._runs.progress(run_id)

    def run(self, run_id: str) -> RunInfo | None:
        return self._runs.run(run_id)

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """Saved runs, newest first."""
        return self._runs.runs(limit)

    def cases(self, run_id: str, who: Identity, *, only_surprises: bool = False,
              limit: int | None = None) -> list[CaseRow]:
        """Stored cases in index order, customer data masked for those who see it masked."""
        return [case.masked(who.masks_personal_data)
                for case in self._runs.cases(run_id, only_surprises=only_surprises, limit=limit)]

    def summary(self, run_id: str) -> RunSummary:
        return self._runs.summary(run_id)

    def culprits(self, run_id: str) -> list[ValueRate]:
        """Failure rate by field value, only values that met a surprise, worst first."""
        return [rate for rate in self._runs.failure_rates(run_id) if rate.surprises]

    def compare(self, run_a: str, run_b: str) -> list[CaseDifference]:
        """Cases whose outcome differs between two runs, matched by their values, in run A's order."""
        return self._runs.compare(run_a, run_b)

    def export_csv(self, run_id: str, who: Identity) -> bytes:
        return export.export_csv(self._runs, run_id, mask=who.masks_personal_data)

    def export_json(self, run_id: str, who: Identity) -> bytes:
        return export.export_json(self._runs, run_id, mask=who.masks_personal_data)

    # --- required rows and extending a saved suite --------------------------------------------
    def read_seeds(self, text: str, model: Model) -> list[Seed]:
        """The rows QA requires in every suite (PICT's seeding file, :mod:`lib.qa.seeds`), or
        QAError naming the line and the reason."""
        try:
            return read_seeds(text, model)
        except ValueError as exc:
            raise QAError(f"required rows {exc}") from None

    def extend(self, run_id: str, model: Model, *, strength: Strength = 2, seed: int = 0,
               negative_rule: NegativeRule = "smallest") -> Generated:
        """The saved run's cases kept (as far as ``model`` still has their values) and only the
        cases ``model``'s new fields and values need added after them."""
        labels = [case.labels for case in self._runs.cases(run_id)]
        if not labels:
            raise QAError(f"run {run_id} has no saved cases to extend")
        return self.generate(model, strength=strength, seed=seed, negative_rule=negative_rule,
                             seeds=saved_seeds(labels, model))
