"""TCP_NODELAY on the console server's connections, which Streamlit 1.67 leaves off.

asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on sockets whose ``proto`` says TCP;
Streamlit's server binds its listening socket as ``socket.socket(family)`` (``proto`` 0), so every
connection it accepts keeps Nagle on. An answer written in two parts (headers, then body) then
waits for the client's delayed ACK: ~40 ms on every request, measured at 44 ms for
``/_stcore/health`` and for the webhook route alike, which capped webhook deliveries at
~20 a second per sender. The sandbox binds its own sockets with ``IPPROTO_TCP`` and needs none of
this (``lib.sandbox.runtime.bind_socket``).
"""
from __future__ import annotations

import socket
from asyncio import base_events
from collections.abc import Callable

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _set_nodelay(sock: socket.socket) -> None:
    """asyncio's own rule, widened to stream sockets made without naming the protocol."""
    if sock.family in _TCP_FAMILIES and sock.type == socket.SOCK_STREAM and sock.proto in (0, socket.IPPROTO_TCP):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def nodelay_on_accepted_connections() -> None:
    """Make asyncio set ``TCP_NODELAY`` on every TCP connection of this process (idempotent).

    It replaces the private helper asyncio's selector transports call for each new connection:
    the one place the rule lives. Called by the server process before it accepts connections.
    """
    current: Callable[[socket.socket], None] = getattr(base_events, "_set_nodelay")  # noqa: B009 - private
    if current is not _set_nodelay:
        setattr(base_events, "_set_nodelay", _set_nodelay)  # noqa: B010 - private
