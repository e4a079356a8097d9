"""``python -m lib.sandbox [--host 127.0.0.1] [--port 8765] [--db data/sandbox.db]``: the sandbox
in the foreground (Ctrl-C stops it). Settings other than these come from ``SANDBOX_*``."""
from __future__ import annotations

import argparse
import sys

import uvicorn

from lib import settings
from lib.sandbox.app import create_app
from lib.sandbox.runtime import app_kwargs_from_env, bind_socket, port_from_env, uvicorn_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lib.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port_from_env(), help="default SANDBOX_PORT or 8765")
    parser.add_argument("--db", default=str(settings.sandbox_db_path()), help="default SANDBOX_DB_PATH or data/sandbox.db")
    args = parser.parse_args(argv)
    app = create_app(args.db, **app_kwargs_from_env())
    print(f"Acquired sandbox on http://{args.host}:{args.port} (db {args.db})", file=sys.stderr)
    uvicorn.Server(uvicorn_config(app)).run(sockets=[bind_socket(args.host, args.port)])


if __name__ == "__main__":
    main()
