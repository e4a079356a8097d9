"""The QA explorer's saved-runs tab: every run, open one, load its model, export it, rerun it, compare two.

Owns the pickers' keys. Exports are built only when their button is clicked, masked as the page
is for people who see customer data masked. A rerun starts at once (one click) and opens on the Run tab.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st

from lib.qa.service import RERUN_ALL, RERUN_SURPRISES, CaseDifference, QAError, QAService, RunInfo
from ui import qa_model_editor, qa_run
from ui.frame import Frame
from ui.text import md

RERUN_NOTICE = "qa_rerun_notice"  # what the last rerun click did: (ok, text)
COMPARE_A, COMPARE_B = "qa_compare_a", "qa_compare_b"
COMPARE_SEEN = "qa_compare_newest"  # the newest run when the compare pickers were last set


def _load_model(service: QAService, run_id: str) -> None:
    """Callback: a saved run's model back into the editor (to rerun it or change it)."""
    model = service.run_model(run_id)
    if model is not None:
        qa_model_editor.load_model(service, model)


def _rerun(service: QAService, f: Frame, run_id: str, scope: str) -> None:
    """Callback: the saved run's cases (all, or the failed and surprising ones) as a new run, opened."""
    try:
        new_run = service.rerun(run_id, who=f.identity, scope=scope)
    except QAError as exc:  # a role or target refused, a run still going, nothing to rerun
        st.session_state[RERUN_NOTICE] = (False, str(exc))
        return
    qa_run.open_run(new_run)
    st.session_state[RERUN_NOTICE] = (True, f"Run {new_run} started (rerun of {run_id}): it shows on the Run tab.")


def _rerun_buttons(service: QAService, f: Frame, run: RunInfo) -> None:
    running = run.finished_at is None
    allowed = run.environment in service.targets(f.identity)
    why = ("It is still running." if running else
           "" if allowed else f"Your role may not run QA suites on {run.environment}.")
    all_col, surprises_col = st.columns(2)
    all_col.button("Rerun this run", icon="🔁", key="qa_rerun_all", on_click=_rerun,
                   args=(service, f, run.run_id, RERUN_ALL), disabled=running or not allowed,
                   help=why or f"All {run.total:,} cases again on {run.environment}, as a new run naming this one.")
    surprises_col.button("Rerun failed and surprising cases", icon="⚠️", key="qa_rerun_surprises", on_click=_rerun,
                         args=(service, f, run.run_id, RERUN_SURPRISES),
                         disabled=running or not allowed or not run.surprises,
                         help=why or f"The {run.surprises:,} case(s) whose outcome was not the expected one.")
    notice = st.session_state.pop(RERUN_NOTICE, None)
    if notice is not None:
        (st.success if notice[0] else st.error)(md(notice[1]))


def _follow_new_runs(runs: list[RunInfo]) -> None:
    """Whenever a run is newer than the pickers have seen (or a picked run is gone), B becomes the
    newest and A the run it reran, else the one before it: what a person comparing wants after
    making a run, where a choice kept from before that run would compare two older ones."""
    ss, ids = st.session_state, [r.run_id for r in runs]
    if ss.get(COMPARE_SEEN) == ids[0] and ss.get(COMPARE_A) in ids and ss.get(COMPARE_B) in ids:
        return
    origin = runs[0].origin_run
    ss[COMPARE_B] = ids[0]
    ss[COMPARE_A] = origin if origin in ids else ids[min(1, len(ids) - 1)]
    ss[COMPARE_SEEN] = ids[0]


def _group(rows: list[CaseDifference], outcomes: Callable[[CaseDifference], dict[str, str]]) -> None:
    """One group of a comparison: each case's outcome(s), then its values (text as text: dataframe cells)."""
    if not rows:
        st.markdown("None.")
        return
    st.dataframe(pd.DataFrame([{**outcomes(d), **d.labels} for d in rows]), hide_index=True, width="stretch")


def show(service: QAService, f: Frame) -> None:
    runs = service.runs()
    if not runs:
        st.info("No QA run yet.")
        return
    st.dataframe(pd.DataFrame([{"run": r.run_id, "who": r.operator, "when": f.time(r.created_at),
                                "target": r.environment, "strength": r.strength, "seed": r.seed, "status": r.status,
                                "done": r.done, "total": r.total, "surprises": r.surprises, "origin": r.origin_text}
                               for r in runs]),
                 hide_index=True, width="stretch", key="qa_saved_grid")
    labels = {r.run_id: r.label for r in runs}
    ids = list(labels)
    # Never None: ids is not empty.
    picked = st.selectbox("Run", ids, format_func=labels.__getitem__, key="qa_saved_pick")
    open_col, model_col, csv_col, json_col = st.columns(4)
    open_col.button("Open this run", icon="📂", on_click=qa_run.open_run, args=(picked,), key="qa_open")
    model_col.button("Load its model", icon="🧩", on_click=_load_model, args=(service, picked), key="qa_load_model")
    csv_col.download_button("Export CSV", partial(service.export_csv, picked, f.identity),
                            file_name=f"qa-run-{picked}.csv", mime="text/csv", icon="⬇️", key="qa_csv")
    json_col.download_button("Export JSON", partial(service.export_json, picked, f.identity),
                             file_name=f"qa-run-{picked}.json", mime="application/json", icon="⬇️", key="qa_json")
    _rerun_buttons(service, f, next(r for r in runs if r.run_id == picked))
    st.subheader("Compare two runs")
    _follow_new_runs(runs)
    a_col, b_col = st.columns(2)
    run_a = a_col.selectbox("Run A", ids, format_func=labels.__getitem__, key=COMPARE_A)
    run_b = b_col.selectbox("Run B", ids, format_func=labels.__getitem__, key=COMPARE_B)
    if run_a == run_b:
        st.info("Pick two different runs.")
        return
    comparison = service.compare(run_a, run_b)
    st.markdown(f"Cases matched by their values: **{len(comparison.differs):,} differ** · "
                f"{len(comparison.only_in_a):,} only in A · {len(comparison.only_in_b):,} only in B · "
                f"{comparison.same:,} alike")
    differs_tab, only_a_tab, only_b_tab = st.tabs([f"Differ ({len(comparison.differs):,})",
                                                  f"Only in A ({len(comparison.only_in_a):,})",
                                                  f"Only in B ({len(comparison.only_in_b):,})"])
    with differs_tab:
        _group(comparison.differs, lambda d: {"A": d.a_text, "B": d.b_text})
    with only_a_tab:
        _group(comparison.only_in_a, lambda d: {"A": d.a_text})
    with only_b_tab:
        _group(comparison.only_in_b, lambda d: {"B": d.b_text})
