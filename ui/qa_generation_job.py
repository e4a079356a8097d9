"""The generate tab's background job: a suite being generated in a server thread, its progress and Cancel.

Owns ``JOB``, the job's handle in session state (the suite it makes lives in the session too).
While the job runs, a fragment polls it every second; once it has ended the fragment reruns the
whole page, which hands the suite (or the reason there is none) to the generate tab. A reload
starts a new session: it shows no job, and one still under way, polled by nobody, stops by itself
within minutes (``lib.qa.service.ABANDON_GENERATION_S``).
"""
from __future__ import annotations

import streamlit as st

from lib.qa.service import Generated, GenerationJob, QAError

JOB = "qa_generation_job"


def start(job: GenerationJob) -> None:
    st.session_state[JOB] = job


def running() -> bool:
    job = st.session_state.get(JOB)
    return job is not None and not job.done


def show() -> Generated | QAError | None:
    """Draw the job; return what it made once it has ended (then forget it), or None."""
    job: GenerationJob | None = st.session_state.get(JOB)
    if job is None:
        return None
    if not job.done:
        st.fragment(run_every=1)(_live)(job)
        return None
    if job.state == "cancelled":
        st.info("Generation cancelled: no suite was made.", icon="⏹")
        return None
    del st.session_state[JOB]
    return job.result if job.result is not None else QAError(job.error)


def _live(job: GenerationJob) -> None:
    if job.done:
        st.rerun()  # the whole page, once: the suite or the reason replaces the progress
    cancelling, progress = job.state == "cancelling", job.watch()
    st.progress(progress.fraction or 0.0, text=f"{'Cancelling' if cancelling else 'Generating'}… {progress.text}")
    st.button("Cancel generation", icon="⏹", key="qa_generation_cancel", on_click=job.cancel, disabled=cancelling,
              help="Stops at the next case; nothing made so far is kept.")
