"""The QA explorer's run tab: target, concurrency, start, and the current run as it goes.

Owns the run's keys. The run itself goes on in server-side worker threads, so a running run is
drawn from a fragment that polls the service every second; a finished one is drawn once. The run
id lives in session state and in the URL (``?run=<id>``), so a reload or another tab shows the
same run; an id from the URL is shown as text only.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.qa.service import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MIN_CONCURRENCY,
    SURPRISE,
    Model,
    QAError,
    QAService,
    RunProgress,
)
from ui import qa_case, qa_generate
from ui.frame import Frame
from ui.text import md

RUN = "qa_run"  # the current run id (also ?run= in the URL)
RUN_ERROR = "qa_run_error"
RESULTS = "qa_results"  # the results grid (its selection opens a case)
SHOWN_CASES = 2_000  # result rows drawn per tick; the exports hold every case


def open_run(run_id: str) -> None:
    if st.session_state.get(RUN) != run_id:
        st.session_state.pop(RESULTS, None)  # a selected row of another run's grid opens nothing here
    st.session_state[RUN] = run_id
    st.query_params["run"] = run_id


def current_run(service: QAService) -> str | None:
    """The run to show: the URL's when it came from outside (a link, another tab), else the session's."""
    run_id = st.query_params.get("run") or st.session_state.get(RUN)
    if run_id and service.run(run_id) is None:
        st.warning(f"No QA run {md(repr(run_id))} in this console's database.")
        st.query_params.pop("run", None)
        return None
    if run_id:
        open_run(run_id)
    return run_id


def _start(service: QAService, f: Frame) -> None:
    """Callback: the generated suite goes to the runner with the target and concurrency as shown."""
    ss = st.session_state
    ss.pop(RUN_ERROR, None)
    generated = qa_generate.generated()
    if generated is None:  # the button is disabled without a suite
        return
    try:
        open_run(service.start_run(generated, target=ss["qa_target"], concurrency=int(ss["qa_concurrency"]),
                                   who=f.identity))
    except QAError as exc:  # live refused, a bad setting, a target the role may not use
        ss[RUN_ERROR] = str(exc)


def show(service: QAService, f: Frame, model: Model | QAError, run_id: str | None) -> None:
    targets = service.targets(f.identity)
    target_col, conc_col = st.columns(2)
    target_col.selectbox("Target", targets, index=targets.index(f.env_name) if f.env_name in targets else 0,
                         key="qa_target", help="QA runs go to the sandbox or acquired-test, never to live.")
    conc_col.slider("Concurrency", MIN_CONCURRENCY, MAX_CONCURRENCY, DEFAULT_CONCURRENCY, key="qa_concurrency")
    generated = qa_generate.generated()
    ready = generated if generated is not None and isinstance(model, Model) and generated.matches(model) else None
    st.button(f"Run {len(ready.suite.cases):,} cases" if ready else "Run (generate a suite first)",
              type="primary", icon="▶️", disabled=ready is None, key="qa_start", on_click=_start, args=(service, f))
    disagreements = service.disagreements(ready) if ready else []
    if disagreements:
        st.caption(f"⚖️ {len(disagreements)} value(s) where your `~` marks and the contract disagree (listed on the "
                   "Generate tab): a run expects what you marked.")
    if RUN_ERROR in st.session_state:
        st.error(md(st.session_state[RUN_ERROR]), icon="🚫")
    if run_id is None:
        return
    if service.progress(run_id).finished:
        _run_view(service, f, run_id)
    else:
        st.fragment(run_every=1)(_live_run)(service, f, run_id)


def _live_run(service: QAService, f: Frame, run_id: str) -> None:
    if service.progress(run_id).finished:
        st.rerun()  # the whole page, once: the static view replaces the ticking one
    _run_view(service, f, run_id)


def _run_view(service: QAService, f: Frame, run_id: str) -> None:
    """Progress, Cancel, the cases so far (surprises highlighted; one selected opens), counts and the likely culprits."""
    progress: RunProgress = service.progress(run_id)
    run = service.run(run_id)
    st.subheader(f"Run {run_id}")
    if run is not None:
        origin = f" · {run.origin_text}" if run.origin_run else ""
        st.caption(f"{run.environment} · strength {run.strength} · seed {run.seed} · "
                   f"concurrency {run.concurrency} · by {md(run.operator)}{origin}")
    st.progress(progress.fraction, text=progress.text)
    if not progress.finished:
        st.button("Cancel run", icon="⏹", key="qa_cancel", on_click=service.cancel, args=(run_id,),
                  help="No new case starts; cases under way (at most two per connection) finish and are kept.")
    if progress.error:
        st.error(md(progress.error))
    only = st.toggle("Only surprises", key="qa_only_surprises", on_change=st.session_state.pop, args=(RESULTS, None),
                     help="Switching closes the opened case: the grid's rows change.")
    cases = service.cases(run_id, f.identity, only_surprises=only, limit=SHOWN_CASES)
    if cases:
        rows = pd.DataFrame([{"#": c.index, "surprise": SURPRISE if c.surprise else "", "result": c.result,
                              "expected": c.expected, "HTTP status": c.http_status, "session id / refusal": c.answer,
                              "latency ms": c.latency_ms, **c.labels} for c in cases])
        event = st.dataframe(rows.style.apply(_highlight, axis=1).format(precision=1, na_rep=""), hide_index=True,
                             width="stretch", key=RESULTS, on_select="rerun", selection_mode="single-row")
        if len(cases) == SHOWN_CASES:
            st.caption(f"The first {SHOWN_CASES:,} cases; the exports (Saved runs) hold them all.")
        picked = [row for row in event.selection.rows if row < len(cases)]
        if picked:
            with st.container(border=True):
                qa_case.show(service, f, run_id, cases[picked[0]].index)
        else:
            st.caption("Select a case to see its request and the API's answer.")
    counts_col, culprits_col = st.columns([1, 2])
    with counts_col:
        st.markdown("**By result**")
        st.dataframe(pd.DataFrame([{"result": result, "cases": n} for result, n in service.summary(run_id).seen.items()]),
                     hide_index=True, key="qa_counts")
    with culprits_col:
        st.markdown("**Failure rate by value** (worst first)")
        culprits = [{"field": r.path, "value": r.label, "cases": r.cases, "surprises": r.surprises,
                     "failure rate": r.rate} for r in service.culprits(run_id)]
        if culprits:
            st.dataframe(pd.DataFrame(culprits), hide_index=True, width="stretch", key="qa_culprits",
                         column_config={"failure rate": st.column_config.ProgressColumn(
                             "failure rate", format="percent", min_value=0.0, max_value=1.0)})
        else:
            st.markdown("No surprises so far.")


def _highlight(row: pd.Series) -> list[str]:
    colour = "background-color: #ffe3b3" if row["surprise"] else ""
    return [colour] * len(row)
