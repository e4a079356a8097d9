"""An exported range of the call log verifies offline, and any change to it is found (lib.calllog.evidence)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lib.calllog import cli, evidence
from lib.calllog.log import COLUMNS, CallLog
from lib.storage.db import connect

KEY = b"k" * 40


def filled(log: CallLog, n: int) -> None:
    for i in range(n):
        log.append("api_request", operator="ann", environment="sandbox", attempt_id=f"a{i}", method="POST",
                   endpoint="/v1/payment-sessions", amount="15.02" if i % 2 else None, currency="gbp",
                   duration_ms=1.25 * i, detail={"body": {"customer": {"first_name": "Zoë <b>*x*</b>"}}})


def exported(log: CallLog, path: Path, first: int = 1, last: int | None = None) -> list[str]:
    with path.open("w", encoding="utf-8") as out:
        log.export_evidence(out, first, last)
    return path.read_text(encoding="utf-8").splitlines()


def test_a_whole_log_and_a_middle_range_verify_offline(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", checkpoint_key=KEY)
    filled(log, 6)
    log.checkpoint()
    filled(log, 4)
    whole = tmp_path / "whole.jsonl"
    exported(log, whole)
    verdict = evidence.verify_file(whole, KEY)
    assert verdict.ok and (verdict.first_seq, verdict.last_seq) == (1, 10), verdict.message
    assert "1 checkpoint(s) in range agree" in verdict.message
    middle = tmp_path / "middle.jsonl"
    lines = exported(log, middle, 4, 8)
    assert len(lines) == 1 + 5
    verdict = evidence.verify_file(middle, KEY)
    assert verdict.ok and verdict.anchor == log.entry(3)["hash"], verdict.message  # chains from entry 3


@pytest.mark.parametrize("tamper, reason", [
    (lambda e: e[3].update(operator="mallory"), "entry 3: hash does not match its content"),
    (lambda e: e.pop(3), "entry 3 is missing"),
    (lambda e: e[5].update(hash_version=1), "entry 5: hash does not match its content"),
    (lambda e: e[2].update(detail=e[2]["detail"].replace("Zo", "Jo")), "entry 2: hash does not match"),
])
def test_any_change_to_the_file_is_found(tmp_path: Path, tamper, reason: str) -> None:
    log = CallLog(tmp_path / "ops.db", checkpoint_key=None)
    filled(log, 6)
    path = tmp_path / "evidence.jsonl"
    document = [json.loads(line) for line in exported(log, path)]  # the header, then entries 1-6
    tamper(document)
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in document), encoding="utf-8")
    verdict = evidence.verify_file(path)
    assert not verdict.ok and reason in verdict.message, verdict.message


def test_a_forged_checkpoint_signature_is_found(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", checkpoint_key=KEY)
    filled(log, 3)
    log.checkpoint()
    path = tmp_path / "evidence.jsonl"
    header, *entries = [json.loads(line) for line in exported(log, path)]
    header["checkpoints"][0]["at"] = "2020-01-01T00:00:00.000000Z"
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *entries]), encoding="utf-8")
    assert evidence.verify_file(path).ok  # without the key only the head hash can be checked
    verdict = evidence.verify_file(path, KEY)
    assert not verdict.ok and "checkpoint" in verdict.message


def test_the_cli_exports_and_verifies_and_refuses_what_it_cannot(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "none.toml"))
    db = tmp_path / "ops.db"
    filled(CallLog(db, checkpoint_key=None), 5)
    out = tmp_path / "range.jsonl"
    assert cli.main(["export", str(out), "--db", str(db), "--from-seq", "2", "--to-seq", "4"]) == 0
    assert cli.main(["verify-export", str(out)]) == 0
    assert "OK (entries 2-4" in capsys.readouterr().out
    assert cli.main(["export", str(out), "--db", str(db)]) == 2  # never overwrites
    assert cli.main(["export", str(tmp_path / "x.jsonl"), "--db", str(db), "--from-seq", "4", "--to-seq", "9"]) == 2
    assert "not within the log's entries 1-5" in capsys.readouterr().err
    (tmp_path / "junk.jsonl").write_text("hello\n", encoding="utf-8")
    assert cli.main(["verify-export", str(tmp_path / "junk.jsonl")]) == 1


def selected(log: CallLog, path: Path, seqs: list[int]) -> list[dict[str, Any]]:
    """A selection file of entries ``seqs`` as the audit page writes one (stored values), read back."""
    rows = connect(log.db_path).conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM entries WHERE seq IN ({', '.join('?' * len(seqs))}) ORDER BY seq", seqs)
    with path.open("w", encoding="utf-8") as out:
        evidence.write_selection(out, COLUMNS, rows.fetchall(), log.checkpoints(), {"operator": "ann"})
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_selection_verifies_run_by_run_and_says_what_it_cannot_prove(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", checkpoint_key=KEY)
    filled(log, 6)
    log.checkpoint()  # its head, entry 6, is in the selection
    filled(log, 4)
    path = tmp_path / "view.jsonl"
    header, *entries = selected(log, path, [2, 3, 6, 9, 10])
    assert header["version"] == evidence.SELECTION and header["runs"] == [[2, 3], [6, 6], [9, 10]]
    assert header["count"] == 5 and header["view"] == {"operator": "ann"} and len(header["checkpoints"]) == 1
    verdict = evidence.verify_file(path, KEY)
    assert verdict.ok and (verdict.first_seq, verdict.last_seq) == (2, 10), verdict.message
    assert "5 entries in 3 run(s)" in verdict.message and "does not show that nothing is missing" in verdict.message
    assert "1 checkpoint(s) in the file agree" in verdict.message


def _rewrite(path: Path, document: list[dict]) -> None:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in document), encoding="utf-8")


@pytest.mark.parametrize("tamper, reason", [
    (lambda d: d[2].update(operator="mallory"), "entry 3: hash does not match its content"),
    (lambda d: d[4].update(detail=d[4]["detail"].replace("Zo", "Jo")), "entry 9: hash does not match"),
    (lambda d: d.pop(2), "entries 3-5 are missing"),  # a run lost its last entry
    (lambda d: d.pop(3), "entries 6-8 are missing"),  # a run of one went missing
    (lambda d: d[0].update(runs=[[2, 3], [6, 6], [9, 9]]), "entries its header does not list"),
    (lambda d: d[0].update(runs=[[2, 4], [6, 6], [9, 10]]), "entries 4-5 are missing"),
    (lambda d: d[0].update(runs="everything"), "does not say which entries it holds"),
    (lambda d: d[4].update(prev_hash=d[3]["hash"]), "entry 9: hash does not match"),  # a run's anchor is hashed
])
def test_any_change_to_a_selection_is_found(tmp_path: Path, tamper, reason: str) -> None:
    log = CallLog(tmp_path / "ops.db", checkpoint_key=None)
    filled(log, 10)
    path = tmp_path / "view.jsonl"
    document = selected(log, path, [2, 3, 6, 9, 10])  # header, then entries 2, 3, 6, 9, 10
    tamper(document)
    _rewrite(path, document)
    verdict = evidence.verify_file(path)
    assert not verdict.ok and reason in verdict.message, verdict.message
