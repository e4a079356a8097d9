"""Signed checkpoints: a forged history needs the key, which lives in neither the database nor the file."""
from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from lib import settings
from lib.calllog import checkpoints, cli
from lib.calllog.log import CallLog
from tests.test_calllog import attacker, documented_hash, fill

REPO = Path(__file__).resolve().parent.parent
KEY = b"k" * 16 + b"0123456789abcdef0123"  # 36 characters
OTHER = b"o" * 40


@pytest.fixture
def log_kwargs() -> dict[str, Any]:
    """The shared ``log`` fixture, keyed: every test here checks signed checkpoints."""
    return {"checkpoint_key": KEY}


def forge(log: CallLog, seq: int, amount: str) -> None:
    """Rewrite entry ``seq`` and re-chain everything after it, as someone with write access would."""
    conn = attacker(log.db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN")
    rows = [dict(r) for r in conn.execute("SELECT * FROM entries ORDER BY seq")]
    prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
    for row in rows[seq - 1:]:
        if row["seq"] == seq:
            row["amount"] = amount
        row["prev_hash"] = prev
        row["hash"] = prev = documented_hash(row)
        conn.execute("UPDATE entries SET amount = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                     (row["amount"], row["prev_hash"], row["hash"], row["seq"]))
    conn.execute("COMMIT")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_forged_history_with_an_edited_checkpoint_file_is_caught(log: CallLog) -> None:
    fill(log, 5)
    log.checkpoint()
    forge(log, 3, "0.01")
    cps = lines(log.checkpoint_path)
    cps[0]["head_hash"] = log.entry(10)["hash"]  # the checkpoint edited to match the forged chain
    log.checkpoint_path.write_text("".join(json.dumps(cp) + "\n" for cp in cps))
    result = log.verify()
    assert not result.ok
    assert result.message == (f"checkpoint of {cps[0]['at']} ({log.checkpoint_path} line 1) has a signature that "
                              "does not match its content: the line was edited")


def test_a_replaced_unsigned_checkpoint_is_caught_once_a_key_is_configured(log: CallLog) -> None:
    fill(log, 5)
    log.checkpoint()
    forge(log, 3, "0.01")
    log.checkpoint_path.write_text(json.dumps({"count": 10, "head_hash": log.entry(10)["hash"],
                                               "at": "2026-01-01T00:00:00.000000Z"}) + "\n")
    result = log.verify()
    assert not result.ok and "is not signed, but a checkpoint key is configured" in result.message


def test_signed_checkpoints_verify_and_name_the_key_that_signed_them(log: CallLog, tmp_path: Path) -> None:
    fill(log, 3)
    record = log.checkpoint()
    assert record["key_id"] == checkpoints.key_id(KEY) and len(record["signature"]) == 64
    assert log.verify().ok and log.verify().notes == ()
    other = CallLog(log.db_path, log.checkpoint_path, checkpoint_key=OTHER).verify()
    assert not other.ok and f"signed with another key (key id {checkpoints.key_id(KEY)}" in other.message
    unkeyed = CallLog(log.db_path, log.checkpoint_path, checkpoint_key=None).verify()
    assert unkeyed.ok and unkeyed.notes == ("1 signed checkpoint(s) not checked: no checkpoint key is configured "
                                            "(OPS_CHECKPOINT_KEY or [calllog] checkpoint_key)",)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert KEY not in raw  # the key is in neither the database nor the checkpoint file


def test_unsigned_checkpoints_are_reported_honestly(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", tmp_path / "cp.jsonl", checkpoint_key=None)
    fill(log, 2)
    assert log.verify().notes[0].startswith("no checkpoint in ")
    log.checkpoint()
    result = log.verify()
    assert result.ok and result.message == "OK (4 entries)"
    assert result.notes == (f"1 checkpoint(s) unsigned: they prove the head only to whoever trusts {log.checkpoint_path} "
                            "(configure a checkpoint key to sign new ones)",)


def test_the_mirror_gets_the_same_line(log: CallLog, tmp_path: Path) -> None:
    fill(log, 2)
    out = io.StringIO()
    first = log.checkpoint(str(tmp_path / "elsewhere" / "mirror.jsonl"))
    second = log.checkpoint("-", stdout=out)
    assert lines(tmp_path / "elsewhere" / "mirror.jsonl") == [first]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [second]
    assert lines(log.checkpoint_path) == [first, second]
    # The mirror is a checkpoint file of its own: the log verifies against it.
    assert CallLog(log.db_path, tmp_path / "elsewhere" / "mirror.jsonl", checkpoint_key=KEY).verify().ok


def test_the_key_comes_from_the_environment_or_the_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_file = tmp_path / "secrets.toml"
    monkeypatch.setenv("OPS_SECRETS_PATH", str(secrets_file))
    monkeypatch.delenv("OPS_CHECKPOINT_KEY", raising=False)
    monkeypatch.delenv("OPS_CHECKPOINT_MIRROR", raising=False)
    assert settings.checkpoint_key() is None and settings.checkpoint_mirror() is None
    secrets_file.write_text(f'[calllog]\ncheckpoint_key = "{KEY.decode()}"\ncheckpoint_mirror = "-"\n')
    assert settings.checkpoint_key() == KEY and settings.checkpoint_mirror() == "-"
    monkeypatch.setenv("OPS_CHECKPOINT_KEY", OTHER.decode())
    assert settings.checkpoint_key() == OTHER  # the environment wins, as for every setting
    monkeypatch.setenv("OPS_CHECKPOINT_KEY", "short")
    with pytest.raises(settings.ConfigError, match="at least 32 characters"):
        settings.checkpoint_key()


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPS_CHECKPOINT")}
    return subprocess.run([sys.executable, "-m", "lib.calllog", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**environ, "OPS_SECRETS_PATH": "/nonexistent/secrets.toml", **env})


def test_cli_signs_mirrors_to_stdout_and_verifies(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "ops.db", tmp_path / "cp.jsonl", checkpoint_key=None)
    fill(log, 3)
    paths = ("--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path))
    done = run_cli("checkpoint", *paths, "--mirror", "-", OPS_CHECKPOINT_KEY=KEY.decode())
    assert done.returncode == 0, done.stderr
    shipped = json.loads(done.stdout)  # stdout carries only the line, for a log collector
    assert shipped == lines(log.checkpoint_path)[0] and shipped["count"] == 6 and "signature" in shipped
    assert KEY.decode() not in done.stdout + done.stderr
    done = run_cli("verify", *paths, OPS_CHECKPOINT_KEY=KEY.decode())
    assert (done.returncode, done.stdout, done.stderr) == (0, "OK (6 entries)\n", "")
    done = run_cli("verify", *paths, OPS_CHECKPOINT_KEY=OTHER.decode())
    assert done.returncode == 1 and "signed with another key" in done.stdout
    done = run_cli("verify", *paths)
    assert done.returncode == 0 and done.stdout == "OK (6 entries)\n" and "not checked" in done.stderr
    done = run_cli("checkpoint", *paths, OPS_CHECKPOINT_MIRROR=str(tmp_path / "mirror.jsonl"))
    assert done.returncode == 0 and lines(tmp_path / "mirror.jsonl") == lines(log.checkpoint_path)[1:]


def test_verify_still_prints_ok_after_all_of_it(tmp_path: Path) -> None:
    """Hostile answers, a killed call settled by a resolution, a signed and mirrored checkpoint, more
    calls: the CLI still prints exactly ``OK (N entries)``."""
    from datetime import datetime, timedelta
    from decimal import Decimal

    from lib.access.signin import AccessPolicy
    from lib.fields.validation import SessionRequest
    from lib.sandbox.faults import HEADER, HOSTILE_MEMBERS
    from lib.sandbox.runtime import serve_in_thread
    from lib.sessions.service import SessionsService
    from tests.killing import Killed, killed_client

    server = serve_in_thread(tmp_path / "sandbox.db")
    try:
        later = datetime.now(UTC) + timedelta(minutes=5)
        console = SessionsService(sandbox_base_url=server.base_url, db_path=tmp_path / "ops.db", clock=lambda: later)
        console.log = CallLog(console.db_path, tmp_path / "cp.jsonl", checkpoint_key=KEY)
        for n, kind in enumerate(HOSTILE_MEMBERS):
            console.client("sandbox", "ann", headers={HEADER: f"answer={kind}"}).create_session(
                {"transaction": {"order_id": f"ord-all-{n}", "amount": Decimal("1.00"), "currency": "gbp"}})
        with pytest.raises(Killed):
            killed_client(console).create_session(SessionRequest.parse(
                {"transaction": {"order_id": "ord-all-killed", "amount": Decimal("2.00"), "currency": "gbp"}}))
        (attempt,) = console.unanswered_calls.all("sandbox")
        console.unanswered_calls.new_session(AccessPolicy(auth=False).identity(None, operator_fallback="ann"),
                                           attempt.attempt_id)
        console.log.checkpoint(str(tmp_path / "mirror.jsonl"))
        console.client("sandbox", "ann").create_session(
            {"transaction": {"order_id": "ord-all-after", "amount": Decimal("3.00"), "currency": "gbp"}})
        count = console.log.count()
    finally:
        server.stop()
    for checkpoints_file in ("cp.jsonl", "mirror.jsonl"):
        done = run_cli("verify", "--db", str(tmp_path / "ops.db"), "--checkpoints", str(tmp_path / checkpoints_file),
                       OPS_CHECKPOINT_KEY=KEY.decode())
        assert (done.returncode, done.stdout, done.stderr) == (0, f"OK ({count} entries)\n", "")


def test_verify_since_the_checkpoint_checks_only_what_came_after(tmp_path: Path) -> None:
    """The nightly run: the newest checkpoint (signature included), its head still there, then the
    chain on from it; a change before it is left to the full verify, a change after it is found."""
    key = b"n" * 40
    log = CallLog(tmp_path / "ops.db", checkpoint_key=key)
    assert log.verify_since_checkpoint().notes[-1] == "no checkpoint to start from: the whole chain was checked"
    for i in range(5):
        log.append("session_start", operator=f"op{i}", environment="sandbox")
    log.checkpoint()
    for i in range(3):
        log.append("session_start", operator=f"late{i}", environment="sandbox")
    result = log.verify_since_checkpoint()
    assert result.ok and result.message.startswith("OK (8 entries; 3 checked since the checkpoint of"), result.message
    conn = sqlite3.connect(log.db_path)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET operator = 'mallory' WHERE seq = 7")
    conn.commit()
    broken = log.verify_since_checkpoint()
    assert not broken.ok and broken.broken_seq == 7 and "hash does not match its content" in broken.message
    conn.execute("UPDATE entries SET operator = 'late1' WHERE seq = 7")  # put back: the chain is whole again
    conn.execute("UPDATE entries SET hash = (CASE WHEN hash LIKE 'f%' THEN '0' ELSE 'f' END) || substr(hash, 2) "
                 "WHERE seq = 5")  # the checkpointed head (changed whatever its first digit: 1 in 16 was an 'f')
    conn.commit()
    conn.close()
    moved = log.verify_since_checkpoint()
    assert not moved.ok and "head hash at entry 5 differs" in moved.message
    assert not CallLog(log.db_path, checkpoint_key=b"x" * 40).verify_since_checkpoint().ok  # another key: refused


def test_the_cli_verifies_since_the_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SECRETS_PATH", str(tmp_path / "none.toml"))
    monkeypatch.delenv("OPS_CHECKPOINT_KEY", raising=False)
    log = CallLog(tmp_path / "ops.db", checkpoint_key=None)
    log.append("session_start", operator="ann", environment="sandbox")
    log.checkpoint()
    log.append("session_start", operator="bob", environment="sandbox")
    assert cli.main(["verify", "--since-checkpoint", "--db", str(log.db_path)]) == 0
    assert "OK (2 entries; 1 checked since the checkpoint of" in capsys.readouterr().out
