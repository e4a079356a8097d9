"""A local stand-in for Acquired's payment-sessions API (docs/contract.md says what it follows).

It answers exactly what the contract marks [ours], keeps sessions, versions and tokens in its
own SQLite file, serves the payment-link page and can inject faults, so the console and its
tests run with no network and no credentials. Never imports Streamlit.

Environment (read by ``python -m lib.sandbox`` and :func:`ensure_sandbox`, not by ``create_app``):
``SANDBOX_APP_ID`` / ``SANDBOX_APP_KEY`` (``sandbox``), ``SANDBOX_TOKEN_TTL_SECONDS`` (3600),
``SANDBOX_SESSION_TTL_SECONDS`` (600), ``SANDBOX_PORT`` (8765), ``SANDBOX_DB_PATH``
(``data/sandbox.db``), ``SANDBOX_UPDATE_EXTENDS=1`` (a PUT restarts the session's lifetime;
by default it keeps the original expiry: docs/contract.md, "Sessions"), ``SANDBOX_TDS_TIMEOUT_SECONDS``
(300), ``SANDBOX_WEBHOOK_RETRY_SECONDS`` (300), ``SANDBOX_WEBHOOK_GIVE_UP_SECONDS`` (1500),
``SANDBOX_WEBHOOK_TIMEOUT_SECONDS`` (10), ``SANDBOX_WEBHOOK_FAULTS`` (``missing,late=<s>,twice,wrong-hash``).

Besides the ``/v1`` API it serves, without auth, read-only views for tests, the console and the
checkout page: ``GET /sandbox/info``, ``GET /sandbox/sessions/{id}`` and
``GET /sandbox/sessions?order_id=X`` (settles an unknown outcome: the caller knows its order id,
never the session id), ``GET /sandbox/webhooks`` (delivery records) and ``GET/PUT
/sandbox/webhook-faults``, and the payment-link pages ``/checkout/{id}`` (card form, 3-D Secure
challenge, result). Payments: ``GET /v1/transactions[/{id}]`` and ``POST
/v1/transactions/{id}/capture|void|refund|reversal`` (docs/contract.md, "Payments").
"""
from lib.sandbox.app import VERSION, create_app
from lib.sandbox.runtime import ExternalSandbox, SandboxServer, ensure_sandbox, serve_in_thread

__all__ = ["VERSION", "ExternalSandbox", "SandboxServer", "create_app", "ensure_sandbox", "serve_in_thread"]
