"""The store interfaces: each SQLite store has what its Protocol lists, and services take the Protocol.

A second engine is added by implementing these Protocols; these tests keep the SQLite side from
drifting away from them (mypy --strict checks the same statically where the services assign them).
"""
from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lib.audit.export import EXPORT_COLUMNS
from lib.audit.filters import AuditFilters
from lib.audit.interface import AuditStore
from lib.audit.queries import EntryView
from lib.audit.service import CSV, AuditService
from lib.audit.store import SqliteAuditStore
from lib.calllog.interface import CallLogStore
from lib.calllog.log import CallLog
from lib.qa.interface import RunRecords, RunWriter
from lib.qa.results import RunReader
from lib.qa.store import RunStore
from lib.sessions.interface import SessionStore
from lib.sessions.registry import Registry

PAIRS = [(CallLogStore, CallLog), (SessionStore, Registry), (RunWriter, RunStore), (RunRecords, RunReader),
         (AuditStore, SqliteAuditStore)]


def members(protocol: type) -> list[str]:
    return sorted(name for name in vars(protocol) if not name.startswith("_") and name not in ("mro",))


@pytest.mark.parametrize(("protocol", "impl"), PAIRS, ids=lambda c: c.__name__)
def test_the_sqlite_store_has_every_member_of_its_protocol_with_the_same_parameters(protocol: type,
                                                                                    impl: type) -> None:
    for name in members(protocol):
        wanted = vars(protocol)[name]
        if isinstance(wanted, property):
            continue  # an attribute on the implementation (db_path), checked by mypy
        have = getattr(impl, name, None)
        assert callable(have), f"{impl.__name__} lacks {name}"
        assert list(inspect.signature(have).parameters) == list(inspect.signature(wanted).parameters), name


def test_the_sqlite_stores_pass_a_runtime_protocol_check(tmp_path: Path) -> None:
    db = tmp_path / "ops.db"
    store = RunStore(db)
    found = [CallLog(db), Registry(db), store, RunReader(store), SqliteAuditStore(db)]
    for (protocol, _), instance in zip(PAIRS, found, strict=True):
        assert isinstance(instance, typing.runtime_checkable(protocol)), protocol.__name__


class _OneEntryStore:
    """A store of another engine, as far as the audit page goes: it answers without SQLite."""

    def count(self, filters: AuditFilters) -> int:
        return 42

    def page(self, filters: AuditFilters, page_no: int, size: int = 50) -> list[dict[str, Any]]:
        return []

    def session_timeline(self, session_id: str) -> list[dict[str, Any]]:
        return []

    def attempt(self, attempt_id: str) -> list[dict[str, Any]]:
        return []

    def entry_view(self, seq: int) -> EntryView | None:
        return None

    def choices(self, column: str) -> list[str]:
        return [f"only-{column}"]

    def calls_over_time(self, filters: AuditFilters) -> tuple[pd.DataFrame, str]:
        return pd.DataFrame(), "hour"

    def latency_by_endpoint(self, filters: AuditFilters) -> pd.DataFrame:
        return pd.DataFrame()

    def export_entries(self, filters: AuditFilters, limit: int) -> list[tuple[Any, ...]]:
        return [tuple(range(len(EXPORT_COLUMNS) - 1)) + (False,)]


def test_the_audit_service_asks_the_store_it_is_given(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db")
    service = AuditService(log, store=_OneEntryStore())
    assert service.count(AuditFilters()) == 42
    assert service.choices("operator") == ["only-operator"]
    exported = service.export(AuditFilters(), CSV, operator="auditor", environment="sandbox").decode("utf-8-sig")
    assert exported.splitlines()[1].startswith("0,1,2,")  # the store's entry, not the log's
    assert log.entry(1)["kind"] == "export" and log.entry(1)["detail"]["entries"] == 1  # recorded in the log


def test_services_hold_their_stores_by_interface() -> None:
    from lib.qa import service as qa_service
    from lib.sessions import service as sessions_service

    assert typing.get_type_hints(AuditService)["log"] is CallLogStore
    source = inspect.getsource(sessions_service.SessionsService.__post_init__)
    assert all(f": {p.__name__} =" in source for p in (CallLogStore, SessionStore, AuditStore))
    source = inspect.getsource(qa_service.QAService.__init__)
    assert all(f": {p.__name__} =" in source for p in (RunWriter, RunRecords))
