"""Numbered migrations and per-entry hash recipes: old databases open, migrate and still verify.

The fixtures under tests/fixtures/ were written by the code of older commits
(tests/fixtures/make_old_databases.py says how to write them again).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database

from lib.calllog.log import CallLog
from lib.calllog.recipes import CURRENT, RECIPE_1, RECIPES
from lib.qa.results import RunReader
from lib.qa.store import RunStore
from lib.sandbox import schema as sandbox_schema
from lib.sandbox.store import SandboxStore
from lib.sessions.registry import Registry
from lib.storage import migrate as migrate_mod
from lib.storage import ops_schema
from lib.storage.db import close_thread_connections

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = FIXTURES.parent.parent
COMMITS = ("d3b227b", "cbb0ed7")
ALL_OPS = ["0001_initial", "0002_entries_hash_version", "0003_payments", "0004_log_summaries", "0005_archive_markers",
           "0006_signins", "0007_qa_run_origin", "0008_entries_lean_indexes"]


def copy(name: str, tmp_path: Path) -> Path:
    """A copy of a fixture (the committed file is never opened for writing)."""
    target = tmp_path / name
    shutil.copyfile(FIXTURES / name, target)
    return target


def attacker(db_path: Path) -> sqlite3.Connection:
    """Someone with write access to the file: the append-only triggers dropped."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    for name in ("entries_no_update", "entries_no_delete"):
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def by_hand(row: dict[str, object], columns: tuple[str, ...]) -> str:
    """A recipe of lib.calllog.recipes' docstring, written independently of it."""
    body = {name: row[name] for name in columns}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


@pytest.mark.parametrize("commit", COMMITS)
def test_a_database_of_an_older_commit_is_adopted_migrated_and_verifies(commit: str, tmp_path: Path) -> None:
    path = copy(f"ops-{commit}.db", tmp_path)
    assert "_sqlite_migrations" not in Database(path).table_names()  # written before migrations existed

    log = CallLog(path)
    assert migrate_mod.applied(path, ops_schema.MIGRATIONS) == ALL_OPS
    result = log.verify()
    assert (result.ok, result.count) == (True, 7), result.message
    assert {log.entry(seq)["hash_version"] for seq in range(1, 8)} == {1}

    session = Registry(path).get("s-0001")
    assert session is not None and (session["version"], session["amount"]) == (2, Decimal("13.00"))
    assert [v["version"] for v in Registry(path).history("s-0001")] == [1, 2]
    run = RunReader(RunStore(path)).run("run-1")
    assert run is not None and (run.status, run.done, run.surprises) == ("completed", 2, 1)

    seq = log.append("access", operator="dave", environment="sandbox", detail={"page": "audit"})
    assert log.entry(seq)["hash_version"] == CURRENT
    result = log.verify()
    assert (result.ok, result.count) == (True, 8), result.message


@pytest.mark.parametrize("commit", COMMITS)
def test_old_entries_recompute_by_hand_with_recipe_1_and_new_ones_with_every_column(commit: str,
                                                                                     tmp_path: Path) -> None:
    path = copy(f"ops-{commit}.db", tmp_path)
    CallLog(path).append("access", operator="dave", environment="sandbox")
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    for row in map(dict, conn.execute("SELECT * FROM entries ORDER BY seq")):
        columns = RECIPE_1 if row["hash_version"] == 1 else tuple(c for c in row if c != "hash")
        assert by_hand(row, columns) == row["hash"], row["seq"]
    assert set(RECIPES[CURRENT]) == {c for c in row if c != "hash"}


@pytest.mark.parametrize("commit", COMMITS)
def test_a_sandbox_database_of_an_older_commit_is_adopted(commit: str, tmp_path: Path) -> None:
    path = copy(f"sandbox-{commit}.db", tmp_path)
    store = SandboxStore(path)
    (record,) = store.find_sessions("order-sbx")
    assert [v.version for v in record.versions] == [1, 2]
    assert migrate_mod.applied(path, sandbox_schema.MIGRATIONS) == ["0001_initial", "0002_payments"]
    assert store.token_valid("ab" * 32, datetime(2027, 1, 1, tzinfo=UTC))


def test_a_new_database_gets_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    CallLog(path)
    migrate_mod.forget_done()
    ops_schema.migrate_ops(path)
    rows = Database(path).execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id").fetchall()
    assert rows == [("ops", name) for name in ALL_OPS]


def test_migration_1_makes_exactly_the_schema_of_commit_d3b227b(tmp_path: Path) -> None:
    """Tables, indexes and triggers of a new database before 0002 equal the old commit's file."""
    old = Database(FIXTURES / "ops-d3b227b.db")
    new = Database(tmp_path / "new.db")
    ops_schema.MIGRATIONS.apply(new, stop_before="0002_entries_hash_version")

    def schema(db: Database) -> set[tuple[str, str]]:
        return {(name, " ".join(sql.split())) for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name != '_sqlite_migrations'")}
    assert schema(new) == schema(old)


def test_a_table_that_is_not_the_expected_one_is_refused_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, what TEXT)")
    with pytest.raises(migrate_mod.SchemaMismatch, match="table entries has columns"):
        ops_schema.migrate_ops(path)
    assert "_sqlite_migrations" not in Database(path).table_names()  # rolled back: nothing recorded


def test_a_database_migrated_by_newer_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    ops_schema.migrate_ops(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('ops', '0099_from_the_future', '2030-01-01')")
    migrate_mod.forget_done()
    with pytest.raises(migrate_mod.SchemaMismatch, match="newer code than this .*0099_from_the_future"):
        ops_schema.migrate_ops(path)


def test_threads_migrating_one_file_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    path = copy("ops-d3b227b.db", tmp_path)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run() -> None:
        try:
            start.wait()
            ops_schema.migrate_ops(path)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert migrate_mod.applied(path, ops_schema.MIGRATIONS) == ALL_OPS


_MIGRATE = """
import sys, time
from lib.storage.ops_schema import migrate_ops
from lib.calllog.log import CallLog
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
migrate_ops(sys.argv[1])
print(CallLog(sys.argv[1]).verify().ok)
"""


@pytest.mark.parametrize("fixture", ["ops-cbb0ed7.db", None])
def test_processes_migrating_one_file_at_once_apply_each_migration_once(fixture: str | None, tmp_path: Path) -> None:
    path = copy(fixture, tmp_path) if fixture else tmp_path / "new.db"
    start = str(time.time() + 2.0)  # all processes are up before any begins
    procs = [subprocess.Popen([sys.executable, "-c", _MIGRATE, str(path), start], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert [out.strip() for out, _ in outputs] == ["True"] * 4
    assert migrate_mod.applied(path, ops_schema.MIGRATIONS) == ALL_OPS


def _mixed_log(tmp_path: Path) -> CallLog:
    """An old database (entries 1-7, recipe 1) with three entries written since (8-10, recipe 2)."""
    log = CallLog(copy("ops-d3b227b.db", tmp_path), tmp_path / "none.jsonl")
    for n in range(3):
        log.append("access", operator="dave", environment="sandbox", detail={"n": n})
    assert log.verify().ok
    return log


@pytest.mark.parametrize(("seq", "recipe"), [(3, 2), (8, 1), (10, 1)])
def test_changing_an_entrys_recipe_number_is_detected(tmp_path: Path, seq: int, recipe: int) -> None:
    """Old entries claiming the new recipe, new ones claiming the old: the number is in the hash."""
    log = _mixed_log(tmp_path)
    attacker(log.db_path).execute("UPDATE entries SET hash_version = ? WHERE seq = ?", (recipe, seq))
    result = log.verify()
    assert (result.ok, result.broken_seq, result.message) == (False, seq, f"entry {seq}: hash does not match its content")


def test_an_unknown_recipe_is_named(tmp_path: Path) -> None:
    log = _mixed_log(tmp_path)
    attacker(log.db_path).execute("UPDATE entries SET hash_version = 99 WHERE seq = 8")
    result = log.verify()
    assert (result.ok, result.broken_seq) == (False, 8)
    assert result.message == "entry 8: names hash recipe 99, which does not exist"


def test_a_process_started_before_the_migration_still_writes_entries_that_verify(tmp_path: Path) -> None:
    """Its INSERT names the columns it knows and hashes them by recipe 1; the default says so."""
    log = _mixed_log(tmp_path)
    head_seq, head_hash = sqlite3.connect(log.db_path).execute(
        "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    row = {name: None for name in RECIPE_1}
    row.update(seq=head_seq + 1, ts="2026-12-01T00:00:00.000000Z", kind="access", operator="old",
               environment="sandbox", tags="[]", prev_hash=head_hash)
    with sqlite3.connect(log.db_path) as conn:
        conn.execute(f"INSERT INTO entries ({', '.join([*RECIPE_1, 'hash'])}) VALUES ({', '.join('?' * 20)})",
                     [*row.values(), by_hand(row, RECIPE_1)])
    assert log.entry(head_seq + 1)["hash_version"] == 1
    assert log.verify().ok
    log.append("access", operator="new", environment="sandbox")
    result = log.verify()
    assert (result.ok, result.count) == (True, 12), result.message


def test_a_rewrite_by_the_old_recipe_is_caught_like_any_rewrite(tmp_path: Path) -> None:
    """The head re-hashed with recipe 1 (which does not cover the number) is self-consistent:
    only the checkpoint exposes it, as for a rewrite by any recipe."""
    log = _mixed_log(tmp_path)
    log.checkpoint()
    conn = attacker(log.db_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM entries WHERE seq = 10").fetchone())
    row["hash_version"], row["operator"] = 1, "eve"
    conn.execute("UPDATE entries SET hash_version = 1, operator = 'eve', hash = ? WHERE seq = 10",
                 (by_hand(row, RECIPE_1),))
    assert CallLog(log.db_path, tmp_path / "other.jsonl").verify().ok
    result = log.verify()
    assert (result.ok, result.broken_seq) == (False, 10)
    assert "the head hash at entry 10 differs" in result.message


def test_old_entries_keep_their_tamper_evidence(tmp_path: Path) -> None:
    log = _mixed_log(tmp_path)
    attacker(log.db_path).execute("UPDATE entries SET amount = '1.00' WHERE seq = 1")
    result = log.verify()
    assert (result.ok, result.broken_seq, result.message) == (False, 1, "entry 1: hash does not match its content")


@pytest.mark.parametrize("commit", COMMITS)
def test_migration_8_slims_the_logs_indexes_and_queries_still_use_them(commit: str, tmp_path: Path) -> None:
    """Old logs lose ``entries_requests`` and get partial indexes for the result-only columns; the
    audit page's filters on those columns still search an index, and the log still verifies."""
    path = copy(f"ops-{commit}.db", tmp_path)
    log = CallLog(path)
    conn = sqlite3.connect(path)
    indexes = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' "
                                "AND sql IS NOT NULL").fetchall())
    assert "entries_requests" not in indexes
    for name, column in (("entries_outcome_ts", "outcome"), ("entries_operator_outcome_ts", "outcome"),
                         ("entries_session_id", "session_id"), ("entries_http_status_ts", "http_status")):
        assert indexes[name].endswith(f"WHERE {column} IS NOT NULL"), indexes[name]
    for condition, index in (("e.http_status = 500", "entries_http_status_ts"),
                             ("e.outcome IN ('ok', 'http_error') AND e.ts >= '2026'", "entries_outcome_ts"),
                             ("e.operator = 'x' AND e.outcome = 'ok'", "entries_operator_outcome_ts"),
                             ("e.session_id >= 's-' AND e.session_id < 's.'", "entries_session_id"),
                             ("e.session_id IS NOT NULL", "entries_session_id")):
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT e.seq FROM entries AS e WHERE {condition}"))
        assert f"INDEX {index}" in plan, (condition, plan)
    result = log.verify()
    assert result.ok, result.message
