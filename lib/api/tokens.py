"""Login tokens kept per environment until shortly before they expire (docs/contract.md,
"Environments and sign-in"): one cache per process, shared by every tab, unless a client is handed its own."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Token:
    value: str
    valid_until: float  # on the cache's ``seconds`` clock


TokenKey = tuple[str, str, str]  # environment name, API base, app id


class TokenCache:
    """Tokens by environment, each until shortly before it expires; safe from any thread.

    ``seconds`` is the clock validity is counted on (``time.monotonic``: a wall-clock jump neither
    keeps a dead token nor drops a live one); a test passes its own to expire a token without waiting.
    """

    def __init__(self, seconds: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, _Token] = {}

    def get(self, key: TokenKey) -> str | None:
        """The token for ``key`` while it is still valid, else None."""
        with self._lock:
            token = self._tokens.get(key)
        return token.value if token and token.valid_until > self.seconds() else None

    def put(self, key: TokenKey, value: str, expires_in: float) -> None:
        """Keep ``value`` for ``expires_in`` seconds less a margin (10%, at most a minute)."""
        margin = min(60.0, expires_in * 0.1)
        with self._lock:
            self._tokens[key] = _Token(value, self.seconds() + expires_in - margin)

    def forget(self, key: TokenKey) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        """Forget every token (a new process, as far as tokens go)."""
        with self._lock:
            self._tokens.clear()


# The process's tokens, shared by every tab and every client that is not handed its own.
TOKENS = TokenCache()
