"""The QA explorer's generate tab: coverage, seed, the full product's size, and the suite's report.

Owns the generation settings' keys and ``GENERATED`` (the last suite, or the reason it could not
be made). The Generate button acts in a callback that reads the settings as they are at the click
and starts a background job (``ui/qa_generation_job.py``), whose suite lands in ``GENERATED``.
"""
from __future__ import annotations

from typing import Literal

import pandas as pd
import streamlit as st

from lib.qa.service import Generated, Model, NegativeRule, QAError, QAService
from ui import qa_generation_job
from ui.text import md

GENERATED = "qa_generated"  # Generated, or the QAError
STRENGTHS: dict[str, int | Literal["full"]] = {"pairwise (2-way)": 2, "3-way": 3, "full product": "full"}
NEGATIVES: dict[str, NegativeRule] = {"smallest (each negative once)": "smallest",
                                      "PICT's (each negative beside every valid value)": "pict"}


def generated() -> Generated | None:
    """The last suite generated in this session, if there is one."""
    found = st.session_state.get(GENERATED)
    return found if isinstance(found, Generated) else None


def _generate(service: QAService, model: Model) -> None:
    """Callback: the generation settings are read from their widgets' state, as they are at the click."""
    ss = st.session_state
    strength = STRENGTHS[ss.get("qa_strength", next(iter(STRENGTHS)))]
    negative_rule = NEGATIVES[ss.get("qa_negatives", next(iter(NEGATIVES)))]
    ss.pop(GENERATED, None)  # the last suite is replaced; none is offered while the new one is made
    try:  # a required row that does not read, or a saved run with no cases, is refused before any job starts
        extending = ss.get("qa_extend_run") if ss.get("qa_extend") else None
        if extending and strength != "full":
            job = service.start_extension(extending, model, strength=strength, seed=int(ss.get("qa_seed", 0)),
                                          negative_rule=negative_rule)
        else:
            job = service.start_generation(model, strength=strength, seed=int(ss.get("qa_seed", 0)),
                                           full_dims=ss.get("qa_full_dims") if strength == "full" else None,
                                           confirm=bool(ss.get("qa_confirm")), negative_rule=negative_rule,
                                           seeds=service.read_seeds(_seeds_text(), model))
    except QAError as exc:
        ss[GENERATED] = exc
        return
    qa_generation_job.start(job)


def show(service: QAService, model: Model | QAError) -> None:
    if isinstance(model, QAError):
        st.error(f"Fix the model first: {md(model)}", icon="✋")
        return
    how_col, seed_col = st.columns([3, 1])
    strength = STRENGTHS[how_col.radio("Coverage", list(STRENGTHS), horizontal=True, key="qa_strength")]
    seed_col.number_input("Seed", min_value=0, value=0, step=1, key="qa_seed")
    st.radio("Negative values", list(NEGATIVES), horizontal=True, key="qa_negatives",
             help="A case with a negative value is refused, so it covers nothing else. PICT's rule tries each "
                  "negative beside every valid value of every other field (every pair of them at 3-way): a "
                  "refusal masked by another field shows. The smallest tries each once.")
    full_dims, too_big = None, False
    if strength == "full":
        full_dims = st.multiselect("Full product over", [d.path for d in model.enabled()], key="qa_full_dims",
                                   help="Every combination of these fields; the other enabled fields are still "
                                        "covered pairwise.")
        size = service.full_product(model, full_dims)
        too_big = size.too_big
        st.markdown(f"Full product: **{size.cases:,} cases** (at most one negative value each, before constraints)")
        if too_big:
            st.error(f"{size.cases:,} cases is more than the {size.limit:,} allowed: choose fewer fields or values.")
        elif size.needs_confirmation:
            st.checkbox(f"Yes, generate all {size.cases:,} cases (over {size.confirm_above:,})", key="qa_confirm")
    _required_rows(service)
    st.button("Generate", type="primary", icon="⚙️", on_click=_generate, args=(service, model),
              disabled=too_big or (strength == "full" and not full_dims) or qa_generation_job.running())
    made = qa_generation_job.show()
    if made is not None:
        st.session_state[GENERATED] = made
    result = st.session_state.get(GENERATED)
    if isinstance(result, QAError):
        st.error(md(result), icon="✋")
    elif result is not None:
        _report(service, result, model)


def _seeds_text() -> str:
    upload = st.session_state.get("qa_seeds_file")
    return upload.getvalue().decode("utf-8") if upload is not None else st.session_state.get("qa_seeds") or ""


def _required_rows(service: QAService) -> None:
    """Rows every suite must contain (PICT's seeding file), or a saved run's cases to extend."""
    with st.expander("Required rows and extending a saved suite"):
        st.text_area("Required rows (tab-separated, as PICT's /e file: field names on the first line, then one "
                     "row per line; an empty cell is left to the generator)", key="qa_seeds", height=120)
        st.file_uploader("…or upload the seeding file (used instead of the text above)", type=["txt", "tsv"],
                         key="qa_seeds_file")
        runs = {run.run_id: run.label for run in service.runs()}
        if runs:
            st.selectbox("Saved run", list(runs), format_func=runs.__getitem__, key="qa_extend_run")
            st.checkbox("Extend that run's suite: keep its cases, add only what the model's new fields and values "
                        "need (instead of the required rows above)", key="qa_extend")


def _report(service: QAService, result: Generated, model: Model) -> None:
    """Coverage, both case counts, allpairspy's coverage, where the marks and the contract disagree, the cases."""
    if not result.matches(model):
        st.warning("The model changed since this suite was generated: generate again to use it.")
    st.success(result.coverage_text, icon="✅")
    ours, theirs = st.columns(2)
    ours.metric("Cases (ours)", f"{len(result.suite.cases):,}")
    theirs.metric("Cases (allpairspy, pairwise)",
                  "—" if result.allpairspy.cases is None else f"{result.allpairspy.cases:,}")
    st.caption(f"allpairspy: {result.allpairspy_coverage_text}. It stops at its first case "
               "that adds no new pair, so under constraints it may end below 100 %; and it has no negatives.")
    disagreements = service.disagreements(result)
    if disagreements:
        st.warning(f"{len(disagreements)} value(s) where your marks (`~` = must be refused on its field) and the "
                   "contract disagree: a run expects what you marked, so each is a surprise if the target "
                   "follows the contract.", icon="⚖️")
        st.dataframe(pd.DataFrame([{"field": d.path, "value": d.label, "you marked": d.tester,
                                    "contract says": d.contract, "in cases": d.cases, "first case": d.first_case}
                                   for d in disagreements]), hide_index=True, width="stretch", key="qa_disagreements")
    st.dataframe(pd.DataFrame([{"#": c.index, "expected": c.expected, "contract": c.contract,
                                **c.labels} for c in result.suite.cases]),
                 hide_index=True, width="stretch", key="qa_preview")
