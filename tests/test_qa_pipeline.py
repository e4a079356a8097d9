"""The QA runner's engine (lib.qa.pipeline, lib.qa.commits) over real HTTP and a real SQLite file:
every request on disk before the API sees it, batches of writes, a login the API refuses, and a
run that fails with requests written ahead of their turn."""
from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlite_utils import Database
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lib.api.tokens import TOKENS
from lib.calllog.group_commit import Settled
from lib.calllog.log import CallLog
from lib.common import jsonutil
from lib.qa import runner
from lib.qa.store import CaseResult, RunStore
from lib.sandbox import SandboxServer
from lib.sandbox.runtime import bind_socket, uvicorn_config
from lib.sessions.service import SessionsService
from tests.conftest import ConfigureEnvironment
from tests.sandbox_support import sessions_for
from tests.test_qa_runner import QA, grid, suite

pytestmark = pytest.mark.timeout(60)
ROWS = grid(["gbp", "eur"], ["1", "2.50", "15.02", "20"], ["no_preference", "challenge_mandated"])  # 16 cases


class Witness:
    """An API that, for each create it receives, looks in the console's database (on a connection
    of its own) for the request's committed entry before answering."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.seen: dict[str, bool] = {}
        self.lock = threading.Lock()

    async def login(self, _request: Request) -> Response:
        return Response(jsonutil.dumps({"access_token": "witness", "expires_in": 3600}), media_type="application/json")

    async def create(self, request: Request) -> Response:
        order_id = jsonutil.loads(await request.body())["transaction"]["order_id"]
        with closing(sqlite3.connect(self.db_path)) as other:
            logged = other.execute("SELECT COUNT(*) FROM entries WHERE kind = 'api_request' AND order_id = ?",
                                   (order_id,)).fetchone()[0]
        with self.lock:
            self.seen[order_id] = logged == 1 and order_id not in self.seen
        return Response(jsonutil.dumps({"session_id": uuid.uuid4().hex}), status_code=201,
                        media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/login", self.login, methods=["POST"]),
                                 Route("/v1/payment-sessions", self.create, methods=["POST"])])


@pytest.fixture
def witness(app_env: Path) -> Iterator[tuple[Witness, str]]:
    api = Witness(app_env / "ops.db")
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(api.app()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        yield api, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def test_every_request_is_committed_before_the_api_receives_it(witness: tuple[Witness, str], console: SessionsService,
                                                               configure_environment: ConfigureEnvironment) -> None:
    api, base = witness
    configure_environment("acquired-test", api_base=base)
    the_suite = suite(ROWS * 3)
    run_id = runner.start_run(console, env_name="acquired-test", who=QA, suite=the_suite, concurrency=8)
    assert runner.wait(run_id, 30)
    assert api.seen == {case.payload["transaction"]["order_id"]: True for case in the_suite.cases}
    cases = RunStore(console.db_path)._db().conn.execute("SELECT result FROM qa_cases WHERE run_id = ?", (run_id,))
    assert {r for (r,) in cases} == {"as_expected"} and console.log.in_flight() == [] and console.log.verify().ok


def test_a_runs_writes_are_committed_several_cases_at_a_time(console: SessionsService,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    commit_each = CallLog.commit_each

    def counted(self: CallLog, writes: list[Callable[[Database], Any]], *, durable: bool) -> list[Settled[Any]]:
        batches.append(len(writes))
        return commit_each(self, writes, durable=durable)

    monkeypatch.setattr(CallLog, "commit_each", counted)
    the_suite = suite(ROWS * 4)  # 64 cases: 128 entries, 64 case rows
    run_id = runner.start_run(console, env_name="sandbox", who=QA, suite=the_suite, concurrency=8)
    assert runner.wait(run_id, 30)
    assert sum(batches) == 2 * len(the_suite.cases)  # a request, and an answer with its case row
    # A commit waits until half the tasks wait on the log, each with its next request queued.
    assert len(batches) <= len(the_suite.cases) / 2, batches
    assert console.log.verify().ok and console.log.in_flight() == []


def test_a_token_the_api_refuses_is_replaced_and_every_case_sent_again_once(console: SessionsService,
                                                                             sandbox: SandboxServer) -> None:
    client = console.client("sandbox", QA.operator)
    TOKENS.put(client._token_key, "expired-elsewhere", 3600)  # what the API no longer takes
    the_suite = suite(ROWS)
    run_id = runner.start_run(console, env_name="sandbox", who=QA, suite=the_suite, concurrency=4)
    assert runner.wait(run_id, 30)
    entries = [console.log.entry(seq) for seq in range(1, console.log.count() + 1)]
    refused = [e for e in entries if e and e["http_status"] == 401]
    assert refused and all(e["endpoint"] == "/v1/payment-sessions" for e in refused)
    assert any(e and e["endpoint"] == "/v1/login" and e["http_status"] == 200 for e in entries)
    for case in the_suite.cases:
        assert len(sessions_for(sandbox, case.payload["transaction"]["order_id"])) == 1
    rows = RunStore(console.db_path)._db().conn.execute("SELECT result FROM qa_cases WHERE run_id = ?", (run_id,))
    assert sorted(r for (r,) in rows) == ["as_expected"] * len(the_suite.cases)
    assert console.log.in_flight() == []


class _CannotKeepCase(RunStore):
    """A store whose row for one case cannot be written (as a failing disk would do it)."""

    def __init__(self, db_path: Path, index: int) -> None:
        super().__init__(db_path)
        self.index = index

    def case_write(self, run_id: str, result: CaseResult) -> Callable[[Database], None]:
        if result.index != self.index:
            return super().case_write(run_id, result)

        def write(_db: Database) -> None:
            raise sqlite3.OperationalError("disk I/O error")
        return write


def test_a_failed_run_leaves_no_request_it_wrote_ahead_without_a_result(console: SessionsService,
                                                                       sandbox: SandboxServer) -> None:
    the_suite = suite(ROWS)
    store = _CannotKeepCase(console.db_path, index=3)
    run_id = runner.start_run(console, env_name="sandbox", who=QA, suite=the_suite, concurrency=2, store=store)
    assert runner.wait(run_id, 30)
    run = RunStore(console.db_path)._db().conn.execute(
        "SELECT status, error, done FROM qa_runs WHERE run_id = ?", (run_id,)).fetchone()
    assert run[0] == "failed" and "disk I/O error" in run[1] and run[2] < len(the_suite.cases)
    # The case whose answer could not be kept is open ("no answer recorded": the truth); every
    # other request has its result, and one written ahead of its turn says it was never sent.
    open_orders = [e["order_id"] for e in console.log.in_flight()]
    assert open_orders == ["qa-0003"]
    entries = [e for e in (console.log.entry(s) for s in range(1, console.log.count() + 1)) if e]
    unsent = [e for e in entries if e["kind"] == "api_result" and e["detail"].get("sent") is False]
    assert unsent and all("the run stopped before this case" in e["detail"]["error"] for e in unsent)
    for entry in unsent:
        assert sessions_for(sandbox, entry["order_id"]) == []  # never sent, so nothing at the API
    assert console.log.verify().ok
