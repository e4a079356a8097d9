"""The call log: round trip, append-only triggers, tamper detection, secrets, CLI, backup."""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from requests.structures import CaseInsensitiveDict

from lib.calllog.log import GENESIS_HASH, CallLog
from lib.calllog.redaction import REDACTED, redact

REPO = Path(__file__).resolve().parent.parent
CREATE = "/v1/payment-sessions"


def append_pair(log: CallLog, n: int, **extra: object) -> tuple[int, int]:
    """One logged API call: a request entry and its result entry."""
    common = dict(operator="ann", environment="sandbox", attempt_id=f"a{n}", method="POST", endpoint=CREATE, path=CREATE)
    req = log.append("api_request", **common, order_id=f"order-{n}", amount=Decimal("15.02"), currency="gbp",
                     detail={"headers": {"Accept": "application/json"}, "body": {"n": n}}, **extra)
    res = log.append("api_result", **common, session_id=f"s{n}", http_status=201, outcome="ok", duration_ms=12.5,
                     detail={"headers": {}, "body": {"session_id": f"s{n}"}, "error": None})
    return req, res


def fill(log: CallLog, pairs: int) -> None:
    for n in range(pairs):
        append_pair(log, n)


def attacker(db_path: Path) -> sqlite3.Connection:
    """A raw connection with the append-only triggers dropped, as someone covering tracks would."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def documented_hash(row: dict) -> str:
    """The recipe of the module docstring, written independently of lib.calllog.log."""
    body = {k: v for k, v in row.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def test_round_trip(log: CallLog) -> None:
    req, res = append_pair(log, 1, tags=["smoke", "qa"])
    assert (req, res, log.count()) == (1, 2, 2)
    request, result = log.entry(req), log.entry(res)
    assert request["kind"] == "api_request" and request["tags"] == ["smoke", "qa"]
    assert request["amount"] == Decimal("15.02") and request["currency"] == "gbp"
    assert request["detail"] == {"headers": {"Accept": "application/json"}, "body": {"n": 1}}
    assert request["prev_hash"] == GENESIS_HASH and result["prev_hash"] == request["hash"]
    assert result["http_status"] == 201 and result["outcome"] == "ok" and result["duration_ms"] == 12.5
    assert result["attempt_id"] == request["attempt_id"] and result["session_id"] == "s1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", request["ts"]) and request["ts"] <= result["ts"]
    assert log.entry(3) is None
    assert log.verify().message == "OK (2 entries)"


def test_in_flight_lists_requests_without_result(log: CallLog) -> None:
    append_pair(log, 1)
    log.append("api_request", operator="ann", environment="sandbox", attempt_id="pending", method="PUT")
    assert [e["attempt_id"] for e in log.in_flight()] == ["pending"]
    log.append("api_result", operator="ann", environment="sandbox", attempt_id="pending", outcome="unknown_outcome")
    assert log.in_flight() == []


def test_bad_values_are_refused_before_writing(log: CallLog) -> None:
    with pytest.raises(TypeError):
        # a float amount on purpose: the log must refuse what the type would not allow
        log.append("api_request", operator="ann", environment="sandbox", amount=15.02)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        log.append("api_result", operator="ann", environment="sandbox", duration_ms=float("nan"))
    with pytest.raises(TypeError):
        log.append("api_request", operator="ann", environment="sandbox", tags="qa")
    assert log.count() == 0


def test_triggers_refuse_update_and_delete(log: CallLog) -> None:
    fill(log, 2)
    conn = sqlite3.connect(log.db_path, isolation_level=None)
    for sql in ("UPDATE entries SET operator = 'eve' WHERE seq = 1", "DELETE FROM entries WHERE seq = 4"):
        with pytest.raises(sqlite3.DatabaseError, match="the call log is append-only"):
            conn.execute(sql)
    conn.close()
    assert log.count() == 4 and log.entry(1)["operator"] == "ann" and log.verify().ok


def test_edited_entry_is_named(log: CallLog) -> None:
    fill(log, 10)
    attacker(log.db_path).execute("UPDATE entries SET amount = '1.00' WHERE seq = 17")
    result = log.verify()
    assert (result.ok, result.broken_seq, result.count) == (False, 17, 16)
    assert result.message == "entry 17: hash does not match its content"


def test_deleted_entry_is_named(log: CallLog) -> None:
    fill(log, 10)
    attacker(log.db_path).execute("DELETE FROM entries WHERE seq = 18")
    result = log.verify()
    assert (result.ok, result.broken_seq) == (False, 18)
    assert result.message == "entry 18 is missing (sequence jumps from 17 to 19)"


def test_swapped_entries_are_named(log: CallLog) -> None:
    fill(log, 10)
    payload = "ts, kind, operator, environment, tags, attempt_id, method, endpoint, path, session_id, order_id, " \
              "amount, currency, http_status, outcome, duration_ms, detail"
    conn = attacker(log.db_path)
    rows = {seq: conn.execute(f"SELECT {payload} FROM entries WHERE seq = ?", (seq,)).fetchone() for seq in (10, 11)}
    setter = ", ".join(f"{c.strip()} = ?" for c in payload.split(","))
    conn.execute("BEGIN")
    for seq, other in ((10, 11), (11, 10)):
        conn.execute(f"UPDATE entries SET {setter} WHERE seq = ?", (*rows[other], seq))
    conn.execute("COMMIT")
    result = log.verify()
    assert (result.ok, result.broken_seq) == (False, 10)
    assert result.message == "entry 10: hash does not match its content"


def test_dropped_tail_is_caught_by_checkpoint(log: CallLog) -> None:
    fill(log, 10)
    checkpoint = log.checkpoint()
    assert checkpoint["count"] == 20 and checkpoint["head_hash"] == log.entry(20)["hash"]
    attacker(log.db_path).execute("DELETE FROM entries WHERE seq > 17")
    result = log.verify()
    assert (result.ok, result.count, result.broken_seq) == (False, 17, 18)
    assert result.message == (
        f"checkpoint of {checkpoint['at']}: 20 entries were recorded but only 17 remain (entries 18-20 missing)"
    )


def test_consistently_rewritten_chain_is_caught_by_checkpoint(log: CallLog, tmp_path: Path) -> None:
    fill(log, 5)
    first = log.checkpoint()  # at entry 10
    fill(log, 5)
    log.checkpoint()  # at entry 20
    conn = attacker(log.db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN")
    rows = [dict(r) for r in conn.execute("SELECT * FROM entries ORDER BY seq")]
    prev = rows[3]["hash"]
    for row in rows[4:]:  # entry 5 onwards: change an amount, then re-chain everything after it
        if row["seq"] == 5:
            row["amount"] = "0.01"
        row["prev_hash"] = prev
        row["hash"] = prev = documented_hash(row)
        conn.execute("UPDATE entries SET amount = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                     (row["amount"], row["prev_hash"], row["hash"], row["seq"]))
    conn.execute("COMMIT")

    # The rewritten chain is self-consistent (this also proves the documented recipe is the real one) ...
    assert CallLog(log.db_path, tmp_path / "no-checkpoints.jsonl").verify().ok
    # ... and only the checkpoints expose it, naming the earliest checkpointed head that differs.
    result = log.verify()
    assert (result.ok, result.broken_seq) == (False, 10)
    assert result.message == f"checkpoint of {first['at']}: the head hash at entry 10 differs (the chain was rewritten up to there)"


def test_unreadable_checkpoint_line_fails_verify(log: CallLog) -> None:
    fill(log, 1)
    log.checkpoint()
    with log.checkpoint_path.open("a") as f:
        f.write('{"count": "lots"}\n')
    result = log.verify()
    assert not result.ok and result.message.endswith("line 2 is not a checkpoint")


def test_redact_is_recursive_case_insensitive_and_copies() -> None:
    original = {
        "headers": CaseInsensitiveDict({"Authorization": "Bearer x", "Accept": "json"}),
        "body": {"App_Key": "k", "nested": [{"password": "p", "Set-Cookie": "c", "keep": 1}]},
    }
    assert redact(original) == {
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "body": {"App_Key": REDACTED, "nested": [{"password": REDACTED, "Set-Cookie": REDACTED, "keep": 1}]},
    }
    assert original["body"]["App_Key"] == "k"


def test_secrets_never_reach_the_disk(log: CallLog) -> None:
    app_key, token, bearer = (secrets.token_hex(16) for _ in range(3))
    log.append("api_request", operator="ann", environment="acquired-test", attempt_id="login", method="POST",
               endpoint="/v1/login", detail={"headers": {"Content-Type": "application/json"},
                                             "body": {"app_id": "id-1", "app_key": app_key}})
    log.append("api_result", operator="ann", environment="acquired-test", attempt_id="login", http_status=200,
               outcome="ok", detail={"headers": {}, "body": {"token_type": "Bearer", "access_token": token}, "error": None})
    log.append("api_request", operator="ann", environment="acquired-test", attempt_id="create", method="POST",
               endpoint=CREATE, detail={"headers": {"Authorization": f"Bearer {bearer}"}, "body": {}})
    raw = b"".join(p.read_bytes() for p in (log.db_path, Path(f"{log.db_path}-wal")) if p.exists())
    assert b"app_id" in raw or b"id-1" in raw  # the writes did land in these files
    for secret in (app_key, token, bearer):
        assert secret.encode() not in raw
    assert log.entry(3)["detail"]["headers"]["Authorization"] == REDACTED


def test_then_runs_in_the_same_transaction(log: CallLog) -> None:
    from lib.storage.db import connect

    connect(log.db_path)["side"].create({"seq": int, "note": str}, if_not_exists=True)
    seen: list[int] = []

    def ok(db, seq: int) -> None:
        db["side"].insert({"seq": seq, "note": "kept"})  # sqlite-utils insert: a SAVEPOINT inside our BEGIN
        seen.append(seq)

    def failing(db, seq: int) -> None:
        db["side"].insert({"seq": seq, "note": "lost"})
        raise RuntimeError("callback failed")

    seq = log.append("api_result", operator="ann", environment="sandbox", then=ok)
    with pytest.raises(RuntimeError, match="callback failed"):
        log.append("api_result", operator="ann", environment="sandbox", then=failing)
    assert seen == [seq] == [1]
    assert log.count() == 1 and log.entry(2) is None
    assert list(connect(log.db_path).query("SELECT seq, note FROM side")) == [{"seq": 1, "note": "kept"}]
    assert log.append("api_result", operator="ann", environment="sandbox") == 2  # the connection is still usable
    assert log.verify().ok


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lib.calllog", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_cli_verify_checkpoint_and_broken_log(log: CallLog) -> None:
    fill(log, 3)
    paths = ("--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path))
    done = run_cli("checkpoint", *paths)
    assert done.returncode == 0 and '"count": 6' in done.stdout
    done = run_cli("verify", *paths)
    assert (done.returncode, done.stdout) == (0, "OK (6 entries)\n")
    attacker(log.db_path).execute("DELETE FROM entries WHERE seq = 6")
    done = run_cli("verify", *paths)
    assert done.returncode == 1 and "6 entries were recorded but only 5 remain" in done.stdout
    assert run_cli("verify", "--db", str(log.db_path.with_name("absent.db"))).returncode == 1


def test_cli_backup(log: CallLog, tmp_path: Path) -> None:
    fill(log, 2)
    dest = tmp_path / "copy.db"
    done = run_cli("backup", str(dest), "--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"backup written to {dest}\nbackup verifies: OK (4 entries)\n"
    with pytest.raises(FileExistsError):
        log.backup(dest)


def test_backup_while_another_thread_appends(log: CallLog, tmp_path: Path) -> None:
    fill(log, 50)
    stop, errors = threading.Event(), []

    def writer() -> None:
        try:
            n = 1000
            while not stop.is_set():
                append_pair(log, n)
                n += 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = [log.backup(tmp_path / f"copy{i}.db") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert errors == []
    counts = [CallLog(c, tmp_path / "none.jsonl").verify() for c in copies]
    assert all(r.ok for r in counts), counts
    assert 100 <= counts[0].count <= counts[-1].count <= log.count()
    assert log.verify().ok


def test_entries_are_committed_with_synchronous_full_in_every_thread(log: CallLog) -> None:
    """A request entry must survive a power cut once the request has left: WAL with NORMAL may roll
    the last commits back, FULL fsyncs each commit before append returns."""
    from lib.sessions.registry import Registry
    from lib.storage.db import connect

    seen: list[int] = []

    def in_a_fresh_thread() -> None:
        Registry(log.db_path).get("nothing")  # another user of the file opens the connection first
        log.append("api_request", operator="ann", environment="sandbox", attempt_id="t")
        seen.append(connect(log.db_path).execute("PRAGMA synchronous").fetchone()[0])

    log.append("api_request", operator="ann", environment="sandbox", attempt_id="main")
    seen.append(connect(log.db_path).execute("PRAGMA synchronous").fetchone()[0])
    thread = threading.Thread(target=in_a_fresh_thread)
    thread.start()
    thread.join()
    assert seen == [2, 2]  # FULL


def test_a_read_request_entry_waits_for_no_fsync_and_the_next_commit_syncs_it(log: CallLog) -> None:
    """The request of a read (a lookup) changes nothing at the API, so its entry commits with
    NORMAL; the connection is FULL again for the next entry, whose fsync covers the WAL before it."""
    from lib.storage.db import connect

    during: list[int] = []
    log.append("api_request", operator="ann", environment="sandbox", attempt_id="get", durable=False,
               then=lambda db, seq: during.append(db.execute("PRAGMA synchronous").fetchone()[0]))
    log.append("api_result", operator="ann", environment="sandbox", attempt_id="get",
               then=lambda db, seq: during.append(db.execute("PRAGMA synchronous").fetchone()[0]))
    assert during == [1, 2]  # NORMAL for the read's request, FULL for what follows
    assert connect(log.db_path).execute("PRAGMA synchronous").fetchone()[0] == 2
    assert log.verify().ok


def test_cli_explains_a_log_it_cannot_open(tmp_path: Path) -> None:
    path = tmp_path / "ops.db"
    path.write_bytes(b"this is not a database, it is a note someone saved over it\n" * 100)
    done = run_cli("verify", "--db", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("The call log cannot be opened: the file is not a SQLite database.")
    assert f"File: {path}." in done.stderr and "What to do:" in done.stderr and "Traceback" not in done.stderr


def test_cli_catches_a_forged_history_once_checkpoints_are_signed(log: CallLog, tmp_path: Path) -> None:
    """Write access to the database and the checkpoint file is not enough: the key is elsewhere."""
    import os

    key = {"OPS_CHECKPOINT_KEY": "a-checkpoint-key-of-more-than-32-characters"}
    env = {**os.environ, **key}
    fill(log, 5)
    paths = ("--db", str(log.db_path), "--checkpoints", str(log.checkpoint_path))
    assert subprocess.run([sys.executable, "-m", "lib.calllog", "checkpoint", *paths], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60).returncode == 0
    conn = attacker(log.db_path)  # rewrite entry 3 and re-chain everything after it
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN")
    rows = [dict(r) for r in conn.execute("SELECT * FROM entries ORDER BY seq")]
    prev = rows[1]["hash"]
    for row in rows[2:]:
        row["amount"] = "0.01" if row["seq"] == 3 else row["amount"]
        row["prev_hash"], row["hash"] = prev, documented_hash({**row, "prev_hash": prev})
        prev = row["hash"]
        conn.execute("UPDATE entries SET amount = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                     (row["amount"], row["prev_hash"], row["hash"], row["seq"]))
    conn.execute("COMMIT")
    checkpoint = json.loads(log.checkpoint_path.read_text())
    checkpoint["head_hash"] = prev  # the checkpoint edited to match the forged chain
    log.checkpoint_path.write_text(json.dumps(checkpoint) + "\n")
    done = subprocess.run([sys.executable, "-m", "lib.calllog", "verify", *paths], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "has a signature that does not match its content" in done.stdout
