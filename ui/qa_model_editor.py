"""The QA explorer's model tab: the dimension table, the constraint and sub-model lines, the PICT import/export.

Owns the model's session-state keys. The last applied model (``MODEL``) is what the table and
the texts start from; applying another one bumps ``VERSION``, which gives the table a new key so
it is drawn afresh from it. Edits are read back on every run into the model the other tabs use,
or into the error naming the field or line (the edit is kept, so nothing typed is lost).
"""
from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from lib.qa.service import Model, QAError, QAService
from ui.text import md

MODEL = "qa_model"
VERSION = "qa_model_version"
CONSTRAINTS = "qa_constraints"
SUBMODELS = "qa_submodels"
PICT_TEXT = "qa_pict_text"
PICT_ERROR = "qa_pict_error"


def load_model(service: QAService, model: Model) -> None:
    """Make ``model`` the one shown: table, constraint text and PICT text start again from it."""
    ss = st.session_state
    ss[MODEL] = model
    ss[VERSION] = ss.get(VERSION, 0) + 1
    ss[CONSTRAINTS] = service.constraint_text(model)
    ss[SUBMODELS] = service.submodel_text(model)
    ss[PICT_TEXT] = service.export_pict(model)


def _apply_pict(service: QAService, current: Model | None) -> None:
    """Callback: the PICT text becomes the model; a bad line leaves the model and the text as they were."""
    ss = st.session_state
    ss.pop(PICT_ERROR, None)
    try:
        load_model(service, service.import_pict(ss.get(PICT_TEXT, ""), current or ss[MODEL]))
    except QAError as exc:
        ss[PICT_ERROR] = str(exc)


def show(service: QAService) -> Model | QAError:
    """Draw the tab; the model it describes now, or why it does not read."""
    ss = st.session_state
    if MODEL not in ss:
        load_model(service, service.default_model())
    st.caption("Every request field is a dimension. Switch it on, edit its values (JSON labels; `<not sent>` leaves "
               "the key out, `<base>` keeps the base payload's; `~` marks a value the API must refuse on that field). "
               "Constraints are PICT's: a value is named as the PICT text spells it (`\"false\"`, `\"card+apple_pay\"`).")
    table = st.data_editor(
        pd.DataFrame([asdict(row) for row in service.editor_rows(ss[MODEL])]), key=f"qa_dimensions_{ss[VERSION]}",
        hide_index=True, width="stretch", num_rows="fixed", disabled=["path"],
        column_config={"path": st.column_config.TextColumn("field", width="medium"),
                       "enabled": st.column_config.CheckboxColumn("enabled", width="small"),
                       "values": st.column_config.TextColumn("values", width="large")})
    st.text_area("Constraints (PICT lines)", key=CONSTRAINTS, height=100,
                 placeholder='IF [tds.is_active] = "false" THEN [tds.challenge_preference] = "<not sent>";')
    st.text_area("Sub-models (PICT lines)", key=SUBMODELS, height=68,
                 placeholder="{ tds.is_active, tds.challenge_preference, tds.challenge_window_size } @ 3",
                 help="Fields whose combinations every suite covers at the order given, on top of the suite's "
                      "own coverage of all fields: 3-way over the 3-D Secure fields, pairwise elsewhere.")
    model: Model | QAError
    try:
        # The editor's columns are the row fields' names: str keys, which pandas types as Hashable.
        records = [{str(column): value for column, value in row.items()} for row in table.to_dict("records")]
        model = service.edit_model(ss[MODEL], records, ss.get(CONSTRAINTS, ""), ss.get(SUBMODELS, ""))
        st.caption(f"{len(model.enabled())} of {len(model.dimensions)} fields enabled · "
                   f"{len(model.constraints)} constraint(s) · {len(model.submodels)} sub-model(s)")
    except QAError as exc:
        model = exc
        st.error(f"The model is not usable yet: {md(exc)}", icon="✋")
    with st.expander("PICT model text: import / export", expanded=PICT_ERROR in ss):
        st.text_area("PICT model", key=PICT_TEXT, height=260)
        apply_col, export_col = st.columns(2)
        usable = model if isinstance(model, Model) else None
        apply_col.button("Apply PICT", icon="📥", on_click=_apply_pict, args=(service, usable))
        if usable is not None:
            export_col.download_button("Download PICT model", service.export_pict(usable), file_name="qa-model.pict.txt",
                                       mime="text/plain", icon="⬇️")
        if PICT_ERROR in ss:
            st.error(md(ss[PICT_ERROR]), icon="✋")
    return model
