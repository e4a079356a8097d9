"""The Audit log page's tools: the export an auditor takes away, and the chain's verification."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import streamlit as st

from lib.access.service import AccessDenied, Identity
from lib.audit.service import CSV, EVIDENCE, EXPORT_LIMIT, AuditFilters, AuditService
from ui.text import md

VERIFIED = "audit_verified"
PINNED = "audit_pinned"  # the checkpoint just made (or why not), shown once


def show_retention(audit: AuditService) -> None:
    """Which entries the page can show (the live ones) and where the archived ones went, so a seq
    that another page names and this one cannot open is explained."""
    retention = audit.retention()
    if not retention.archives:
        return
    live = (f"entries {retention.first_live:,}–{retention.last:,}" if retention.last >= retention.first_live
            else "no entry yet")
    older = "; ".join(f"{a.first_seq:,}–{a.last_seq:,} (before {a.before}) in {md(a.file)}"
                      for a in retention.archives)
    st.caption(f"Live in the database: {live}. Archived: {older}. Check an archive with "
               "`python -m lib.calllog verify --with-archives FILE…`.")


def archived_entry(audit: AuditService, seq: int) -> str | None:
    """Where entry ``seq`` went when it is archived (None: it is not)."""
    found = audit.retention().archive_of(seq)
    return None if found is None else (f"Entry #{seq} was archived to {md(found.file)} (entries "
                                       f"{found.first_seq:,}–{found.last_seq:,}, dated before {found.before}).")


def show_export(audit: AuditService, filters: AuditFilters, total: int, *, operator: str, environment: str) -> None:
    rows = "rows" if filters.per_call else "entries"
    if total > EXPORT_LIMIT:
        st.warning(f"{total:,} {rows} match: only the first (newest) {EXPORT_LIMIT:,} are exported.")
    else:
        st.markdown(f"{total:,} {rows} match: all are exported.")
    st.caption("Both files hold the log entries of these rows (a call: its request and its result), every column "
               "as logged: the bodies (redacted as stored), `prev_hash` and `hash`. Each export is recorded in the "
               "log (who, when, which filters, how many entries).")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    evidence, sheet = st.columns(2)
    for column, fmt, label, name, mime in ((evidence, EVIDENCE, "Evidence (JSON Lines, verifiable)", "jsonl",
                                            "application/x-ndjson"),
                                           (sheet, CSV, "CSV (spreadsheet)", "csv", "text/csv")):
        column.download_button(label, data=partial(audit.export, filters, fmt, operator=operator,
                                                   environment=environment),
                               file_name=f"audit-log-{stamp}.{name}", mime=mime, icon="⬇️", disabled=total == 0,
                               key=f"audit_export_{fmt}")
    st.caption("Check the evidence file anywhere, without our database: `python -m lib.calllog verify-export FILE`. "
               "It proves each entry is exactly what was logged and that consecutive entries are chained. A "
               "filtered view leaves entries out by design, so it cannot prove nothing is missing between them: "
               "for that, export a range (`python -m lib.calllog export FILE --from-seq N --to-seq M`).")


def _verify(audit: AuditService) -> None:
    """The full chain walk (seconds on a big log), in the run the button started, with a progress bar
    fed by the walk (in a button callback, the bar would be drawn at the top of the page)."""
    bar = st.progress(0.0, text="Verifying the chain…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"Checked {done:,} of {total:,} entries")

    st.session_state[VERIFIED] = (audit.verify(progress), datetime.now(UTC))


def _make_checkpoint(audit: AuditService, who: Identity) -> None:
    """Button callback: pin the head now (the service refuses, and logs, whoever may not)."""
    try:
        st.session_state[PINNED] = audit.make_checkpoint(who)
    except AccessDenied as refused:
        st.session_state[PINNED] = refused


def show_integrity(audit: AuditService, who: Identity, time: Callable[[datetime | None], str]) -> None:
    if st.button("Verify the chain", icon="🔗", key="audit_verify",
                 help="Recompute every entry's hash and check the checkpoints."):
        _verify(audit)
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
