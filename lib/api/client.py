"""The Acquired payment-sessions API client: every HTTP attempt is logged before it is sent.

Rules (docs/contract.md, "Environments and sign-in" and "Refusals"):
- one pooled ``requests.Session`` and one cached token per environment, shared by every tab;
- a timeout (connect, read) on every call;
- after a 401 the client logs in again and retries that call once;
- a connection that was never made may be retried; a request that was sent and got no answer
  is never resent: for a create or update it is an :class:`UnknownOutcome`;
- any 2xx is success; unknown response fields are ignored.
"""
from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from sqlite_utils import Database
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from lib import settings
from lib.api.errors import ApiError, Unauthorized
from lib.api.exchange import NOTHING_SENT, Call, Ending, OnSuccess, Reply, Then, text_member
from lib.api.tokens import TOKENS, TokenCache, TokenKey
from lib.calllog.failures import CallLogUnavailable
from lib.calllog.interface import CallLogStore
from lib.calllog.log import CallLog
from lib.common import jsonutil
from lib.common.timefmt import utc_now
from lib.fields.schema import TransactionFacts
from lib.fields.validation import InvalidRequest, Problem, SessionRequest, SessionUpdate, merge
from lib.settings import Environment

LOGIN = "/v1/login"
SESSIONS = "/v1/payment-sessions"
SESSION = "/v1/payment-sessions/{session_id}"
CONNECT_RETRIES = 2
CONNECT_BACKOFF_S = (0.1, 0.4)
POOL_SIZE = 16
# A session id goes into a URL path: the API's ids (UUIDs) fit this, and nothing that could change
# the path's shape ("/", "..", "%", "?", "#", white space) does.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
BAD_SESSION_ID = "session_id format is invalid, must be 1-128 letters, digits, _ or -, starting with a letter or digit"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Created:
    """A session the API created. ``expires_at`` counts from when the request was sent."""

    session_id: str
    sent_at: datetime
    expires_at: datetime
    entry_seq: int
    attempt_id: str


@dataclass(frozen=True)
class Updated:
    session_id: str
    params: dict[str, Any]
    entry_seq: int
    attempt_id: str


_pool_lock = threading.Lock()
_sessions: dict[str, requests.Session] = {}


def _http_session(api_base: str) -> requests.Session:
    """The one pooled HTTP session of an environment (keyed by its API base)."""
    with _pool_lock:
        session = _sessions.get(api_base)
        if session is None:
            session = requests.Session()
            # Proxy and CA settings are read from the environment once here, not on every request
            # (requests re-reads them per call when trust_env is on: ~0.2 ms each).
            session.proxies = requests.utils.get_environ_proxies(api_base)
            session.verify = settings.ca_bundle()
            session.trust_env = False
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[api_base] = session
        return session


def session_path(session_id: str) -> str:
    """The PUT path of a session, its id checked and quoted before anything is logged or sent.

    Without the check ``update_session("x/../../../sandbox/info")`` sent an authenticated PUT to
    another resource; quoting alone would not stop ``..``. Raises :class:`InvalidRequest`.
    """
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise InvalidRequest([Problem(parameter="session_id", reason=BAD_SESSION_ID)])
    return SESSION.replace("{session_id}", quote(session_id, safe=""))


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the TCP connection was never made, so nothing reached the API."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args and isinstance(exc.args[0], MaxRetryError):
        return isinstance(exc.args[0].reason, (NewConnectionError, ConnectTimeoutError))
    return False


def _concerns(body: Any, session_id: str | None) -> dict[str, Any]:
    """Session id / order id / amount / currency a call is about, read tolerantly from any body."""
    facts = TransactionFacts.of(body)
    return {"session_id": session_id, "order_id": facts.order_id,
            "amount": None if facts.amount is None else str(facts.amount), "currency": facts.currency}


@contextmanager
def _consequence(text: str) -> Iterator[None]:
    """Tell a ``CallLogUnavailable`` what it meant for this call (sent or not, answered or not)."""
    try:
        yield
    except CallLogUnavailable as exc:
        exc.consequence = text
        raise


def _seconds(value: Any, default: float = 3600.0) -> float:
    """``expires_in`` as a sane number of seconds: missing, malformed or absurd values fall back."""
    try:
        seconds = float(value)
    except (TypeError, ValueError, ArithmeticError):
        return default
    return seconds if 0 < seconds <= 86_400 * 366 else default


class Transport(Protocol):
    """What sends the HTTP requests: a ``requests.Session`` (the environment's pooled one by
    default); a test hands the client one that wraps it (to die after sending, or to alter an answer)."""

    def request(self, method: str, url: str, *, data: bytes | None, headers: dict[str, str],
                timeout: tuple[float, float]) -> requests.Response: ...


class Recorder(Protocol):
    """What a caller keeps of the sessions the API creates and updates, written inside the same
    transaction as the log entry of the answer: both are committed together or neither is.

    The client sends and logs; what is remembered of a session is its caller's business (the
    sessions service records them in its registry)."""

    def created(self, db: Database, *, seq: int, session_id: str, environment: str, operator: str,
                sent_at: datetime, ttl_seconds: int, body: Mapping[str, Any], tags: Sequence[str]) -> None: ...

    def updated(self, db: Database, *, seq: int, session_id: str, operator: str, at: datetime,
                patch: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record an accepted update; the session's parameters now (None if it is not known here)."""

    def uncertain(self, db: Database, *, session_id: str) -> None:
        """An update got no answer: the session's amount is in doubt."""


class Client:
    """Calls one environment as one operator, logging every attempt to the call log."""

    def __init__(self, env: Environment, *, operator: str, log: CallLogStore | None = None,
                 tags: Sequence[str] = (), headers: Mapping[str, str] | None = None,
                 clock: Clock = utc_now, recorder: Recorder | None = None, tokens: TokenCache = TOKENS,
                 http: Transport | None = None, backoff: Callable[[float], None] = time.sleep) -> None:
        """``headers`` go on every request (e.g. the sandbox's ``X-Sandbox-Fault`` in QA runs);
        ``recorder`` keeps the sessions created and updated (nothing is kept without one);
        ``tokens`` is where login tokens are kept (by default the process's ``TOKENS``); ``http``
        sends the requests (by default the environment's pooled session; also settable as ``.http``);
        ``backoff`` waits between attempts at a connection that was never made (``CONNECT_BACKOFF_S``)."""
        self.env = env
        self.operator = operator
        self.log: CallLogStore = log or CallLog()
        self.tags = tuple(tags)
        self.extra_headers = dict(headers or {})
        self.clock = clock
        self.recorder = recorder
        self.tokens = tokens
        self.backoff = backoff
        self.http: Transport = http or _http_session(env.api_base)
        self._token_key: TokenKey = (env.name, env.api_base, env.credentials.app_id)

    # --- public calls -------------------------------------------------------------------------
    def login(self) -> str:
        """Log in and cache the token until shortly before it expires."""
        creds = self.env.credentials
        body = {"app_id": creds.app_id, "app_key": creds.app_key}
        ending, _seq, _attempt = self._send(self._prepare("POST", LOGIN, LOGIN, body, auth=False, idempotent=True))
        assert ending.answer is not None and ending.reply is not None  # an answered success
        token = text_member(ending.answer.members, "access_token")
        if not token:
            raise ApiError("login answered without an access_token", status=ending.reply.status,
                           body=ending.answer.recorded)
        self.tokens.put(self._token_key, token, _seconds(ending.answer.members.get("expires_in")))
        return str(token)

    def creation(self, payload: SessionRequest | Mapping[str, Any], *, tags: Sequence[str] = ()) -> Creation:
        """A create call's session, to be filled in by the answer's transaction (``create_session``
        and the QA runner's pipeline send it). A :class:`SessionRequest` was pre-checked; a raw dict
        goes out as it is."""
        body = payload.body if isinstance(payload, SessionRequest) else dict(payload)
        return Creation(self, body, self.clock(), tuple(tags))

    def create_session(self, payload: SessionRequest | Mapping[str, Any], *, tags: Sequence[str] = ()) -> Created:
        """POST a session. A :class:`SessionRequest` was pre-checked; a raw dict goes out as it is."""
        creation = self.creation(payload, tags=tags)
        ending, seq, attempt = self._call(lambda: self.creation_call(creation))
        return creation.created(ending, seq, attempt)

    def creation_call(self, creation: Creation) -> Call:
        """The POST of ``creation`` (logging in first when no token is cached)."""
        return self._prepare("POST", SESSIONS, SESSIONS, creation.body, tags=creation.extra_tags,
                             on_success=creation.record)

    def update_session(self, session_id: str, patch: SessionUpdate | Mapping[str, Any], *,
                       current: Mapping[str, Any] | None = None, tags: Sequence[str] = ()) -> Updated:
        """PUT changes to a session. The recorder gets them in the result's transaction, merged
        there into the latest version it holds (another update may have landed meanwhile); an
        unknown outcome tells it the amount is uncertain, in the same transaction.

        ``current`` is the session's parameters as the caller knows them: what the log entry
        says the call is about (its order, amount, currency once merged with the patch).
        """
        path = session_path(session_id)
        body = patch.patch if isinstance(patch, SessionUpdate) else dict(patch)
        merged = merge(current, body) if current is not None else dict(body)

        def record(db: Database, seq: int, _members: Mapping[str, Any]) -> None:
            nonlocal merged
            if self.recorder is not None:
                merged = self.recorder.updated(db, seq=seq, session_id=session_id, operator=self.operator,
                                               at=self.clock(), patch=body) or merged

        def uncertain(db: Database, _seq: int) -> None:
            if self.recorder is not None:
                self.recorder.uncertain(db, session_id=session_id)

        _ending, seq, attempt = self._call(lambda: self._prepare(
            "PUT", SESSION, path, body, session_id=session_id, concerns_body=merged, tags=tags,
            on_success=record, on_unknown=uncertain,
        ))
        return Updated(session_id, merged, seq, attempt)

    # --- plumbing ----------------------------------------------------------------------------
    def _token(self) -> str:
        return self.tokens.get(self._token_key) or self.login()

    def has_token(self) -> bool:
        """Whether a login token is cached (a call made now would not log in first)."""
        return self.tokens.get(self._token_key) is not None

    def forget_token(self) -> None:
        """Drop the cached token (the API answered 401): the next call logs in again."""
        self.tokens.forget(self._token_key)

    def _call(self, prepare: Callable[[], Call]) -> tuple[Ending, int, str]:
        """An authenticated call: on a 401, log in again and try once more (``prepare`` builds the
        call, its headers with the token of the moment)."""
        for retry_after_login in (False, True):
            try:
                return self._send(prepare())
            except Unauthorized:
                if retry_after_login:
                    raise
                self.forget_token()
        raise AssertionError("unreachable")

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.extra_headers}
        if auth:
            headers["Authorization"] = f"Bearer {self._token()}"
            if self.env.credentials.company_id:
                headers["Company-Id"] = self.env.credentials.company_id
            if self.env.credentials.mid:
                headers["Mid"] = self.env.credentials.mid
        return headers

    def _prepare(self, method: str, endpoint: str, path: str, body: Any, *, auth: bool = True,
                 idempotent: bool = False, session_id: str | None = None, concerns_body: Any = None,
                 tags: Sequence[str] = (), on_success: OnSuccess | None = None,
                 on_unknown: Then | None = None) -> Call:
        """The call as every attempt sends and logs it (``idempotent``: a GET or a login)."""
        return Call(
            method=method, path=path, url=self.env.api_base + path.removeprefix("/v1"), headers=self._headers(auth),
            body=body, data=None if body is None else jsonutil.dumps(body).encode(),  # a GET sends none
            idempotent=idempotent, on_success=on_success, on_unknown=on_unknown,
            common={"operator": self.operator, "environment": self.env.name, "tags": self.tags + tuple(tags),
                    "method": method, "endpoint": endpoint, "path": path,
                    **_concerns(concerns_body if concerns_body is not None else body, session_id)},
        )

    def _send(self, call: Call) -> tuple[Ending, int, str]:
        """One call's attempts, each logged, retrying only connections that were never made:
        the successful ending, its entry's seq and its attempt id."""
        for attempt_no in range(CONNECT_RETRIES + 1):
            attempt = uuid.uuid4().hex
            with _consequence(NOTHING_SENT):
                self.log.append(**call.request_entry(attempt))
            started = time.perf_counter()
            try:
                response = self.http.request(call.method, call.url, data=call.data, headers=call.headers,
                                             timeout=(self.env.connect_timeout, self.env.read_timeout))
            except requests.RequestException as exc:
                ending = call.unanswered(attempt, exc, never_connected=_never_connected(exc),
                                         elapsed_ms=(time.perf_counter() - started) * 1000)
            else:
                ending = call.answered(attempt, Reply(response.status_code, response.reason, response.headers,
                                                      response.content),
                                       elapsed_ms=(time.perf_counter() - started) * 1000)
            with _consequence(ending.consequence):
                seq = self.log.append(**ending.entry)
            if ending.error is None:
                return ending, seq, attempt
            if ending.never_connected and attempt_no < CONNECT_RETRIES:
                self.backoff(CONNECT_BACKOFF_S[attempt_no])
                continue
            raise ending.failure(seq)
        raise AssertionError("unreachable")


class Creation:
    """A session being created: what the POST carries, and the id its answer's transaction found
    (the recorder keeps the session in that same transaction)."""

    def __init__(self, client: Client, body: dict[str, Any], sent_at: datetime, extra_tags: tuple[str, ...]) -> None:
        """``extra_tags``: this call's, beside the client's own."""
        self.client, self.body, self.sent_at, self.extra_tags = client, body, sent_at, extra_tags
        self.session_id: str | None = None

    def record(self, db: Database, seq: int, members: Mapping[str, Any]) -> None:
        """``on_success`` of the POST: the answer's session id, kept by the client's recorder."""
        session_id = text_member(members, "session_id")
        if not session_id:
            return
        self.session_id = session_id
        client = self.client
        if client.recorder is not None:
            client.recorder.created(db, seq=seq, session_id=session_id, environment=client.env.name,
                                    operator=client.operator, sent_at=self.sent_at,
                                    ttl_seconds=client.env.session_ttl_seconds, body=self.body,
                                    tags=client.tags + self.extra_tags)

    def created(self, ending: Ending, seq: int, attempt: str) -> Created:
        """The session the accepted POST made; an ApiError when its answer named none."""
        if self.session_id is None:
            raise ApiError("the API accepted the session but sent no session_id",
                           status=None if ending.reply is None else ending.reply.status,
                           body=None if ending.answer is None else ending.answer.recorded, attempt_id=attempt,
                           entry_seq=seq)
        ttl = timedelta(seconds=self.client.env.session_ttl_seconds)
        return Created(self.session_id, self.sent_at, self.sent_at + ttl, seq, attempt)
