"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: ``oidc-provider-mock``
(Authlib's OpenID Connect server behind a one-field login form: type a ``sub``, press Authorize).

Each user's ID-token claims are set per test through the provider's own ``PUT /users/{sub}``,
so an unverified e-mail or a token without one is a real token from a real provider, signed
with its key and checked by Streamlit's Authlib client. Started in a thread, stopped by the test.

The package accepts any ``prompt``; some providers refuse ``select_account`` (Streamlit's
default). ``Provider.refused_prompts`` makes it answer such an authorization request as they do:
back to the client's ``redirect_uri`` with ``error=invalid_request`` (OpenID Connect Core 3.1.2.6).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import requests
import werkzeug.serving

from tests.net import free_port


@dataclass
class Provider:
    url: str  # also the issuer of its ID tokens
    refused_prompts: set[str] = field(default_factory=set)  # prompt values answered with invalid_request

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_user(self, sub: str, claims: Mapping[str, object]) -> None:
        """The claims the provider puts in ``sub``'s ID token (those of the scopes asked for)."""
        answer = requests.put(f"{self.url}/users/{quote(sub, safe='')}", json=dict(claims), timeout=5)
        assert answer.status_code == 204, answer.text


def _refusing(app: Callable[..., Iterable[bytes]], refused: Callable[[], set[str]]) -> Callable[..., Iterable[bytes]]:
    """WSGI: an authorization request whose ``prompt`` is refused goes back with the provider's error."""
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if environ.get("PATH_INFO") == "/oauth2/authorize" and query.get("prompt") in refused():
            error = {"error": "invalid_request", "error_description": f"unsupported prompt value {query['prompt']}",
                     "state": query.get("state", "")}
            start_response("302 Found", [("Location", f"{query['redirect_uri']}?{urlencode(error)}")])
            return [b""]
        return app(environ, start_response)
    return wsgi


@contextmanager
def oidc_provider(users: Mapping[str, Mapping[str, object]] | None = None) -> Iterator[Provider]:
    """The provider on a free 127.0.0.1 port with ``users`` (sub → claims); any client id is accepted."""
    import oidc_provider_mock

    # Plain http on loopback: the provider's Authlib server otherwise insists on https.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    port = free_port()
    provider = Provider(f"http://127.0.0.1:{port}")
    app = _refusing(oidc_provider_mock.app(), lambda: provider.refused_prompts)
    server = werkzeug.serving.make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="oidc-provider")
    thread.start()
    try:
        for sub, claims in (users or {}).items():
            provider.set_user(sub, claims)
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
