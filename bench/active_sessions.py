"""How long one tick of the Active sessions grid takes with 1,000 live sessions (a script, not a test).

    .venv/bin/python bench/active_sessions.py                  # 1,000 active + 200 expired
    .venv/bin/python bench/active_sessions.py --active 5000    # more

Fills a temporary database through the registry's own writers (each session a ``record_created``
inside ``CallLog.append(..., then=...)``, as the client does), then prints the median of several
runs of: the registry query, the row formatting, the fragment's whole lib call
(``SessionsService.active_table``), the grid's Arrow serialisation (what ``st.dataframe`` sends), and an
AppTest run of the whole page (frame + grid + expired table). Target: one fragment run < 100 ms.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lib.calllog.log import CallLog  # noqa: E402
from lib.payments.service import PaymentsService  # noqa: E402
from lib.sessions import registry  # noqa: E402
from lib.sessions import rows as session_rows  # noqa: E402
from lib.sessions.service import SessionsService  # noqa: E402
from tests.net import free_port  # noqa: E402

TARGET_MS = 100.0
OPERATORS = ("ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com")


def fill(db_path: Path, active: int, expired: int) -> None:
    """``active`` sessions spread over the last 9.5 minutes and ``expired`` over the last hour."""
    log = CallLog(db_path)
    now = datetime.now(UTC)
    spans = [(i, now - timedelta(seconds=570 * i / max(active, 1))) for i in range(active)]
    spans += [(active + i, now - timedelta(minutes=11) - timedelta(seconds=2900 * i / max(expired, 1)))
              for i in range(expired)]
    for i, sent_at in spans:
        order = f"ord-{i:05d}"
        params = {"transaction": {"order_id": order, "amount": Decimal(f"{10 + i % 500}.{i % 100:02d}"),
                                  "currency": ("gbp", "eur", "usd", "jpy")[i % 4] if i % 4 != 3 else "gbp"}}
        operator = OPERATORS[i % len(OPERATORS)]
        tags = ["qa-run:bench"] if i % 10 == 0 else []

        def record(db: Any, seq: int, sid: str = str(uuid.uuid4()), sent: datetime = sent_at,
                   p: dict[str, Any] = params, op: str = operator, t: list[str] = tags, o: str = order) -> None:
            registry.record_created(db, session_id=sid, environment="sandbox", order_id=o, operator=op, sent_at=sent,
                                    ttl_seconds=600, params=p, tags=t, entry_seq=seq)

        log.append("api_result", operator=operator, environment="sandbox", method="POST",
                   endpoint="/v1/payment-sessions", path="/v1/payment-sessions", order_id=order, outcome="ok",
                   http_status=201, then=record)


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(median, max) milliseconds over ``runs`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--active", type=int, default=1000)
    parser.add_argument("--expired", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-active-"))
    db_path = tmp / "ops.db"
    started = time.perf_counter()
    fill(db_path, args.active, args.expired)
    print(f"filled {args.active} active + {args.expired} expired sessions in {time.perf_counter() - started:.1f} s "
          f"({db_path})")

    console = SessionsService(sandbox_base_url="http://127.0.0.1:9", db_path=db_path)
    now = console.clock()
    sessions = console.active("sandbox", include_qa=True)
    import pandas as pd
    import pyarrow as pa
    rows = session_rows.active_rows(sessions, now)
    payments = PaymentsService(console)
    ids = [x.session_id for x in sessions]
    results: list[tuple[str, float, float]] = [
        ("registry query (Registry.active, decoded rows)", *median_ms(lambda: console.registry.active("sandbox", now), args.runs)),
        ("row formatting (session_rows.active_rows)", *median_ms(lambda: session_rows.active_rows(sessions, now), args.runs)),
        ("fragment lib call (SessionsService.active_table, everyone + QA)",
         *median_ms(lambda: console.active_table("sandbox", include_qa=True), args.runs)),
        ("fragment lib call (SessionsService.active_table, mine, no QA)",
         *median_ms(lambda: console.active_table("sandbox", operator=OPERATORS[0]), args.runs)),
        ("payment statuses of the grid (PaymentsService.active_statuses, one query)",
         *median_ms(lambda: payments.active_statuses(ids), args.runs)),
        ("grid → Arrow (what st.dataframe serialises)",
         *median_ms(lambda: pa.Table.from_pandas(pd.DataFrame(rows)), args.runs)),
    ]

    os.environ.update({"OPS_DB_PATH": str(db_path), "OPS_SECRETS_PATH": str(tmp / "secrets.toml"),
                       "OPS_OPERATOR": OPERATORS[0], "SANDBOX_PORT": str(free_port()),
                       "SANDBOX_DB_PATH": str(tmp / "sandbox.db")})
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/active_sessions.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    shown = len(at.dataframe[0].value)
    results.append((f"AppTest run of the whole page ({shown} rows in the grid)",
                    *median_ms(lambda: at.run(), max(args.runs // 3, 3))))

    width = max(len(name) for name, *_ in results)
    print(f"\n{'what':<{width}}  median ms  max ms")
    for name, med, worst in results:
        print(f"{name:<{width}}  {med:9.1f}  {worst:6.1f}")
    fragment = results[2][1] + results[4][1] + results[5][1]
    verdict = "OK" if fragment < TARGET_MS else "OVER"
    print(f"\none fragment run ≈ lib calls (sessions, payments) + serialisation = {fragment:.1f} ms (target < {TARGET_MS:.0f} ms): {verdict}")
    return 0 if fragment < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
