"""The Audit log page's tools: the export an auditor takes away, and the chain's verification."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import streamlit as st

from lib.audit.service import EXPORT_LIMIT, AuditFilters, AuditService

VERIFIED = "audit_verified"


def show_export(audit: AuditService, filters: AuditFilters, total: int, *, operator: str, environment: str) -> None:
    if total > EXPORT_LIMIT:
        st.warning(f"{total:,} entries match: only the first (newest) {EXPORT_LIMIT:,} are exported.")
    else:
        st.markdown(f"{total:,} entries match: all are exported.")
    st.caption("The export is recorded in the log (who, when, which filters, how many rows).")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    st.download_button("Export CSV", data=partial(audit.export, filters, operator=operator, environment=environment),
                       file_name=f"audit-log-{stamp}.csv", mime="text/csv", icon="⬇️", disabled=total == 0,
                       key="audit_export")


def _run_verify(audit: AuditService) -> None:
    """Button callback: the full chain walk (seconds on a big log), only when asked."""
    st.session_state[VERIFIED] = (audit.verify(), datetime.now(UTC))


def show_integrity(audit: AuditService, time: Callable[[datetime | None], str]) -> None:
    st.button("Verify the chain", icon="🔗", on_click=_run_verify, args=(audit,), key="audit_verify",
              help="Recompute every entry's hash and check the checkpoints.")
    verified = st.session_state.get(VERIFIED)
    if verified:
        result, at = verified
        if result.ok:
            st.success(f"{result.message}, checked {time(at)}", icon="✅")
        else:
            where = f"at entry #{result.broken_seq}" if result.broken_seq else ""
            st.error(f"The chain is broken {where}: {result.message} (checked {time(at)})", icon="🚨")
    checkpoint = audit.last_checkpoint()
    if checkpoint:
        st.caption(f"Last checkpoint: {time(datetime.fromisoformat(checkpoint.at))} at entry {checkpoint.count:,}")
    else:
        st.caption("No checkpoint recorded yet (`python -m lib.calllog checkpoint`).")
