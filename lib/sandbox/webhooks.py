"""The sandbox's webhooks (docs/contract.md, "Payments"; the API notes' §9): built, signed, delivered.

Each payment outcome is POSTed to the session's ``webhook_url`` as compact JSON
``{"webhook_type": "status_update", "webhook_id", "timestamp", "webhook_body": {"transaction_id",
"status", "order_id"}}`` with the headers ``Company-Id``, ``Mid``, ``Webhook-Version: 2`` and
``Hash``: the lower-case hex HMAC-SHA256 of the raw body keyed with the sandbox's ``app_key``.

Every delivery is a row of ``webhook_deliveries`` before it is sent (durable across restarts and
readable at ``GET /sandbox/webhooks``), then a worker thread sends what is due: only an HTTP 200
counts; anything else (another status, a refused connection, a time-out) is tried again every
``retry_seconds`` (default 300) until ``give_up_seconds`` (default 1500) after it was made, when
it is dropped. Tests shorten both to fractions of a second.

Fault switches (``WebhookFaults``; env ``SANDBOX_WEBHOOK_FAULTS``, or ``PUT /sandbox/webhook-faults``
at run time) change the deliveries made while they are on:
``missing`` records the delivery as ``dropped`` and never sends it; ``late=<seconds>`` holds the
first attempt back; ``twice`` sends the same webhook (same ``webhook_id``) again after the first
200; ``wrong-hash`` signs with a key that is not the ``app_key``.

Callers and the worker read time from ``clock`` (injectable); nothing proves a delivery did not
happen by waiting: its row says ``dropped`` with a note saying why.
"""
from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import requests

from lib.common.jsonutil import dumps
from lib.common.timefmt import utc_now, utc_text
from lib.sandbox.payments import COMPANY_ID, MID
from lib.sandbox.store import SandboxStore
from lib.storage import db as dbmod

WEBHOOK_VERSION = "2"
PENDING, SENDING, DELIVERED, DROPPED = "pending", "sending", "delivered", "dropped"
MISSING_NOTE = "fault missing: never sent"
GAVE_UP_NOTE = "no 200 before the retry window closed"
IDLE_WAIT_S = 1.0  # the longest the worker sleeps without looking (a restart's leftovers, a clock jump)


@dataclass(frozen=True)
class WebhookFaults:
    """Fault switches for the deliveries made while they are on (see the module's docstring)."""

    missing: bool = False
    late_seconds: float = 0.0
    twice: bool = False
    wrong_hash: bool = False

    @classmethod
    def parse(cls, text: str) -> WebhookFaults:
        """``missing,late=2.5,twice,wrong-hash`` (any subset; empty = none); ValueError names what is not understood."""
        faults = cls()
        for item in (part.strip() for part in text.split(",") if part.strip()):
            name, sep, value = (s.strip() for s in item.partition("="))
            if item == "missing":
                faults = replace(faults, missing=True)
            elif item == "twice":
                faults = replace(faults, twice=True)
            elif item == "wrong-hash":
                faults = replace(faults, wrong_hash=True)
            elif name == "late" and sep and _seconds(value) is not None:
                faults = replace(faults, late_seconds=_seconds(value) or 0.0)
            else:
                raise ValueError(f"unknown webhook fault {item!r}, must be one of [missing, late=<seconds>, twice, "
                                 "wrong-hash]")
        return faults

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> WebhookFaults:
        """The ``PUT /sandbox/webhook-faults`` body; ValueError names the member that is wrong."""
        for name in ("missing", "twice", "wrong_hash"):
            if not isinstance(body.get(name, False), bool):
                raise ValueError(f"{name} must be a boolean")
        late = body.get("late_seconds", 0)
        if isinstance(late, bool) or _seconds(str(late)) is None:
            raise ValueError("late_seconds must be a number of seconds, zero or more")
        unknown = sorted(set(body) - {"missing", "late_seconds", "twice", "wrong_hash"})
        if unknown:
            raise ValueError(f"{unknown[0]} is not a webhook fault")
        return cls(bool(body.get("missing", False)), float(late), bool(body.get("twice", False)),
                   bool(body.get("wrong_hash", False)))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WebhookSettings:
    """The delivery schedule (seconds) and the fault switches a sandbox starts with."""

    retry_seconds: float = 300.0
    give_up_seconds: float = 1500.0
    timeout_seconds: float = 10.0
    faults: WebhookFaults = field(default_factory=WebhookFaults)


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < 86_400 else None


def webhook_body(webhook_id: str, transaction_id: str, status: str, order_id: str, now: datetime) -> bytes:
    """The ``status_update`` body as the compact JSON bytes that are sent and signed."""
    return dumps({"webhook_type": "status_update", "webhook_id": webhook_id, "timestamp": int(now.timestamp()),
                  "webhook_body": {"transaction_id": transaction_id, "status": status, "order_id": order_id}}
                 ).encode("utf-8")


def sign(body: bytes, app_key: str) -> str:
    """The ``Hash`` header: lower-case hex HMAC-SHA256 of the raw body keyed with ``app_key``."""
    return hmac.new(app_key.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Webhooks:
    """Records deliveries and sends them from one worker thread (started on the first delivery)."""

    def __init__(self, store: SandboxStore, app_key: str, settings: WebhookSettings | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.app_key = app_key
        self.settings = settings or WebhookSettings()
        self.faults = self.settings.faults
        self.clock = clock
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # Recording ----------------------------------------------------------------------------

    def send(self, url: str, transaction_id: str, status: str, order_id: str, now: datetime) -> str:
        """Record one webhook for delivery under the fault switches now on; returns the delivery id."""
        faults = self.faults
        webhook_id = str(uuid.uuid4())
        body = webhook_body(webhook_id, transaction_id, status, order_id, now)
        key = f"not-{self.app_key}" if faults.wrong_hash else self.app_key
        row = {
            "delivery_id": str(uuid.uuid4()), "webhook_id": webhook_id, "transaction_id": transaction_id,
            "url": url, "body": body.decode("utf-8"), "hash": sign(body, key),
            "state": DROPPED if faults.missing else PENDING, "copies": 2 if faults.twice else 1,
            "note": MISSING_NOTE if faults.missing else None, "created": utc_text(now),
            "next_at": utc_text(now + timedelta(seconds=faults.late_seconds)),
            "give_up_at": utc_text(now + timedelta(seconds=faults.late_seconds + self.settings.give_up_seconds)),
        }
        with dbmod.immediate(self.store.db) as db:
            db.table("webhook_deliveries").insert(row)
        if not faults.missing:
            self._start()
            self._wake.set()
        return str(row["delivery_id"])

    def deliveries(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Delivery records, oldest first (all, or one transaction's)."""
        where, args = ("WHERE transaction_id = ?", [transaction_id]) if transaction_id else ("", [])
        cursor = self.store.db.execute(f"SELECT * FROM webhook_deliveries {where} ORDER BY created, rowid", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def resume(self) -> None:
        """Start the worker if deliveries are waiting (a sandbox restarted on its old file)."""
        if self.store.db.execute("SELECT 1 FROM webhook_deliveries WHERE state IN (?, ?) LIMIT 1",
                                 [PENDING, SENDING]).fetchone():
            with dbmod.immediate(self.store.db) as db:  # a send cut short by the last stop is tried again
                db.execute("UPDATE webhook_deliveries SET state = ? WHERE state = ?", [PENDING, SENDING])
            self._start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # Delivering ---------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            with requests.Session() as http:
                while not self._stopped.is_set():
                    self._wake.clear()
                    for row in self._claim_due(self.clock()):
                        self._attempt(http, row)
                    self._wake.wait(self._idle_wait(self.clock()))
        finally:
            dbmod.close_thread_connections()

    def _claim_due(self, now: datetime) -> list[dict[str, Any]]:
        with dbmod.immediate(self.store.db) as db:
            cursor = db.execute("SELECT * FROM webhook_deliveries WHERE state = ? AND next_at <= ? ORDER BY next_at",
                                [PENDING, utc_text(now)])
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            for row in rows:
                db.execute("UPDATE webhook_deliveries SET state = ? WHERE delivery_id = ?", [SENDING, row["delivery_id"]])
        return rows

    def _idle_wait(self, now: datetime) -> float:
        (next_at,) = self.store.db.execute("SELECT min(next_at) FROM webhook_deliveries WHERE state = ?",
                                           [PENDING]).fetchone()
        if next_at is None:
            return IDLE_WAIT_S
        return min(IDLE_WAIT_S, max(0.0, (datetime.fromisoformat(next_at) - now).total_seconds()))

    def _attempt(self, http: requests.Session, row: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", "Company-Id": COMPANY_ID, "Mid": MID,
                   "Webhook-Version": WEBHOOK_VERSION, "Hash": row["hash"]}
        status, error, sent = None, None, 0
        for _ in range(int(row["copies"])):
            try:
                reply = http.post(row["url"], data=row["body"].encode("utf-8"), headers=headers,
                                  timeout=self.settings.timeout_seconds, allow_redirects=False)
                status, error = reply.status_code, None
            except requests.RequestException as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"[:300]
            sent += 1
            if status != 200:
                break
        now = self.clock()
        changes: dict[str, Any] = {"attempts": int(row["attempts"]) + sent, "last_status": status, "last_error": error}
        if status == 200:
            changes |= {"state": DELIVERED, "delivered_at": utc_text(now)}
        else:
            retry_at = now + timedelta(seconds=self.settings.retry_seconds)
            if utc_text(retry_at) > row["give_up_at"]:
                changes |= {"state": DROPPED, "note": GAVE_UP_NOTE}
            else:
                changes |= {"state": PENDING, "next_at": utc_text(retry_at)}
        with dbmod.immediate(self.store.db) as db:
            db.table("webhook_deliveries").update(row["delivery_id"], changes)

