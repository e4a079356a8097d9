"""The QA explorer's saved-runs tab: every run, open one, load its model, export it, compare two.

Owns the pickers' keys. Exports are built only when their button is clicked, masked as the page
is for people who see customer data masked.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st

from lib.qa.service import CaseDifference, QAService
from ui import qa_model_editor, qa_run
from ui.frame import Frame


def _load_model(service: QAService, run_id: str) -> None:
    """Callback: a saved run's model back into the editor (to rerun it or change it)."""
    model = service.run_model(run_id)
    if model is not None:
        qa_model_editor.load_model(service, model)


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
                                "done": r.done, "total": r.total, "surprises": r.surprises} for r in runs]),
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
    st.subheader("Compare two runs")
    a_col, b_col = st.columns(2)
    run_a = a_col.selectbox("Run A", ids, format_func=labels.__getitem__, index=min(1, len(ids) - 1), key="qa_compare_a")
    run_b = b_col.selectbox("Run B", ids, format_func=labels.__getitem__, index=0, key="qa_compare_b")
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
