"""Retention: old entries move to a verified archive file; the live log and the archives still verify as one chain."""
from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from lib.audit.service import AuditService, Retention
from lib.calllog import cli, evidence
from lib.calllog.archive import ArchiveRefused, archive, file_sha256, verify_with_archives
from lib.calllog.kinds import ARCHIVE
from lib.calllog.log import CallLog
from lib.calllog.progress import batched
from lib.storage.ops_schema import append_only_trigger
from tests.clocks import FakeClock

REPO = Path(__file__).resolve().parent.parent
KEY = b"a" * 40
TODAY = date(2026, 3, 10)  # the FakeClock starts on 2026-03-01 12:00 UTC


@pytest.fixture
def log_kwargs(clock: FakeClock) -> dict[str, Any]:
    """The shared ``log`` fixture, on the test's clock and keyed (markers get signed)."""
    return {"clock": clock, "checkpoint_key": KEY}


def days(log: CallLog, clock: FakeClock, per_day: int, n_days: int) -> None:
    """``per_day`` entries on each of ``n_days`` days, from the clock's day on."""
    for _ in range(n_days):
        for i in range(per_day):
            log.append("api_request", operator="ann", environment="sandbox", attempt_id=f"a{i}", amount="1.50",
                       detail={"body": {"note": "Zoë"}})
        clock.advance(timedelta(days=1))


def raw(log: CallLog) -> sqlite3.Connection:
    return sqlite3.connect(log.db_path, isolation_level=None)


def seqs(log: CallLog) -> list[int]:
    return [seq for (seq,) in raw(log).execute("SELECT seq FROM entries ORDER BY seq")]


def test_archiving_moves_a_closed_range_and_the_live_log_still_verifies(log: CallLog, clock: FakeClock,
                                                                        tmp_path: Path) -> None:
    days(log, clock, 3, 3)  # 2026-03-01, 02, 03: entries 1-9
    dest = tmp_path / "2026-03.jsonl"
    marker = archive(log, date(2026, 3, 3), dest, operator="aud@example.com", today=TODAY)
    assert (marker.first_seq, marker.last_seq, marker.count, marker.before) == (1, 6, 6, "2026-03-03")
    assert marker.signature is not None and marker.file == str(dest)
    assert dest.exists() and not dest.with_name(dest.name + ".partial").exists()
    verdict = evidence.verify_file(dest, KEY)
    assert verdict.ok and (verdict.first_seq, verdict.last_seq, verdict.head) == (1, 6, marker.last_hash)
    assert seqs(log) == [7, 8, 9, 10]  # 10: the archiving itself, recorded in the log
    entry = log.entry(10)
    assert entry is not None and entry["kind"] == ARCHIVE and entry["operator"] == "aud@example.com"
    assert entry["detail"]["sha256"] == marker.sha256 and entry["detail"]["last_seq"] == 6
    assert log.entry(3) is None and log.live_range() == (7, 10) and log.archives() == [marker]
    result = log.verify()
    assert result.ok and result.count == 10, result.message
    assert any("entries 1-6 are archived" in note for note in result.notes)
    # The delete trigger is back, exactly as the schema has it.
    sql = raw(log).execute("SELECT sql FROM sqlite_master WHERE name = 'entries_no_delete'").fetchone()[0]
    assert sql == append_only_trigger("entries", "DELETE").replace(" IF NOT EXISTS", "")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw(log).execute("DELETE FROM entries WHERE seq = 7")


def test_only_a_closed_nonempty_range_is_archived_and_never_over_a_file(log: CallLog, clock: FakeClock,
                                                                         tmp_path: Path) -> None:
    days(log, clock, 2, 2)
    dest = tmp_path / "a.jsonl"
    with pytest.raises(ArchiveRefused, match="not in the past"):
        archive(log, TODAY, dest, operator="x", today=TODAY)
    with pytest.raises(ArchiveRefused, match="not in the past"):
        archive(log, TODAY + timedelta(days=1), dest, operator="x", today=TODAY)
    with pytest.raises(ArchiveRefused, match="nothing to archive"):
        archive(log, date(2026, 3, 1), dest, operator="x", today=TODAY)
    dest.write_text("someone's file")
    with pytest.raises(FileExistsError):
        archive(log, date(2026, 3, 2), dest, operator="x", today=TODAY)
    assert dest.read_text() == "someone's file" and seqs(log) == [1, 2, 3, 4] and log.archives() == []


def test_a_second_archive_continues_from_the_first_and_all_verify_as_one_chain(log: CallLog, clock: FakeClock,
                                                                              tmp_path: Path) -> None:
    days(log, clock, 2, 4)  # entries 1-8 over 03-01 .. 03-04
    first = archive(log, date(2026, 3, 2), tmp_path / "a1.jsonl", operator="x", today=TODAY)
    second = archive(log, date(2026, 3, 4), tmp_path / "a2.jsonl", operator="x", today=TODAY)
    assert (first.first_seq, first.last_seq, second.first_seq, second.last_seq) == (1, 2, 3, 6)
    assert second.anchor == first.last_hash and log.archives() == [first, second]
    assert log.verify().ok
    result = verify_with_archives(log, [tmp_path / "a2.jsonl", tmp_path / "a1.jsonl"])  # any order
    assert result.ok, result.message
    assert result.message == "OK (10 entries: 1-6 in 2 archive file(s), 7-10 live)"
    assert not any("--with-archives" in note for note in result.notes)


@pytest.fixture
def archived(log: CallLog, clock: FakeClock, tmp_path: Path) -> tuple[Path, Path]:
    days(log, clock, 2, 4)
    archive(log, date(2026, 3, 2), tmp_path / "a1.jsonl", operator="x", today=TODAY)
    archive(log, date(2026, 3, 4), tmp_path / "a2.jsonl", operator="x", today=TODAY)
    return tmp_path / "a1.jsonl", tmp_path / "a2.jsonl"


def test_an_edited_archive_line_is_caught(log: CallLog, archived: tuple[Path, Path]) -> None:
    a1, a2 = archived
    lines = a2.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[2])
    entry["amount"] = "0.01"
    lines[2] = json.dumps(entry, ensure_ascii=False)
    a2.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = verify_with_archives(log, [a1, a2])
    assert not result.ok and "entries 3-6" in result.message and "sha256" in result.message


def test_a_missing_archive_or_a_stranger_file_is_caught(log: CallLog, archived: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    a1, a2 = archived
    missing = verify_with_archives(log, [a2])
    assert not missing.ok and "the archive of entries 1-2" in missing.message
    assert not verify_with_archives(log, [a1, tmp_path / "nowhere.jsonl"]).ok
    other = tmp_path / "other.jsonl"
    with other.open("w", encoding="utf-8") as out:
        log.export_evidence(out, 7, 8)
    stranger = verify_with_archives(log, [a1, a2, other])
    assert not stranger.ok and "no archive marker records this file" in stranger.message


def test_an_edited_archive_with_its_marker_edited_to_match_is_caught(log: CallLog,
                                                                    archived: tuple[Path, Path]) -> None:
    a1, a2 = archived
    a1.write_text(a1.read_text(encoding="utf-8").replace('"amount": "1.50"', '"amount": "0.01"', 1), encoding="utf-8")
    marker_attacker(log).execute("UPDATE archive_markers SET sha256 = ? WHERE first_seq = 1", (file_sha256(a1),))
    result = verify_with_archives(CallLog(log.db_path, log.checkpoint_path, checkpoint_key=None), [a1, a2])
    assert not result.ok and result.message == f"{a1}: entry 1: hash does not match its content"


def test_an_archive_whose_hash_differs_from_its_marker_is_caught(log: CallLog, archived: tuple[Path, Path]) -> None:
    a1, a2 = archived
    a1.write_text(a1.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # same entries, other bytes
    assert evidence.verify_file(a1).ok
    result = verify_with_archives(log, [a1, a2])
    assert not result.ok and "none of the files given has the sha256 its marker records" in result.message


def marker_attacker(log: CallLog) -> sqlite3.Connection:
    conn = raw(log)
    conn.execute("DROP TRIGGER archive_markers_no_update")
    conn.execute("DROP TRIGGER archive_markers_no_delete")
    return conn


def test_an_edited_marker_is_caught_by_its_signature(log: CallLog, archived: tuple[Path, Path]) -> None:
    marker_attacker(log).execute("UPDATE archive_markers SET file = 'elsewhere.jsonl' WHERE first_seq = 1")
    result = log.verify()
    assert not result.ok
    assert result.message == ("the archive marker of entries 1-2 (elsewhere.jsonl) has a signature that does not "
                              "match its content: it was edited")
    assert not verify_with_archives(log, list(archived)).ok


def test_without_a_key_an_edited_marker_still_breaks_the_chain(log: CallLog, archived: tuple[Path, Path]) -> None:
    unkeyed = CallLog(log.db_path, log.checkpoint_path, checkpoint_key=None)
    assert unkeyed.verify().ok
    assert any("were not checked against a key" in note for note in unkeyed.verify().notes)
    marker_attacker(log).execute("UPDATE archive_markers SET last_hash = ? WHERE first_seq = 3", ("f" * 64,))
    result = unkeyed.verify()
    assert not result.ok and result.message == "entry 7: its prev_hash does not match entry 6's hash"


@pytest.mark.parametrize("which", [1, 3])
def test_a_deleted_marker_leaves_the_live_chain_unanchored(log: CallLog, archived: tuple[Path, Path],
                                                           which: int) -> None:
    marker_attacker(log).execute("DELETE FROM archive_markers WHERE first_seq = ?", (which,))
    assert not log.verify().ok
    assert not CallLog(log.db_path, log.checkpoint_path, checkpoint_key=None).verify().ok
    assert not verify_with_archives(log, list(archived)).ok


class Crash(Exception):
    """What the step hook throws where the process could die."""


@pytest.mark.parametrize("crash_at", ["written", "renamed", "trigger dropped", "deleted", "marked"])
def test_a_failure_at_any_step_leaves_the_old_state(log: CallLog, clock: FakeClock, tmp_path: Path,
                                                    crash_at: str) -> None:
    days(log, clock, 2, 3)
    dest = tmp_path / "a.jsonl"

    def step(name: str) -> None:
        if name == crash_at:
            raise Crash(name)

    with pytest.raises(Crash, match=crash_at):
        archive(log, date(2026, 3, 3), dest, operator="x", today=TODAY, step=step)
    assert seqs(log) == [1, 2, 3, 4, 5, 6] and log.archives() == [] and log.verify().ok
    assert raw(log).execute("SELECT 1 FROM sqlite_master WHERE name = 'entries_no_delete'").fetchone()
    partial = dest.with_name("a.jsonl.partial")
    if crash_at == "written":  # the file exists only under its partial name
        assert partial.exists() and not dest.exists()
    else:  # complete, under its name, and only a copy: the log still has every entry
        assert dest.exists() and not partial.exists() and evidence.verify_file(dest).ok
    archive(log, date(2026, 3, 3), tmp_path / "again.jsonl", operator="x", today=TODAY)
    assert log.verify().ok and log.live_range() == (5, 7)


CRASH = """
import os, sys
from datetime import date
from lib.calllog.archive import archive
from lib.calllog.log import CallLog

def step(name):
    if name == sys.argv[3]:
        os._exit(9)  # the process dies: no rollback, no cleanup

archive(CallLog(sys.argv[1], checkpoint_key=None), date(2026, 3, 3), sys.argv[2], operator="x",
        today=date(2026, 3, 10), step=step)
"""


@pytest.mark.parametrize("crash_at", ["deleted", "marked"])
def test_a_killed_process_mid_transaction_loses_no_entry(log: CallLog, clock: FakeClock, tmp_path: Path,
                                                         crash_at: str) -> None:
    days(log, clock, 2, 3)
    done = subprocess.run([sys.executable, "-c", CRASH, str(log.db_path), str(tmp_path / "a.jsonl"), crash_at],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    assert seqs(log) == [1, 2, 3, 4, 5, 6] and log.archives() == [] and log.verify().ok


def test_checkpoints_in_the_archived_range(log: CallLog, clock: FakeClock, tmp_path: Path) -> None:
    log.append("api_request", operator="ann", environment="sandbox")
    log.checkpoint()  # at entry 1: inside the first archive
    days(log, clock, 2, 1)  # entries 2-3, still on 03-01
    log.checkpoint()  # at entry 3: the first archive's head, which its marker records
    days(log, clock, 2, 2)  # 4-5 on 03-02, 6-7 on 03-03
    archive(log, date(2026, 3, 2), tmp_path / "a1.jsonl", operator="x", today=TODAY)
    archive(log, date(2026, 3, 3), tmp_path / "a2.jsonl", operator="x", today=TODAY)
    result = log.verify()
    assert result.ok, result.message
    assert any("1 checkpoint(s) pin entries now archived" in note for note in result.notes)
    since = log.verify_since_checkpoint()
    assert since.ok and since.notes[-1] == "the newest checkpoint pins archived entries: the whole live chain was checked"
    assert verify_with_archives(log, [tmp_path / "a1.jsonl", tmp_path / "a2.jsonl"]).ok
    log.checkpoint()
    days(log, clock, 1, 1)
    since = log.verify_since_checkpoint()
    assert since.ok and "1 checked since the checkpoint" in since.message, since.message


def test_a_checkpoint_at_a_marker_head_is_checked_against_the_marker(clock: FakeClock, tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", tmp_path / "checkpoints.jsonl", clock=clock, checkpoint_key=None)
    days(log, clock, 2, 1)
    log.checkpoint()
    days(log, clock, 2, 1)
    archive(log, date(2026, 3, 2), tmp_path / "a1.jsonl", operator="x", today=TODAY)
    assert log.verify().ok
    cp = json.loads(log.checkpoint_path.read_text())
    log.checkpoint_path.write_text(json.dumps({**cp, "head_hash": "e" * 64}) + "\n")
    result = log.verify()
    assert not result.ok and "the head hash at entry 2 differs" in result.message, result.message


def test_progress_is_reported_per_batch_and_at_the_end(log: CallLog, clock: FakeClock) -> None:
    days(log, clock, 5, 1)
    calls: list[tuple[int, int]] = []
    assert log.verify(lambda done, total: calls.append((done, total))).ok
    assert calls == [(5, 5)]
    conn = raw(log)
    rows = list(batched(conn.execute("SELECT seq FROM entries"), 5, lambda d, t: calls.append((d, t)), every=2))
    assert len(rows) == 5 and calls[1:] == [(2, 5), (4, 5), (5, 5)]
    calls.clear()
    assert list(batched(conn.execute("SELECT seq FROM entries WHERE 0"), 0, lambda d, t: calls.append((d, t)))) == []
    assert calls == [(0, 0)]


def test_the_cli_archives_and_verifies_with_archives(log: CallLog, clock: FakeClock, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    days(log, clock, 2, 2)
    monkeypatch.setenv("OPS_OPERATOR", "ops@example.com")
    common = ["--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path)]
    dest = tmp_path / "a.jsonl"
    assert cli.main(["archive", *common, "--before", "2026-03-02", str(dest)]) == 0  # today is the real one
    out, err = capsys.readouterr()
    assert "entries 1-2 (2, before 2026-03-02) archived to" in out and "unsigned" in err  # no key in the env
    assert log.archives()[0].operator == "ops@example.com"
    assert cli.main(["archive", *common, "--before", "2026-03-02", str(dest)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["verify", *common, "--with-archives", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK (5 entries: 1-2 in 1 archive file(s), 3-5 live)")
    assert "\r" not in err and "entries/s" not in err  # no progress bar: stderr is not a terminal
    assert cli.main(["verify", *common]) == 0
    assert cli.main(["verify", *common, "--with-archives", str(tmp_path / "nowhere")]) == 1


def test_the_audit_service_tells_what_is_archived_and_passes_progress_on(log: CallLog, clock: FakeClock,
                                                                         tmp_path: Path) -> None:
    service = AuditService(log)
    assert service.retention() == Retention(1, 0, ())
    days(log, clock, 2, 2)
    archive(log, date(2026, 3, 2), tmp_path / "a.jsonl", operator="aud@example.com", today=TODAY)
    retention = service.retention()
    assert (retention.first_live, retention.last) == (3, 5)
    held = retention.archive_of(2)
    assert held is not None and (held.first_seq, held.last_seq, held.before, held.file) == (
        1, 2, "2026-03-02", str(tmp_path / "a.jsonl"))
    assert retention.archive_of(3) is None and held.operator == "aud@example.com"
    calls: list[tuple[int, int]] = []
    assert service.verify(lambda done, total: calls.append((done, total))).ok and calls == [(3, 3)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_cli_shows_a_progress_bar_only_on_a_terminal(log: CallLog, clock: FakeClock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    days(log, clock, 3, 1)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["verify", "--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path)]) == 0
    assert "100%" in terminal.getvalue() and "3.00/3.00" in terminal.getvalue()
