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
from lib.audit.service import AuditService
from lib.calllog.log import CallLog
from lib.calllog.redaction import REDACTED
from lib.common.timefmt import utc_now
from lib.qa import allpairs, editor, export, runner
from lib.qa.allpairs import Yardstick
from lib.qa.calls import CaseCall
from lib.qa.defaults import default_model
from lib.qa.editor import DimensionRow
from lib.qa.generate import CONFIRM_ABOVE, FULL_LIMIT, full_product_size, generate
from lib.qa.generation_jobs import Job
from lib.qa.interface import RunRecords, RunWriter
from lib.qa.model import Model
from lib.qa.negatives import NEGATIVE_RULES, NegativeRule
from lib.qa.pict import from_pict, to_pict
from lib.qa.results import (
    SURPRISE,
    CaseDifference,
    CaseRow,
    Comparison,
    Outcome,
    RunInfo,
    RunProgress,
    RunReader,
    RunSummary,
    ValueRate,
)
from lib.qa.runner import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MIN_CONCURRENCY, TARGETS, ClientFactory
from lib.qa.seeds import Seed, read_seeds, saved_seeds
from lib.qa.steps import NO_STEPS, Steps
from lib.qa.store import RERUN_ALL, RERUN_SURPRISES, RUNNING, Origin, RunStore
from lib.qa.suite import Disagreement, Suite, coverage_text, disagreements
from lib.sessions.service import SessionsService

__all__ = [
    "DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "MIN_CONCURRENCY", "NEGATIVE_RULES", "RERUN_ALL", "RERUN_SURPRISES",
    "SURPRISE", "CaseCall", "CaseDifference", "CaseRow", "Comparison", "DimensionRow", "Disagreement", "FullProduct",
    "Generated", "GenerationJob", "Model", "NegativeRule", "Outcome", "QAError", "QAService", "RunInfo", "RunProgress",
    "RunSummary", "Seed", "ValueRate",
]

Strength = int | Literal["full"]
# A generation no page has polled for this long is stopped (its session was reloaded or closed). Well
# above a browser's slowest timer in a hidden tab (about once a minute), so a watched job never stops.
ABANDON_GENERATION_S = 300.0


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


GenerationJob = Job[Generated]  # a suite generated in the background (:meth:`QAService.start_generation`)


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

    def submodel_text(self, model: Model) -> str:
        return editor.submodel_text(model)

    def edit_model(self, base: Model, records: Iterable[Mapping[str, Any]], constraints: str,
                   submodels: str = "") -> Model:
        """The model the table's records, the constraint lines and the sub-model lines describe,
        over ``base``'s fields."""
        try:
            return editor.model_from_editor(base, map(DimensionRow.from_record, records), constraints, submodels)
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
                 confirm: bool = False, negative_rule: NegativeRule = "smallest", seeds: Sequence[Seed] = (),
                 steps: Steps = NO_STEPS) -> Generated:
        """The suite (see :func:`lib.qa.generate.generate`) with allpairspy's count and coverage beside it;
        ``steps`` reports both computations' progress and stops them on a cancel."""
        try:
            suite = generate(model, strength=strength, seed=seed, full_dims=full_dims, confirm=confirm,
                             negative_rule=negative_rule, seeds=seeds, progress=steps.progress,
                             cancelled=steps.cancelled)
        except ValueError as exc:
            raise QAError(str(exc)) from None
        yardstick = allpairs.measure(model, progress=steps.progress, cancelled=steps.cancelled)
        return Generated(suite, model.to_json(), to_pict(model), yardstick)

    def start_generation(self, model: Model, *, strength: Strength = 2, seed: int = 0,
                         full_dims: Sequence[str] | None = None, confirm: bool = False,
                         negative_rule: NegativeRule = "smallest", seeds: Sequence[Seed] = ()) -> GenerationJob:
        """:meth:`generate` in a background thread, so a big suite blocks no page: the job at once, its
        progress while it goes (poll it with ``watch``, or it stops after :data:`ABANDON_GENERATION_S`),
        then the suite, or the refusal as its error, or nothing once cancelled."""
        seeds = list(seeds)
        return Job(lambda steps: self.generate(model, strength=strength, seed=seed, full_dims=full_dims,
                                               confirm=confirm, negative_rule=negative_rule, seeds=seeds,
                                               steps=steps), name="qa-generate", abandon_after_s=ABANDON_GENERATION_S)

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
        return self._start(generated.suite, target=target, who=who, model_json=generated.model_json,
                           model_pict=generated.model_pict, concurrency=concurrency, headers=headers)

    def _start(self, suite: Suite, *, target: str, who: Identity, concurrency: int, model_json: str | None,
               model_pict: str | None, headers: Mapping[str, str] | None, origin: Origin | None = None) -> str:
        """The runner's start, its refusals as QAError (a new suite and a rerun are refused alike)."""
        try:
            return runner.start_run(self._clients, env_name=target, who=who, suite=suite, model_json=model_json,
                                    model_pict=model_pict, concurrency=concurrency, headers=headers,
                                    store=self._store, origin=origin)
        except (ValueError, AccessDenied) as exc:
            raise QAError(str(exc)) from None

    def cancel(self, run_id: str) -> None:
        """No new case starts; cases under way (at most two per connection: the one sent and the one whose
        request is written) finish and are kept (whichever process runs it)."""
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

    # --- after a run: open a case, rerun, compare -------------------------------------------------
    def case_call(self, run_id: str, index: int, who: Identity) -> CaseCall | None:
        """Case ``index`` of a run with the request it sent and the API's answer, read from the call
        log's entries of its attempt; customer data masked for those who see it masked (None: no such case)."""
        case = self._runs.case(run_id, index)
        if case is None:
            return None
        mask = who.masks_personal_data
        view = (None if case.entry_seq is None
                else AuditService(CallLog(self.db_path)).entry_view(case.entry_seq, mask=mask))
        return CaseCall.of(case.masked(mask), view)

    def rerun(self, run_id: str, *, who: Identity, scope: str = RERUN_ALL) -> str:
        """Send a saved run's cases again as a new run naming it: all of them (``RERUN_ALL``) or only
        the failed and surprising ones (``RERUN_SURPRISES``), same target, concurrency, model and
        headers (less those the log redacted: their values are gone). Refused (QAError) as a new
        run would be (role, live target), and for a run still going or with nothing to rerun."""
        run = self._runs.record(run_id)
        if run is None:
            raise QAError(f"no QA run {run_id!r}")
        if run["status"] == RUNNING:
            raise QAError(f"run {run_id} is still running: rerun it once it has ended")
        origin = Origin(run_id, scope)
        cases = [case.as_case() for case in self._runs.cases(run_id, only_surprises=scope == RERUN_SURPRISES)]
        if not cases:
            raise QAError(f"run {run_id} has no {'failed or surprising case' if scope == RERUN_SURPRISES else 'case'}"
                          " to rerun")
        headers = {name: value for name, value in run["headers"].items() if value != REDACTED}
        return self._start(Suite(cases, None, run["strength"], run["seed"]), target=run["environment"], who=who,
                           model_json=run["model_json"], model_pict=run["model_pict"],
                           concurrency=run["concurrency"], headers=headers, origin=origin)

    def compare(self, run_a: str, run_b: str) -> Comparison:
        """Two runs' cases matched by their values: only in A, only in B, in both but differing, and
        how many are alike (see :meth:`lib.qa.results.RunReader.compare`)."""
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
               negative_rule: NegativeRule = "smallest", steps: Steps = NO_STEPS) -> Generated:
        """The saved run's cases kept (as far as ``model`` still has their values) and only the
        cases ``model``'s new fields and values need added after them."""
        return self.generate(model, strength=strength, seed=seed, negative_rule=negative_rule,
                             seeds=self._saved_seeds(run_id, model), steps=steps)

    def start_extension(self, run_id: str, model: Model, *, strength: Strength = 2, seed: int = 0,
                        negative_rule: NegativeRule = "smallest") -> GenerationJob:
        """:meth:`extend` as a background job (:meth:`start_generation`); a run with no saved cases is
        refused here, before any job starts."""
        return self.start_generation(model, strength=strength, seed=seed, negative_rule=negative_rule,
                                     seeds=self._saved_seeds(run_id, model))

    def _saved_seeds(self, run_id: str, model: Model) -> list[Seed]:
        labels = [case.labels for case in self._runs.cases(run_id)]
        if not labels:
            raise QAError(f"run {run_id} has no saved cases to extend")
        return saved_seeds(labels, model)
