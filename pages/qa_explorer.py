"""QA explorer: edit a test model, generate a covering suite, run it server-side, read and compare runs.

Buttons act in ``on_click`` callbacks (one lib call each) and leave the outcome in session state;
the page only draws. The run itself goes on in ``lib.qa.runner``'s worker threads, so the page
polls ``RunStore`` from a ticking fragment; the run id lives in session state and in the URL
(``?run=<id>``), so a reload or another tab shows the same run.
"""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from lib.access.policy import AccessDenied
from lib.qa import runner, view
from lib.qa.generate import CONFIRM_ABOVE, FULL_LIMIT, full_product_size, generate
from lib.qa.defaults import default_model
from lib.qa.model import Model
from lib.qa.pict import to_pict
from lib.qa.store import Progress, RunStore, masked_cases
from ui.frame import frame
from ui.text import md

f = frame("QA explorer")
store = RunStore(f.console.db_path)
ss = st.session_state

MODEL = "qa_model"  # the last applied model: what the table and the constraint text start from
VERSION = "qa_model_version"  # bumped when a model is applied, so the table is redrawn from it
CONSTRAINTS = "qa_constraints"
PICT_TEXT = "qa_pict_text"
PICT_ERROR = "qa_pict_error"
GENERATED = "qa_generated"  # view.Generated, or the error text
RUN = "qa_run"  # the current run id (also ?run= in the URL)
RUN_ERROR = "qa_run_error"
SHOWN_CASES = 2_000  # result rows drawn per tick; the exports hold every case
STRENGTHS = {"pairwise (2-way)": 2, "3-way": 3, "full product": "full"}


def editor_key() -> str:
    return f"qa_dimensions_{ss.get(VERSION, 0)}"


def load_model(model: Model) -> None:
    """Make ``model`` the one shown: table, constraint text and PICT text start again from it."""
    ss[MODEL] = model
    ss[VERSION] = ss.get(VERSION, 0) + 1
    ss[CONSTRAINTS] = view.constraint_text(model)
    ss[PICT_TEXT] = to_pict(model)


def edited_model(rows: list[dict]) -> Model | str:
    """The model the table and constraints describe now, or the error naming the field or line."""
    try:
        return view.model_from_editor(ss[MODEL], rows, ss.get(CONSTRAINTS, ""))
    except ValueError as exc:
        return str(exc)


def apply_pict(current: Model | None) -> None:
    """Callback: the PICT text becomes the model; a bad line leaves the model and the text as they were."""
    ss.pop(PICT_ERROR, None)
    try:
        load_model(view.apply_pict(ss.get(PICT_TEXT, ""), current or ss[MODEL]))
    except ValueError as exc:
        ss[PICT_ERROR] = str(exc)


def run_generate(model: Model) -> None:
    """Callback: the generation settings are read from their widgets' state, as they are at the click."""
    strength = STRENGTHS[ss.get("qa_strength", next(iter(STRENGTHS)))]
    full_dims = ss.get("qa_full_dims") if strength == "full" else None
    try:
        suite = generate(model, strength=strength, seed=int(ss.get("qa_seed", 0)), full_dims=full_dims,  # type: ignore[arg-type]
                         confirm=bool(ss.get("qa_confirm")))
        ss[GENERATED] = view.compare_with_allpairspy(model, suite)
    except ValueError as exc:
        ss[GENERATED] = str(exc)


def start() -> None:
    """Callback: the generated suite goes to the server-side runner with the target and concurrency as shown."""
    ss.pop(RUN_ERROR, None)
    generated: view.Generated = ss[GENERATED]
    try:
        open_run(runner.start_run(f.console, env_name=ss["qa_target"], who=f.identity, suite=generated.suite,
                                  model_json=generated.model_json, model_pict=generated.model_pict,
                                  concurrency=int(ss["qa_concurrency"])))
    except (ValueError, AccessDenied) as exc:  # LiveRunRefused, a bad setting, a target the role may not use
        ss[RUN_ERROR] = str(exc)


def open_run(run_id: str) -> None:
    ss[RUN] = run_id
    st.query_params["run"] = run_id


def reopen_model(run_id: str) -> None:
    """Callback: a saved run's model back into the editor (to rerun it or change it)."""
    run = store.get_run(run_id)
    if run and run["model_json"]:
        load_model(Model.from_json(run["model_json"]))


def show_run(run_id: str) -> None:
    """A finished run is drawn once; a running one from a fragment that polls the store every second."""
    progress = store.progress(run_id)
    if progress.finished:
        run_view(run_id, progress)
    else:
        st.fragment(run_every=1)(live_run)(run_id)


def live_run(run_id: str) -> None:
    progress = store.progress(run_id)
    if progress.finished:
        st.rerun()  # the whole page, once: the static view replaces the ticking one
    run_view(run_id, progress)


def run_view(run_id: str, progress: Progress) -> None:
    """Progress, Cancel, the cases so far (surprises highlighted), counts and the likely culprits."""
    run = store.get_run(run_id) or {}
    st.subheader(f"Run {run_id}")
    st.caption(f"{run.get('environment')} · strength {run.get('strength')} · seed {run.get('seed')} · "
               f"concurrency {run.get('concurrency')} · by {md(run.get('operator'))}")
    st.progress(view.progress_fraction(progress), text=view.progress_text(progress))
    if not progress.finished:
        st.button("Cancel run", icon="⏹", key="qa_cancel", on_click=runner.cancel, args=(run_id, f.console.db_path),
                  help="No new case starts; cases under way finish and are kept.")
    if progress.error:
        st.error(md(progress.error))
    only = st.toggle("Only surprises", key="qa_only_surprises")
    cases = masked_cases(store.cases(run_id, only_surprises=only, limit=SHOWN_CASES), f.mask)
    if cases:
        frame = pd.DataFrame(view.result_rows(cases))
        st.dataframe(frame.style.apply(_highlight, axis=1).format(precision=1, na_rep=""), hide_index=True, width="stretch",
                     key="qa_results")
        if len(cases) == SHOWN_CASES:
            st.caption(f"The first {SHOWN_CASES:,} cases; the exports (Saved runs) hold them all.")
    summary = store.summary(run_id)
    counts_col, culprits_col = st.columns([1, 2])
    with counts_col:
        st.markdown("**By result**")
        st.dataframe(pd.DataFrame(view.count_rows(summary)), hide_index=True, key="qa_counts")
    with culprits_col:
        st.markdown("**Failure rate by value** (worst first)")
        culprits = view.culprit_rows(store.failure_rates(run_id))
        if culprits:
            st.dataframe(pd.DataFrame(culprits), hide_index=True, width="stretch", key="qa_culprits",
                         column_config={"failure rate": st.column_config.ProgressColumn(
                             "failure rate", format="percent", min_value=0.0, max_value=1.0)})
        else:
            st.markdown("No surprises so far.")


def _highlight(row: pd.Series) -> list[str]:
    colour = "background-color: #ffe3b3" if row["surprise"] else ""
    return [colour] * len(row)


if MODEL not in ss:
    load_model(default_model())
# The URL names the run when it came from outside (a link, another tab); else the session does.
current_run = st.query_params.get("run") or ss.get(RUN)
if current_run and store.get_run(current_run) is None:
    st.warning(f"No QA run {md(repr(current_run))} in this console's database.")
    current_run = None
    st.query_params.pop("run", None)
if current_run:
    open_run(current_run)

model_tab, generate_tab, run_tab, saved_tab = st.tabs(["🧩 Model", "⚙️ Generate", "▶️ Run", "🗂 Saved runs"])

# --- Model ----------------------------------------------------------------------------------------
with model_tab:
    st.caption("Every request field is a dimension. Switch it on, edit its values (JSON labels; `<not sent>` leaves "
               "the key out, `<base>` keeps the base payload's; `~` marks a value the API must refuse).")
    table = st.data_editor(
        pd.DataFrame(view.dimension_rows(ss[MODEL])), key=editor_key(), hide_index=True, width="stretch",
        num_rows="fixed", disabled=["path"],
        column_config={"path": st.column_config.TextColumn("field", width="medium"),
                       "enabled": st.column_config.CheckboxColumn("enabled", width="small"),
                       "values": st.column_config.TextColumn("values", width="large")})
    st.text_area("Constraints (PICT lines)", key=CONSTRAINTS, height=100,
                 placeholder='IF [tds.is_active] = false THEN [tds.challenge_preference] IN {<not sent>};')
    model = edited_model(table.to_dict("records"))
    if isinstance(model, str):
        st.error(f"The model is not usable yet: {md(model)}", icon="✋")
    else:
        st.caption(f"{len(model.enabled())} of {len(model.dimensions)} fields enabled · "
                   f"{len(model.constraints)} constraint(s)")
    with st.expander("PICT model text: import / export", expanded=PICT_ERROR in ss):
        st.text_area("PICT model", key=PICT_TEXT, height=260)
        apply_col, export_col = st.columns(2)
        apply_col.button("Apply PICT", icon="📥", on_click=apply_pict,
                         args=(model if isinstance(model, Model) else None,))
        if isinstance(model, Model):
            export_col.download_button("Download PICT model", to_pict(model), file_name="qa-model.pict.txt",
                                       mime="text/plain", icon="⬇️")
        if PICT_ERROR in ss:
            st.error(md(ss[PICT_ERROR]), icon="✋")

# --- Generate -------------------------------------------------------------------------------------
with generate_tab:
    if isinstance(model, str):
        st.error(f"Fix the model first: {md(model)}", icon="✋")
    else:
        how_col, seed_col = st.columns([3, 1])
        strength = STRENGTHS[how_col.radio("Coverage", list(STRENGTHS), horizontal=True, key="qa_strength")]
        seed_col.number_input("Seed", min_value=0, value=0, step=1, key="qa_seed")
        full_dims, too_big = None, False
        if strength == "full":
            full_dims = st.multiselect("Full product over", [d.path for d in model.enabled()], key="qa_full_dims",
                                       help="Every combination of these fields; the other enabled fields are still "
                                            "covered pairwise.")
            size = full_product_size(model, full_dims)
            too_big = size > FULL_LIMIT
            st.markdown(f"Full product: **{size:,} cases** (at most one negative value each, before constraints)")
            if too_big:
                st.error(f"{size:,} cases is more than the {FULL_LIMIT:,} allowed: choose fewer fields or values.")
            elif size > CONFIRM_ABOVE:
                st.checkbox(f"Yes, generate all {size:,} cases (over {CONFIRM_ABOVE:,})", key="qa_confirm")
        st.button("Generate", type="primary", icon="⚙️", disabled=too_big or (strength == "full" and not full_dims),
                  on_click=run_generate, args=(model,))
        generated = ss.get(GENERATED)
        if isinstance(generated, str):
            st.error(md(generated), icon="✋")
        elif generated is not None:
            suite = generated.suite
            if generated.model_json != model.to_json():
                st.warning("The model changed since this suite was generated: generate again to use it.")
            st.success(view.coverage_line(suite.coverage), icon="✅")
            ours, theirs = st.columns(2)
            ours.metric("Cases (ours)", f"{len(suite.cases):,}")
            theirs.metric("Cases (allpairspy, pairwise)",
                          "—" if generated.allpairspy_cases is None else f"{generated.allpairspy_cases:,}")
            st.caption(f"allpairspy: {view.coverage_line(generated.allpairspy_coverage)}. It stops at its first case "
                       "that adds no new pair, so under constraints it may end below 100 %; and it has no negatives.")
            st.dataframe(pd.DataFrame(view.case_rows(suite.cases)), hide_index=True, width="stretch",
                         key="qa_preview")

# --- Run ------------------------------------------------------------------------------------------
with run_tab:
    targets = [t for t in runner.TARGETS if t in f.identity.allowed_environments(f.console.environments(), "qa_run")]
    target_col, conc_col = st.columns(2)
    target_col.selectbox("Target", targets, index=targets.index(f.env_name) if f.env_name in targets else 0,
                                  key="qa_target", help="QA runs go to the sandbox or acquired-test, never to live.")
    conc_col.slider("Concurrency", runner.MIN_CONCURRENCY, runner.MAX_CONCURRENCY,
                                  runner.DEFAULT_CONCURRENCY, key="qa_concurrency")
    generated = ss.get(GENERATED)
    ready = isinstance(generated, view.Generated) and isinstance(model, Model) and generated.model_json == model.to_json()
    st.button(f"Run {len(generated.suite.cases):,} cases" if ready else "Run (generate a suite first)",  # type: ignore[union-attr]
              type="primary", icon="▶️", disabled=not ready, key="qa_start",
              on_click=start)
    if RUN_ERROR in ss:
        st.error(md(ss[RUN_ERROR]), icon="🚫")
    if current_run:
        show_run(current_run)

# --- Saved runs -----------------------------------------------------------------------------------
with saved_tab:
    runs = store.list_runs()
    if not runs:
        st.info("No QA run yet.")
    else:
        st.dataframe(pd.DataFrame(view.run_rows(runs, f.time)), hide_index=True, width="stretch",
                     key="qa_saved_grid")
        labels = {r["run_id"]: view.run_label(r) for r in runs}
        ids = list(labels)
        picked = st.selectbox("Run", ids, format_func=labels.get, key="qa_saved_pick")
        open_col, model_col, csv_col, json_col = st.columns(4)
        open_col.button("Open this run", icon="📂", on_click=open_run, args=(picked,), key="qa_open")
        model_col.button("Load its model", icon="🧩", on_click=reopen_model, args=(picked,), key="qa_load_model")
        csv_col.download_button("Export CSV", partial(store.export_csv, picked, mask=f.mask), file_name=f"qa-run-{picked}.csv",
                                mime="text/csv", icon="⬇️", key="qa_csv")
        json_col.download_button("Export JSON", partial(store.export_json, picked, mask=f.mask), file_name=f"qa-run-{picked}.json",
                                 mime="application/json", icon="⬇️", key="qa_json")
        st.subheader("Compare two runs")
        a_col, b_col = st.columns(2)
        run_a = a_col.selectbox("Run A", ids, format_func=labels.get, index=min(1, len(ids) - 1), key="qa_compare_a")
        run_b = b_col.selectbox("Run B", ids, format_func=labels.get, index=0, key="qa_compare_b")
        if run_a == run_b:
            st.info("Pick two different runs.")
        else:
            rows = view.compare_rows(store.compare(run_a, run_b))
            st.markdown(f"**{len(rows):,} case(s) whose outcome differs** (cases matched by their values)")
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="qa_compare_grid")
