"""The console's server answers without waiting for delayed ACKs (lib.common.tcp)."""
from __future__ import annotations

import asyncio
import socket

from lib.common.tcp import nodelay_on_accepted_connections


def nodelay_of_an_accepted_connection(listener: socket.socket) -> int:
    """TCP_NODELAY as asyncio leaves it on a connection accepted from ``listener``."""
    seen: list[int] = []

    async def run() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        while not seen:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    return seen[0]


def plain_listener() -> socket.socket:
    """A listening socket made the way Streamlit 1.67 makes its own: no protocol named."""
    sock = socket.socket(family=socket.AF_INET)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    assert sock.proto == 0
    return sock


def test_connections_accepted_on_a_plain_socket_get_nodelay() -> None:
    nodelay_on_accepted_connections()
    nodelay_on_accepted_connections()  # idempotent
    assert nodelay_of_an_accepted_connection(plain_listener()) == 1
