"""The Audit log page's tools: the export an auditor takes away, and the chain's verification."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import streamlit as st

from lib.access.service import AccessDenied, Identity
from lib.audit.service import EXPORT_LIMIT, AuditFilters, AuditService
from ui.text import md

VERIFIED = "audit_verified"
PINNED = "audit_pinned"  # the checkpoint just made (or why not), shown once


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


def _make_checkpoint(audit: AuditService, who: Identity) -> None:
    """Button callback: pin the head now (the service refuses, and logs, whoever may not)."""
    try:
        st.session_state[PINNED] = audit.make_checkpoint(who)
    except AccessDenied as refused:
        st.session_state[PINNED] = refused


def show_integrity(audit: AuditService, who: Identity, time: Callable[[datetime | None], str]) -> None:
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
    refusal = audit.checkpoint_refusal(who)
    st.button("Make a checkpoint", icon="📌", on_click=_make_checkpoint, args=(audit, who), key="audit_checkpoint",
              disabled=refusal is not None, help=refusal or "Pin the log's head outside the database (signed when "
              "a checkpoint key is configured); who did it is recorded in the log.")
    pinned = st.session_state.pop(PINNED, None)
    if isinstance(pinned, AccessDenied):
        st.error(md(str(pinned)), icon="🔒")
    elif pinned is not None:
        st.success(f"Checkpoint made at entry {pinned.count:,}, {time(datetime.fromisoformat(pinned.at))}.", icon="📌")
