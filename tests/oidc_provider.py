"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: ``oidc-provider-mock``
(Authlib's OpenID Connect server behind a one-field login form: type a ``sub``, press Authorize).

Each user's ID-token claims are set per test through the provider's own ``PUT /users/{sub}``,
so an unverified e-mail or a token without one is a real token from a real provider, signed
with its key and checked by Streamlit's Authlib client. Started in a thread, stopped by the test.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import requests
import werkzeug.serving

from tests.net import free_port


@dataclass(frozen=True)
class Provider:
    url: str  # also the issuer of its ID tokens

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_user(self, sub: str, claims: Mapping[str, object]) -> None:
        """The claims the provider puts in ``sub``'s ID token (those of the scopes asked for)."""
        answer = requests.put(f"{self.url}/users/{quote(sub, safe='')}", json=dict(claims), timeout=5)
        assert answer.status_code == 204, answer.text


@contextmanager
def oidc_provider(users: Mapping[str, Mapping[str, object]] | None = None) -> Iterator[Provider]:
    """The provider on a free 127.0.0.1 port with ``users`` (sub → claims); any client id is accepted."""
    import oidc_provider_mock

    # Plain http on loopback: the provider's Authlib server otherwise insists on https.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    server = werkzeug.serving.make_server("127.0.0.1", free_port(), oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="oidc-provider")
    thread.start()
    try:
        provider = Provider(f"http://127.0.0.1:{server.server_port}")
        for sub, claims in (users or {}).items():
            provider.set_user(sub, claims)
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
