"""Sending calls asynchronously (aiohttp): many requests in flight from one thread.

Why: a QA run sends hundreds of calls, several at once. Through ``requests`` each costs ~0.4 ms of
CPU and a thread of its own, and threads waiting on one another cost context switches; aiohttp
keeps them all in one event loop at ~0.13 ms a call (bench/qa_run.py). What a call logs and
raises is the same either way (:mod:`lib.api.exchange`); this module only carries it, with the
blocking client's settings: the environment's timeouts, proxy and CA bundle, no retries of its own.
"""
from __future__ import annotations

import functools
import ssl
import time
from types import TracebackType

import aiohttp
import requests

from lib import settings
from lib.api.exchange import Call, Reply
from lib.settings import Environment


class Unanswered(Exception):
    """No answer came back (``cause`` says why); ``never_connected``: nothing reached the API."""

    def __init__(self, cause: BaseException, *, never_connected: bool, elapsed_ms: float) -> None:
        super().__init__(str(cause))
        self.cause, self.never_connected, self.elapsed_ms = cause, never_connected, elapsed_ms


def _tls() -> ssl.SSLContext:
    """The CA bundle the blocking client trusts (``settings.ca_bundle``; requests' own by default)."""
    bundle = settings.ca_bundle()
    return _context(bundle if isinstance(bundle, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH)


@functools.cache
def _context(cafile: str) -> ssl.SSLContext:
    """One context per bundle for the process: loading a bundle costs ~16 ms of CPU, a run's start."""
    return ssl.create_default_context(cafile=cafile)


def _proxy(api_base: str) -> str | None:
    """The proxy the environment variables name for ``api_base``, as the blocking client reads them."""
    proxies = requests.utils.get_environ_proxies(api_base)
    return proxies.get(api_base.split(":", 1)[0].lower()) or proxies.get("all")


class AsyncHttp:
    """One environment's pooled connections (at most ``connections`` open), used inside one event loop."""

    def __init__(self, env: Environment, connections: int) -> None:
        self.env = env
        self._connections = connections
        self._proxy = _proxy(env.api_base)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncHttp:
        connector = aiohttp.TCPConnector(limit=self._connections, ssl=_tls())
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.env.connect_timeout,
                                        sock_read=self.env.read_timeout)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, call: Call) -> tuple[Reply, float]:
        """The answer to ``call`` and the milliseconds it took; :class:`Unanswered` when none came."""
        assert self._session is not None, "send inside `async with`"
        started = time.perf_counter()
        try:
            async with self._session.request(call.method, call.url, data=call.data, headers=call.headers,
                                             proxy=self._proxy) as response:
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # A connection never made (refused, unresolvable, TLS or connect timeout) sent nothing.
            never = isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
            raise Unanswered(exc, never_connected=never, elapsed_ms=(time.perf_counter() - started) * 1000) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Reply(response.status, response.reason or "", dict(response.headers), content), elapsed_ms
