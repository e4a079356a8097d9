"""QA explorer: edit a test model, generate a covering suite, run it server-side, read and compare runs.

Each tab is one component (``ui/qa_*.py``) owning its session-state keys; buttons act in
callbacks, and everything they ask of ``lib`` goes through :class:`lib.qa.service.QAService`.
"""
from __future__ import annotations

import streamlit as st

from lib.qa.service import QAService
from ui import qa_generate, qa_model_editor, qa_run, qa_saved
from ui.frame import frame
from ui.pages import QA

f = frame(QA)
service = QAService.for_console(f.sessions)
current_run = qa_run.current_run(service)

model_tab, generate_tab, run_tab, saved_tab = st.tabs(["🧩 Model", "⚙️ Generate", "▶️ Run", "🗂 Saved runs"])
with model_tab:
    model = qa_model_editor.show(service)
with generate_tab:
    qa_generate.show(service, model)
with run_tab:
    qa_run.show(service, f, model, current_run)
with saved_tab:
    qa_saved.show(service, f)
