"""The one way tests (and benches) find a free port on 127.0.0.1: bound by the OS, then released."""
from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on right now (also what a test wants for "a refused connection")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
